"""Every file of the hostile-feeds corpus, served on 127.0.0.1, through Fetcher + parse_feed.

The 596 upstream feedparser files run in this process; the adversarial payloads run in a
subprocess so its peak memory (and that of its reaped parse workers) can be measured.
Parse workers refuse file and socket access and report any attempt as "io-refused".
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.monitor.hostile_corpus import adversarial_cases, run_cases, upstream_cases

REPO = Path(__file__).parents[2]
PEAK_RSS_LIMIT_MIB = 300
UNSAFE = re.compile(
    r"<\s*(?:script|iframe|object|embed|applet)|\bon[a-z]+\s*=|javascript:|vbscript:"
    r"|(?<![a-z])data:",
    re.IGNORECASE,
)
UPSTREAM = upstream_cases()
ADVERSARIAL = adversarial_cases()
# What the corpus README asks of each adversarial file: a set of acceptable (outcome, reason).
EXPECTED = {
    "billion_laughs.xml": {("parse-error", "entity-declaration")},
    "billion_laughs_oneline.xml": {("parse-error", "entity-declaration")},
    "quadratic_blowup.xml": {("parse-error", "entity-declaration")},
    "xxe_file_passwd.xml": {("parse-error", "entity-declaration")},
    "xxe_file_passwd_oneline.xml": {("parse-error", "entity-declaration")},
    "xxe_external_dtd_parameter_entity.xml": {("parse-error", "entity-declaration")},
    "gzip_bomb_100MiB.rss.gz": {("fetch-error", "too-large")},
    "gzip_bomb_isize_declares_50MiB.rss.gz": {("fetch-error", "too-large")},
    "rss_100k_items.xml.gz": {("fetch-error", "too-large")},
    "title_10MiB.xml.gz": {("fetch-error", "too-large")},
    "description_10MiB_html.xml.gz": {("fetch-error", "too-large")},
    "deep_nesting_100k.xml": {("parse-error", "too-deep"), ("ok", None)},
    "deep_nesting_100k_html.xml.gz": {("parse-error", "too-deep"), ("ok", None)},
    "invalid_utf8.xml": {("ok", None)},
    "arabic_windows1256_declared.xml": {("ok", None)},
    "arabic_windows1256_undeclared.xml": {("ok", None)},
    "html_page_not_feed.html": {("parse-error", "not-a-feed")},
    "empty_body.xml": {("parse-error", "empty")},
    "jsonfeed.json": {("ok", None)},
    "odd_dates.xml": {("ok", None)},
    "javascript_links.xml": {("ok", None)},
    "body_is_local_path.txt": {("parse-error", "not-a-feed")},
    "body_is_dev_zero_path.txt": {("parse-error", "not-a-feed")},
}
KNOWN_REASONS = {
    "empty", "not-a-feed", "malformed", "entity-declaration", "too-deep", "bad-encoding",
    "too-large", "parse-timeout",
}  # fmt: skip


@pytest.fixture(scope="module")
def upstream() -> dict[str, dict[str, Any]]:
    outcomes = asyncio.run(run_cases(UPSTREAM))
    return {o["name"]: o for o in outcomes}


@pytest.fixture(scope="module")
def adversarial() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.monitor.hostile_corpus", "adversarial"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    report["by_name"] = {o["name"].removeprefix("adversarial/"): o for o in report["outcomes"]}
    return report


def stored_strings(outcome: dict[str, Any]) -> list[str]:
    strings = [outcome.get("title") or "", *outcome.get("warnings", [])]
    for item in outcome.get("items", []):
        strings += [item[k] or "" for k in ("guid", "url", "title", "summary", "author", "lang")]
    return strings


def check_safe(outcome: dict[str, Any]) -> None:
    assert outcome["outcome"] != "crash", outcome
    if outcome["outcome"] != "ok":
        assert outcome["reason"] in KNOWN_REASONS, outcome
        return
    for text in stored_strings(outcome):
        text.encode("utf-8")  # valid Unicode: no lone surrogates
        assert not UNSAFE.search(text), (outcome["name"], text[:300])
        assert "root:x:0:0" not in text
    for item in outcome["items"]:
        assert item["url"] is None or re.match(r"https?://", item["url"]), item["url"]
        if item["published"] is not None:
            assert item["tz"] == "UTC"
            assert 1990 <= int(item["published"][:4]) <= 2100


@pytest.mark.parametrize("name", [c.name for c in UPSTREAM])
def test_upstream_file(upstream: dict[str, dict[str, Any]], name: str) -> None:
    check_safe(upstream[name])


def test_upstream_corpus_is_mostly_usable(upstream: dict[str, dict[str, Any]]) -> None:
    assert len(upstream) == 596
    ok = [o for o in upstream.values() if o["outcome"] == "ok"]
    assert len(ok) > 500  # bozo is a warning, not a failure
    assert not [o for o in upstream.values() if o.get("reason") == "io-refused"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adversarial_file(adversarial: dict[str, Any], name: str) -> None:
    outcome = adversarial["by_name"][name]
    check_safe(outcome)
    assert (outcome["outcome"], outcome.get("reason")) in EXPECTED[name]


def test_manifest_and_expectations_agree() -> None:
    assert sorted(c.name.removeprefix("adversarial/") for c in ADVERSARIAL) == sorted(EXPECTED)


def test_adversarial_content(adversarial: dict[str, Any]) -> None:
    by_name = adversarial["by_name"]
    declared = by_name["arabic_windows1256_declared.xml"]
    assert declared["items"][0]["title"] == "عاجل: انخفاض أسعار النفط"
    assert not declared["warnings"]
    assert by_name["arabic_windows1256_undeclared.xml"]["warnings"]
    assert by_name["invalid_utf8.xml"]["warnings"]
    json_items = by_name["jsonfeed.json"]["items"]
    assert len(json_items) == 3 and json_items[0]["url"] == "https://example.invalid/1"
    links = by_name["javascript_links.xml"]["items"]
    assert links and all(item["url"] is None for item in links)


def test_adversarial_run_peak_memory(adversarial: dict[str, Any]) -> None:
    peaks = {
        "runner": adversarial["maxrss_self_kib"],
        "parse workers": adversarial["maxrss_children_kib"],
    }
    print(f"peak RSS KiB: {peaks}; adversarial run took {adversarial['seconds']} s")
    assert max(peaks.values()) <= PEAK_RSS_LIMIT_MIB * 1024, peaks
