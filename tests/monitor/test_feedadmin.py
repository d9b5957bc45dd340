"""Feed management: OPML in and out, discovery from an HTML page, `rasd feeds …`."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.discover import discover_feeds
from monitor.opml import OpmlFeed, parse_opml, render_opml
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[2]
RSS = (ROOT / "monitor" / "demo_data" / "feeds" / "revue-fr.xml").read_bytes()

OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head><body>
  <outline text="Sahel">
    <outline text="RFI Afrique" type="rss" xmlUrl="https://www.rfi.fr/fr/afrique/rss"/>
    <outline text="Evil" type="rss" xmlUrl="javascript:alert(1)"/>
  </outline>
  <outline text="France 24 &amp; co" type="rss" xmlUrl="https://www.france24.com/ar/rss"
           language="ar"/>
</body></opml>"""


def test_parse_opml_keeps_http_feeds_with_folder_tags() -> None:
    assert parse_opml(OPML) == [
        OpmlFeed("https://www.rfi.fr/fr/afrique/rss", "RFI Afrique", None, ("Sahel",)),
        OpmlFeed("https://www.france24.com/ar/rss", "France 24 & co", "ar", ()),
    ]


def test_opml_round_trip_escapes() -> None:
    feeds = [OpmlFeed("https://x.org/a?b=1&c=2", 'Le "Monde" <Afrique>', "fr", ("sahel",))]
    assert parse_opml(render_opml(feeds)) == feeds


@pytest.mark.parametrize(
    "bad", ["<opml><body>", "<rss/>", '<!DOCTYPE x [<!ENTITY a "b">]><opml><body/></opml>']
)
def test_bad_opml_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_opml(bad)


def test_discover_feeds_resolves_relative_links() -> None:
    page = """<html><head><base href="/news/">
      <link rel="alternate" type="application/rss+xml" title="Afrique" href="afrique/rss">
      <link rel="alternate stylesheet" type="text/css" href="x.css">
      <link rel="alternate" type="application/atom+xml" href="javascript:alert(1)">
      <link rel="alternate" type="application/atom+xml" href="https://cdn.example/atom.xml">
    </head></html>"""
    assert discover_feeds(page, "https://example.org/index.html") == [
        ("https://example.org/news/afrique/rss", "Afrique"),
        ("https://cdn.example/atom.xml", None),
    ]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "rasd.yaml"
    path.write_text(f"database: sqlite:///{tmp_path}/rasd.db\nrules_dir: {ROOT / 'rules'}\n")
    return path


def test_feeds_add_discovers_import_and_export(
    config: Path, tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_url = feed_server.add("/rss.xml", RSS)
    page = feed_server.add(
        "/index.html",
        '<html><head><link rel="alternate" type="application/rss+xml" href="/rss.xml">'
        "</head><body>Accueil</body></html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    assert main(["--config", str(config), "feeds", "add", page, "--lang", "fr"]) == 0
    assert f"added: Revue de presse Mali (fr) <{feed_url}>" in capsys.readouterr().out
    assert main(["--config", str(config), "feeds", "add", feed_url]) == 0
    assert "already watched" in capsys.readouterr().out

    opml = tmp_path / "in.opml"
    opml.write_text(OPML, encoding="utf-8")
    assert main(["--config", str(config), "feeds", "import", str(opml)]) == 0
    assert "imported 2 feeds (0 already watched)" in capsys.readouterr().out

    assert main(["--config", str(config), "feeds", "export"]) == 0
    exported = parse_opml(capsys.readouterr().out)
    assert {f.url for f in exported} == {
        feed_url,
        "https://www.rfi.fr/fr/afrique/rss",
        "https://www.france24.com/ar/rss",
    }

    assert main(["--config", str(config), "once", "--json"]) == 0  # cli feeds are polled
    out = capsys.readouterr().out
    assert '"feeds_polled": 3' in out


def test_feeds_add_explains_a_page_without_feed(
    config: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    page = feed_server.add(
        "/plain.html", "<html><body>nothing</body></html>", headers={"Content-Type": "text/html"}
    )
    assert main(["--config", str(config), "feeds", "add", page]) == 1
    assert "advertises no feed" in capsys.readouterr().err
