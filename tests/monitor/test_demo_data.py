"""The demo's bundled feeds, their local server, the demo config and the shipped rasd.yaml."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
import yaml

from monitor.demo import DemoFeed, DemoFeeds, demo_config_yaml, demo_data

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(str(demo_data()))
CORPUS = ROOT.parent / "shared" / "corpus"
DIRECTORY = ROOT.parent / "shared" / "feeds-directory.md"
SEED = "mali-russia-2025-11-11.ar.txt"
MANIFEST: list[dict[str, str]] = yaml.safe_load((DATA / "feeds.yaml").read_text("utf-8"))["feeds"]
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def _parse(file: str) -> Any:
    return feedparser.parse(io.BytesIO((DATA / file).read_bytes()))


def _dev_rows() -> list[dict[str, Any]]:
    lines = (CORPUS / "labelled" / "dev.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# --- the bundled files ---------------------------------------------------------------------


def test_manifest_names_every_feed_file_once() -> None:
    on_disk = {p.relative_to(DATA).as_posix() for p in (DATA / "feeds").rglob("*.xml")}
    listed = [entry["file"] for entry in MANIFEST]
    assert sorted(listed) == sorted(on_disk)
    paths = [entry["path"] for entry in MANIFEST]
    assert len(set(paths)) == len(paths)
    for entry in MANIFEST:
        assert entry["path"].startswith("/demo/")
        assert entry["name"] and entry["lang"] in {"ar", "fr", "en", "ur"}
        assert entry["content_type"] == "application/rss+xml; charset=utf-8"


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["path"])
def test_every_demo_feed_parses_with_entries(entry: dict[str, str]) -> None:
    parsed = _parse(entry["file"])
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert len(parsed.entries) > 0
    assert all(e.get("title") or e.get("description") for e in parsed.entries)


def test_seed_item_carries_the_exact_seed_text() -> None:
    seed = (DATA / "seed" / SEED).read_text("utf-8")
    parsed = _parse("feeds/seed-mali-russia-ar.xml")
    [item] = parsed.entries
    assert item.description == seed
    assert item.title == seed.split("\n", 1)[0]
    assert item.published_parsed[:3] == (2025, 11, 11)
    assert parsed.feed.language == "ar"


@needs_corpus
def test_seed_file_is_a_byte_exact_copy() -> None:
    assert (DATA / "seed" / SEED).read_bytes() == (CORPUS / "seed" / SEED).read_bytes()


@needs_corpus
@pytest.mark.parametrize("lang", ["ar", "fr", "en"])
def test_revue_feed_holds_every_dev_row_of_its_language(lang: str) -> None:
    rows = [row for row in _dev_rows() if row["lang"] == lang]
    items = {e.id: e for e in _parse(f"feeds/revue-{lang}.xml").entries}
    assert sorted(items) == sorted(row["id"] for row in rows)
    for row in rows:
        item = items[row["id"]]
        assert item.get("title", "") == row["title"]
        assert item.get("description", "") == row["text"]
        if row["source"].startswith("http"):
            assert item.link == row["source"].split()[0]
        assert "labels" not in item


@pytest.mark.parametrize("lang", ["ar", "fr", "en"])
def test_revue_dates_are_spread_over_days_in_late_2025(lang: str) -> None:
    stamps = [
        datetime(*e.published_parsed[:6], tzinfo=UTC)
        for e in _parse(f"feeds/revue-{lang}.xml").entries
    ]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == len(stamps)
    assert datetime(2025, 11, 1, tzinfo=UTC) <= min(stamps)
    assert max(stamps) < datetime(2026, 1, 1, tzinfo=UTC)
    if len(stamps) > 20:
        assert (max(stamps) - min(stamps)).days >= 2


@needs_corpus
@pytest.mark.parametrize(
    "file", sorted(p.name for p in (DATA / "feeds" / "real").glob("*.xml")) or ["none"]
)
def test_real_feeds_are_byte_exact_copies(file: str) -> None:
    copy = DATA / "feeds" / "real" / file
    assert copy.read_bytes() == (CORPUS / "real-feeds" / file).read_bytes()
    assert file in (DATA / "PROVENANCE.md").read_text("utf-8")


@needs_corpus
def test_build_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    script = ROOT / "tools" / "build_demo_feeds.py"
    subprocess.run(
        [sys.executable, str(script), "--corpus", str(CORPUS), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert built
    for relative in built:
        assert (tmp_path / relative).read_bytes() == (DATA / relative).read_bytes(), relative


# --- the local server ------------------------------------------------------------------------


def test_server_serves_each_feed_then_304_on_if_none_match() -> None:
    with DemoFeeds() as feeds, httpx.Client(timeout=5) as client:
        assert [f.name for f in feeds] == [e["name"] for e in MANIFEST]
        for feed, entry in zip(feeds, MANIFEST, strict=True):
            assert feed.url.startswith("http://127.0.0.1:")
            assert feed.url.endswith(entry["path"])
            assert feed.lang == entry["lang"]
            first = client.get(feed.url)
            assert first.status_code == 200
            assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
            assert first.content == (DATA / entry["file"]).read_bytes()
            etag = first.headers["etag"]
            again = client.get(feed.url, headers={"If-None-Match": etag})
            assert again.status_code == 304
            assert again.content == b""
            assert again.headers["etag"] == etag
            stale = client.get(feed.url, headers={"If-None-Match": '"not-this-one"'})
            assert stale.status_code == 200


def test_server_answers_404_head_and_stops_on_exit() -> None:
    with DemoFeeds() as feeds, httpx.Client(timeout=5) as client:
        url = feeds[0].url
        base = url.rsplit("/demo/", 1)[0]
        assert client.get(base + "/demo/nope.xml").status_code == 404
        head = client.head(url)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(client.get(url).content)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_two_servers_get_different_ports() -> None:
    with DemoFeeds() as one, DemoFeeds() as two:
        assert one[0].url != two[0].url


# --- the demo config -------------------------------------------------------------------------


def test_demo_config_yaml_is_a_complete_config(tmp_path: Path) -> None:
    feeds = [
        DemoFeed("Revue de presse Mali (fr)", "http://127.0.0.1:1234/demo/revue-fr.xml", "fr"),
        DemoFeed("مالي: مقال", "http://127.0.0.1:1234/demo/seed.xml", "ar"),
    ]
    text = demo_config_yaml(feeds, tmp_path / "data", tmp_path / "rules")
    config = yaml.safe_load(text)
    data = (tmp_path / "data").resolve().as_posix()
    assert config["database"] == f"sqlite:///{data}/rasd.db"
    assert config["rules_dir"] == (tmp_path / "rules").resolve().as_posix()
    assert [(f["url"], f["name"], f["lang"]) for f in config["feeds"]] == [
        (f.url, f.name, f.lang) for f in feeds
    ]
    assert config["channels"] == {
        "file": {"type": "jsonl", "path": f"{data}/alerts.jsonl"},
        "screen": {"type": "console"},
    }
    assert config["routes"] == [{"channels": ["file", "screen"]}]


def test_demo_config_validates_with_the_config_loader(tmp_path: Path) -> None:
    config = pytest.importorskip("monitor.config")
    pytest.importorskip("notifiers.registry")
    with DemoFeeds() as feeds:
        text = demo_config_yaml(feeds, tmp_path, ROOT / "rules")
    settings = config.settings_from_text(text, "demo.yaml", env={})
    assert len(settings.feeds) == len(MANIFEST)


# --- the shipped rasd.yaml ------------------------------------------------------------------

RASD_YAML = (ROOT / "rasd.yaml").read_text("utf-8")
SHIPPED: list[dict[str, Any]] = yaml.safe_load(RASD_YAML)["feeds"]


def _comment_block_above(lines: list[str], index: int) -> list[str]:
    block: list[str] = []
    while index > 0 and lines[index - 1].lstrip().startswith("#"):
        index -= 1
        block.insert(0, lines[index].strip())
    return block


def test_rasd_yaml_has_the_documented_shape() -> None:
    config = yaml.safe_load(RASD_YAML)
    assert config["database"] == "sqlite:///data/rasd.db"
    assert config["rules_dir"] == "rules"
    assert config["channels"]["file"] == {"type": "jsonl", "path": "data/alerts.jsonl"}
    assert config["routes"] == [{"channels": ["file", "screen"]}]


def test_every_shipped_feed_has_url_name_lang_and_a_source_comment() -> None:
    lines = RASD_YAML.splitlines()
    url_lines = [i for i, line in enumerate(lines) if re.match(r"\s+- url: ", line)]
    assert len(url_lines) == len(SHIPPED)
    for index, feed in zip(url_lines, SHIPPED, strict=True):
        assert feed["url"].startswith("https://") and feed["name"] and feed["lang"]
        assert lines[index].split("- url: ", 1)[1] == feed["url"]
        block = _comment_block_above(lines, index)
        assert any(line.startswith("# Source: ") for line in block), feed["url"]
    assert len({f["url"] for f in SHIPPED}) == len(SHIPPED)
    assert len({f["name"] for f in SHIPPED}) == len(SHIPPED)


def test_shipped_feeds_cover_arabic_and_french_outlets() -> None:
    enabled = [f for f in SHIPPED if f.get("enabled", True)]
    assert sum(f["lang"] == "ar" for f in enabled) >= 5
    assert sum(f["lang"] == "fr" for f in enabled) >= 5
    hosts = {f["url"].split("/")[2] for f in enabled}
    assert {"www.rfi.fr", "www.studiotamani.org", "saharamedias.net"} <= hosts


@pytest.mark.parametrize("host", ["www.maliweb.net", "malijet.com", "alakhbar.info"])
def test_feeds_reported_broken_ship_disabled_with_a_reason(host: str) -> None:
    [feed] = [f for f in SHIPPED if f["url"].split("/")[2] == host]
    assert feed["enabled"] is False
    lines = RASD_YAML.splitlines()
    index = lines.index(f"  - url: {feed['url']}")
    assert "broken" in " ".join(_comment_block_above(lines, index))


@pytest.mark.skipif(not DIRECTORY.is_file(), reason="feeds directory not present")
def test_every_shipped_url_is_in_the_feeds_directory() -> None:
    directory = DIRECTORY.read_text("utf-8")
    for feed in SHIPPED:
        assert f"`{feed['url']}`" in directory or feed["url"] in directory, feed["url"]


def test_rasd_yaml_validates_with_the_config_loader() -> None:
    config = pytest.importorskip("monitor.config")
    pytest.importorskip("notifiers.registry")
    settings = config.settings_from_text(RASD_YAML, "rasd.yaml", env={})
    assert len(settings.feeds) == len(SHIPPED)
