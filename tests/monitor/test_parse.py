"""parse_bytes (in process) and parse_feed (worker processes): guards, golden files, dates."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.dates import parse_localized_date
from monitor.domain import FetchResult, ParsedFeed
from monitor.errors import ParseError
from monitor.parse import ParseLimits, parse_bytes, parse_feed
from monitor.workers import ParsePool

FIXTURES = Path(__file__).parents[1] / "fixtures"
GOLDEN = FIXTURES / "feeds"
ADVERSARIAL = FIXTURES / "hostile-feeds" / "adversarial"
URL = "https://example.invalid/feed"
RSS_HEADERS = {"content-type": "application/rss+xml"}
REPO = Path(__file__).parents[2]


def as_json(parsed: ParsedFeed) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    return convert(asdict(parsed))  # type: ignore[no-any-return]


def rss(items: str, channel: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"{channel}{items}</channel></rss>"
    ).encode()


def error_of(body: bytes, headers: dict[str, str] | None = None, **kwargs: Any) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_bytes(body, headers or RSS_HEADERS, URL, **kwargs)
    return caught.value


# -- golden files ------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden(case: str) -> None:
    folder = GOLDEN / case
    body_path = next(p for p in folder.iterdir() if p.name.startswith("feed."))
    headers_path = folder / "headers.json"
    headers = json.loads(headers_path.read_text()) if headers_path.exists() else RSS_HEADERS
    got = as_json(parse_bytes(body_path.read_bytes(), headers, URL))
    expected_path = folder / "expected.json"
    if os.environ.get("RASD_REGEN_GOLDEN"):
        expected_path.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n")
    assert got == json.loads(expected_path.read_text())


# -- guards ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\r\n"])
def test_empty_body(body: bytes) -> None:
    assert error_of(body).reason == "empty"


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE html><html><body><a href="javascript:x()">login</a></body></html>',
        b"<html><head><title>x</title></head></html>",
        b"/etc/passwd",  # must not be opened as a path
        b"/dev/zero",
        b"just some text",
    ],
)
def test_not_a_feed(body: bytes) -> None:
    assert error_of(body, {"content-type": "text/html"}).reason == "not-a-feed"


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss version="2.0"/>',
        b'<?xml version="1.0"?>\n<!DOCTYPE r [\n  <!entity a "x">\n]>\n<rss/>',
        b'<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/x.dtd"> %ext;]><rss/>',
        '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY a "b">]><rss/>'.encode(
            "utf-16"
        ),
        '<!DOCTYPE r [<!ENTITY a "b">]><rss/>'.encode("utf-32-be"),
        '<!DOCTYPE r [<!ENTITY a "b">]><rss/>'.encode("utf-16-le"),  # no BOM
    ],
)
def test_entity_declarations_are_refused_in_any_layout(body: bytes) -> None:
    assert error_of(body).reason == "entity-declaration"


def test_entity_text_inside_the_document_is_not_a_declaration() -> None:
    body = rss(
        "<item><title>XML tutorial</title><description><![CDATA[write <!ENTITY x>]]>"
        "</description></item>"
    )
    assert parse_bytes(body, RSS_HEADERS, URL).items[0].title == "XML tutorial"


def test_external_dtd_without_entities_is_not_fetched() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd">'
        + rss("<item><title>a</title></item>")[38:]
    )
    assert parse_bytes(body, RSS_HEADERS, URL).items[0].title == "a"


def test_bozo_with_entries_is_a_warning() -> None:
    body = rss("<item><title>unclosed &amp; broken</title><link>https://example.invalid/x</link>")
    body = body.replace(b"</channel></rss>", b"")
    parsed = parse_bytes(body, RSS_HEADERS, URL)
    assert parsed.items[0].title == "unclosed & broken"
    assert parsed.warnings


def test_newest_entries_are_kept() -> None:
    days = [(i * 37) % 500 for i in range(500)]  # shuffled, distinct
    items = "".join(
        f"<item><title>n{d}</title><guid>g{d}</guid>"
        f"<pubDate>{(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=d)):%a, %d %b %Y} "
        "10:00:00 GMT</pubDate></item>"
        for d in days
    )
    parsed = parse_bytes(rss(items), RSS_HEADERS, URL, limits=ParseLimits(max_entries=200))
    assert [i.title for i in parsed.items] == [f"n{d}" for d in range(499, 299, -1)]


def test_fields_are_truncated() -> None:
    body = rss(
        f"<item><title>{'مالي ' * 2000}</title><description>{'x ' * 50000}</description></item>"
    )
    item = parse_bytes(body, RSS_HEADERS, URL).items[0]
    assert len(item.title) <= 1000 and item.title.endswith("…")
    assert len(item.summary) <= 8000


def test_guid_fallbacks() -> None:
    body = rss(
        "<item><title>a</title><link>https://example.invalid/a</link></item>"
        "<item><title>b</title><description>no link</description></item>"
        "<item><title>b</title><description>no link</description></item>"
        "<item><title>c</title><guid>javascript:alert(1)</guid></item>"
    )
    a, b1, b2, c = parse_bytes(body, RSS_HEADERS, URL).items
    assert a.guid == "https://example.invalid/a"
    assert b1.guid == b2.guid and b1.guid.startswith("sha256:")
    assert c.guid.startswith("sha256:") and "javascript" not in c.guid


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [("60", 3600.0), ("100000", 86400.0), ("abc", None), ("-5", None), ("0", None)],
)
def test_ttl(ttl: str, expected: float | None) -> None:
    parsed = parse_bytes(rss("", f"<ttl>{ttl}</ttl>"), RSS_HEADERS, URL)
    assert (parsed.ttl.total_seconds() if parsed.ttl else None) == expected


def test_language_from_entry_feed_then_hint() -> None:
    hinted = parse_bytes(rss("<item><title>a</title></item>"), RSS_HEADERS, URL, lang_hint="fr")
    assert hinted.items[0].lang == "fr"
    feed_lang = rss("<item><title>a</title></item>", "<language>ar-ML</language>")
    assert parse_bytes(feed_lang, RSS_HEADERS, URL, lang_hint="fr").items[0].lang == "ar"


def test_windows_1256_undeclared_then_fixed_by_override() -> None:
    body = (ADVERSARIAL / "arabic_windows1256_undeclared.xml").read_bytes()
    broken = parse_bytes(body, RSS_HEADERS, URL)
    assert broken.items[0].title != "عاجل: انخفاض أسعار النفط"
    assert broken.warnings
    fixed = parse_bytes(body, RSS_HEADERS, URL, encoding="windows-1256")
    assert fixed.items[0].title == "عاجل: انخفاض أسعار النفط"
    assert fixed.title == "أخبار اليوم"


def test_override_replaces_a_wrong_declaration() -> None:
    body = (
        '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>'
        "وقود</title></channel></rss>"
    )
    parsed = parse_bytes(body.encode("cp1256"), RSS_HEADERS, URL, encoding="cp1256")
    assert parsed.title == "وقود"


def test_unknown_override_is_an_error() -> None:
    assert error_of(rss(""), encoding="klingon").reason == "bad-encoding"


def test_invalid_utf8_is_text() -> None:
    parsed = parse_bytes((ADVERSARIAL / "invalid_utf8.xml").read_bytes(), RSS_HEADERS, URL)
    for item in parsed.items:
        item.title.encode("utf-8")  # no surrogates left
        item.summary.encode("utf-8")


def test_odd_dates_are_none_or_sane() -> None:
    parsed = parse_bytes((ADVERSARIAL / "odd_dates.xml").read_bytes(), RSS_HEADERS, URL)
    assert len(parsed.items) == 15
    dated = [i.published for i in parsed.items if i.published is not None]
    assert dated and all(1990 <= d.year <= 2100 and d.tzinfo is UTC for d in dated)


def test_json_feed_that_is_not_a_feed() -> None:
    assert error_of(b'{"hello": "world"}', {"content-type": "application/json"}).reason == (
        "not-a-feed"
    )
    assert error_of(b'{"broken": ', {"content-type": "application/json"}).reason == "malformed"


# -- French and Arabic dates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11 novembre 2025", datetime(2025, 11, 11, tzinfo=UTC)),
        ("11 Novembre 2025 à 14h30", datetime(2025, 11, 11, 14, 30, tzinfo=UTC)),
        ("mardi 11 novembre 2025, 14:30", datetime(2025, 11, 11, 14, 30, tzinfo=UTC)),
        ("mar. 11 nov. 2025 14:30:15 +0100", datetime(2025, 11, 11, 13, 30, 15, tzinfo=UTC)),
        ("1er février 2025", datetime(2025, 2, 1, tzinfo=UTC)),
        ("le 3 août 2025", datetime(2025, 8, 3, tzinfo=UTC)),
        ("3 aout 2025 9h", datetime(2025, 8, 3, 9, tzinfo=UTC)),
        ("25 déc. 2025 GMT", datetime(2025, 12, 25, tzinfo=UTC)),
        ("١١ نوفمبر ٢٠٢٥", datetime(2025, 11, 11, tzinfo=UTC)),
        ("11 نوفمبر 2025", datetime(2025, 11, 11, tzinfo=UTC)),
        ("11 نوفمبر 2025 - 14:30", datetime(2025, 11, 11, 14, 30, tzinfo=UTC)),
        ("الثلاثاء، 11 نوفمبر 2025 الساعة 10:05", datetime(2025, 11, 11, 10, 5, tzinfo=UTC)),
        ("٢ أبريل ٢٠٢٥", datetime(2025, 4, 2, tzinfo=UTC)),
        ("2 إبريل 2025", datetime(2025, 4, 2, tzinfo=UTC)),
        ("11 تشرين الثاني 2025 10:00 +0100", datetime(2025, 11, 11, 9, tzinfo=UTC)),
        ("5 آب 2025", datetime(2025, 8, 5, tzinfo=UTC)),
        ("٣ جانفي ٢٠٢٥ ١٨:٤٥", datetime(2025, 1, 3, 18, 45, tzinfo=UTC)),
        ("7 جويلية 2025", datetime(2025, 7, 7, tzinfo=UTC)),
        ("11 نوفمبر 2025 02:30 م", datetime(2025, 11, 11, 14, 30, tzinfo=UTC)),
    ],
)
def test_localized_dates(text: str, expected: datetime) -> None:
    got = parse_localized_date(text)
    assert got is not None
    assert datetime(*got[:6], tzinfo=UTC) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "31 février 2025",
        "11 brumaire 2025",
        "11 novembre",
        "Tue, 11 Nov 2025 10:00:00 GMT",
        "1" * 4000,
        "11 نوفمبر 2025 99:99",
        "11 novembre 2025 +2500",
    ],
)
def test_localized_dates_refuse_garbage(text: str) -> None:
    assert parse_localized_date(text) is None


def test_localized_dates_reach_items_through_feedparser() -> None:
    body = rss(
        "<item><title>a</title><pubDate>١١ نوفمبر ٢٠٢٥</pubDate></item>"
        "<item><title>b</title><pubDate>11 novembre 2025 à 08h15</pubDate></item>"
    )
    b, a = parse_bytes(body, RSS_HEADERS, URL).items  # newest first
    assert (a.title, b.title) == ("a", "b")
    assert a.published == datetime(2025, 11, 11, tzinfo=UTC)
    assert b.published == datetime(2025, 11, 11, 8, 15, tzinfo=UTC)


# -- worker processes --------------------------------------------------------------------


def result_of(body: bytes, headers: dict[str, str] | None = None) -> FetchResult:
    return FetchResult(URL, URL, 200, body, headers or RSS_HEADERS)


def test_parse_feed_matches_parse_bytes() -> None:
    body = (GOLDEN / "french_rss" / "feed.xml").read_bytes()
    assert asyncio.run(parse_feed(result_of(body))) == parse_bytes(body, RSS_HEADERS, URL)


def test_parse_feed_raises_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        asyncio.run(parse_feed(result_of(b"")))
    assert caught.value.reason == "empty"


def test_hung_parse_is_killed_and_the_worker_replaced() -> None:
    slow = rss("<item><title>t</title><description>d</description></item>" * 30_000)  # seconds
    pool = ParsePool(size=1)

    async def main() -> ParsedFeed:
        with pytest.raises(ParseError) as caught:
            await pool.parse(
                slow,
                RSS_HEADERS,
                URL,
                lang_hint=None,
                encoding=None,
                limits=ParseLimits(timeout=timedelta(seconds=0.5)),
            )
        assert caught.value.reason == "parse-timeout"
        return await pool.parse(
            rss("<item><title>ok</title></item>"),
            RSS_HEADERS,
            URL,
            lang_hint=None,
            encoding=None,
            limits=ParseLimits(),
        )

    try:
        assert asyncio.run(main()).items[0].title == "ok"
    finally:
        pool.close()


def test_memory_cap_turns_into_a_parse_error() -> None:
    body = gzip.decompress((ADVERSARIAL / "title_10MiB.xml.gz").read_bytes())
    pool = ParsePool(size=1)
    limits = ParseLimits(memory_bytes=80 * 2**20)
    try:
        with pytest.raises(ParseError) as caught:
            asyncio.run(
                pool.parse(body, RSS_HEADERS, URL, lang_hint=None, encoding=None, limits=limits)
            )
        assert caught.value.reason in {"too-large", "parse-crashed"}
    finally:
        pool.close()


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


def test_io_guard_refuses_files_and_sockets_but_not_imports() -> None:
    done = run_python(
        """
        import socket, io, feedparser
        from monitor.workers import install_io_guard
        refused = install_io_guard()
        import encodings.big5  # a module import still works
        for attempt in (lambda: open("/etc/passwd", "rb"),
                        lambda: socket.create_connection(("127.0.0.1", 9), timeout=1)):
            try:
                attempt()
            except PermissionError:
                pass
            else:
                raise SystemExit("not refused")
        feedparser.parse(b"/etc/passwd")  # the unsafe call the parser never makes
        print(len(refused), "|".join(refused))
        """
    )
    assert done.returncode == 0, done.stderr
    count, events = done.stdout.strip().split(" ", 1)
    assert int(count) >= 3
    assert "/etc/passwd" in events and "socket" in events


def test_xml_backend_is_pinned_to_expat(tmp_path: Path) -> None:
    marker = tmp_path / "libxml2-used"
    (tmp_path / "drv_libxml2.py").write_text(
        f"def create_parser():\n    open({str(marker)!r}, 'w').close()\n"
        "    raise RuntimeError('libxml2 must not be used')\n"
    )
    done = run_python(
        """
        from monitor.parse import parse_bytes
        body = b'<rss version="2.0"><channel><title>t</title><item><title>x</title></item>' \\
               b'</channel></rss>'
        print(parse_bytes(body, {"content-type": "application/rss+xml"}, "http://x/").items[0].title)
        """,
        PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}",
        PY_SAX_PARSER="drv_libxml2",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "x"
    assert not marker.exists()
