"""Golden outcomes of parse_bytes: every Item field, for every bundled feed, stays the same.

The digests in parse_golden.json were recorded from the parser as it was before the speed
work of issue #4 (html.parser for every HTML field, feedparser's own URL joining and date
chain); a change of any field of any item of any case (demo and real feeds, the golden
fixtures, 60 bench-farm feeds, the whole hostile corpus, with default and with small limits)
fails here and names the case. The fast path and the feedparser path are compared with each
other in test_fastparse.py; this file pins both to their earlier output.

Regenerate only for an intended change:
    RASD_REGEN_GOLDEN=1 .venv/bin/pytest tests/monitor/test_parse_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.errors import ParseError
from monitor.parse import ParseLimits, parse_bytes
from tests.monitor.hostile_corpus import adversarial_cases, upstream_cases

REPO = Path(__file__).parents[2]
GOLDEN = Path(__file__).with_name("parse_golden.json")
URL = "https://example.invalid/feed"
RSS = {"content-type": "application/rss+xml"}
FARM = {"content-type": "application/rss+xml; charset=utf-8", "content-encoding": "gzip"}
FARM_FEEDS = 60
SMALL = ParseLimits(max_entries=7, max_title_chars=40, max_summary_chars=120)

sys.path.insert(0, str(REPO / "bench"))
import feedfarm  # noqa: E402


def _cases() -> Iterator[tuple[str, bytes, dict[str, str], bool]]:
    """(name, body, headers, also with small limits)."""
    feeds = REPO / "monitor" / "demo_data" / "feeds"
    for path in sorted(feeds.rglob("*.xml")):
        yield f"demo/{path.relative_to(feeds)}", path.read_bytes(), RSS, True
    for folder in sorted((REPO / "tests" / "fixtures" / "feeds").iterdir()):
        body = next(folder.glob("feed.*")).read_bytes()
        headers_path = folder / "headers.json"
        headers = json.loads(headers_path.read_text()) if headers_path.exists() else RSS
        yield f"golden/{folder.name}", body, headers, True
    for index in range(FARM_FEEDS):
        yield f"farm/{index}", feedfarm.build_feed(index).body, FARM, True
    for case in upstream_cases() + adversarial_cases():
        if not case.name.endswith(".gz"):
            yield case.name, case.body, case.headers, False


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _digest(body: bytes, headers: dict[str, str], **options: Any) -> str:
    try:
        outcome: Any = _plain(asdict(parse_bytes(body, headers, URL, **options)))
    except ParseError as exc:
        outcome = f"ParseError: {exc.reason}"
    text = json.dumps(outcome, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def outcomes() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, body, headers, small in _cases():
        found[name] = _digest(body, headers)
        if small:
            found[f"{name} (lang_hint=ar, small limits)"] = _digest(
                body, headers, lang_hint="ar", limits=SMALL
            )
    return found


def test_parse_outcomes_match_the_golden_digests() -> None:
    got = outcomes()
    if os.environ.get("RASD_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=0, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert len(expected) > 700
    changed = sorted(
        name for name in expected.keys() | got.keys() if expected.get(name) != got.get(name)
    )
    assert not changed, f"{len(changed)} outcomes changed: {changed[:20]}"
