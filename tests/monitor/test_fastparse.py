"""Differential tests: parse_bytes with the fast path gives exactly what feedparser gives.

Every demo feed, golden feed, 50 bench-farm feeds and every hostile-corpus file (except the
gzip payloads, which never reach the parser) is parsed with monitor.parse.FAST_PATH on and
off; the outcomes (ParsedFeed or ParseError reason) must be equal. Some cases must actually
take the fast path, so the comparison cannot pass vacuously.
"""

from __future__ import annotations

import html
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser.datetimes
import feedparser.urls
import pytest
from feedparser.sanitizer import _HTMLSanitizer
from hypothesis import given, settings
from hypothesis import strategies as st

import monitor.dates as dates
import monitor.fastparse as fastparse
import monitor.parse as parse_module
import monitor.sanitize as sanitize
from monitor.domain import ParsedFeed
from monitor.errors import ParseError
from monitor.fastparse import feedparser_like
from monitor.sanitize import SIMPLE_HTML, SIMPLE_TAGS, html_to_text
from tests.monitor.hostile_corpus import adversarial_cases, upstream_cases

REPO = Path(__file__).parents[2]
URL = "https://example.invalid/feed"
RSS = {"content-type": "application/rss+xml"}
FARM = {"content-type": "application/rss+xml; charset=utf-8"}

sys.path.insert(0, str(REPO / "bench"))
import feedfarm  # noqa: E402


def _cases() -> Iterator[tuple[str, bytes, dict[str, str]]]:
    for path in sorted((REPO / "monitor" / "demo_data" / "feeds").rglob("*.xml")):
        yield f"demo/{path.name}", path.read_bytes(), RSS
    for folder in sorted((REPO / "tests" / "fixtures" / "feeds").iterdir()):
        body = next(folder.glob("feed.*")).read_bytes()
        headers_path = folder / "headers.json"
        headers = json.loads(headers_path.read_text()) if headers_path.exists() else RSS
        yield f"golden/{folder.name}", body, headers
    for index in range(50):
        yield f"farm/{index}", feedfarm.build_feed(index).body, FARM
    for case in upstream_cases() + adversarial_cases():
        if not case.name.endswith(".gz"):
            yield case.name, case.body, case.headers


CASES = list(_cases())


def _outcome(body: bytes, headers: dict[str, str], fast: bool) -> ParsedFeed | str:
    saved = parse_module.FAST_PATH
    parse_module.FAST_PATH = fast
    try:
        return parse_module.parse_bytes(body, headers, URL)
    except ParseError as exc:
        return f"ParseError: {exc.reason}"
    finally:
        parse_module.FAST_PATH = saved


def _takes_fast_path(body: bytes, headers: dict[str, str]) -> bool:
    lower = {key.lower(): value for key, value in headers.items()}
    lower["content-location"] = URL
    return feedparser_like(body, lower) is not None


@pytest.mark.parametrize(("name", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_equals_feedparser(name: str, body: bytes, headers: dict[str, str]) -> None:
    assert _outcome(body, headers, fast=True) == _outcome(body, headers, fast=False)


def test_the_common_shapes_take_the_fast_path() -> None:
    taken = {name for name, body, headers in CASES if _takes_fast_path(body, headers)}
    farm = {f"farm/{i}" for i in range(50) if feedfarm.kind_of(i) in ("normal", "slow")}
    assert farm <= taken
    assert {"golden/arabic_rss", "golden/french_rss", "demo/revue-ar.xml"} <= taken
    assert len(taken) > 200


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("rss 0.91", b'<rss version="0.91"><channel><title>t</title></channel></rss>'),
        ("rdf", b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'),
        ("xml:base", b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://a/"/>'),
        (
            "xhtml content",
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml">'
            b'<div xmlns="http://www.w3.org/1999/xhtml">x</div></content></entry></feed>',
        ),
        (
            "two titles",
            b'<rss version="2.0"><channel><item><title>a</title><title>b</title></item>'
            b"</channel></rss>",
        ),
        (
            "media:title",
            b'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><item>'
            b"<media:title>m</media:title></item></channel></rss>",
        ),
        ("not well-formed", b'<rss version="2.0"><channel><item></channel></rss>'),
        (
            "doctype",
            b'<!DOCTYPE rss SYSTEM "x.dtd"><rss version="2.0"><channel/></rss>',
        ),
    ],
)
def test_unusual_documents_are_declined(name: str, body: bytes) -> None:
    assert not _takes_fast_path(body, RSS)


def test_simple_tags_are_kept_by_feedparsers_sanitizer() -> None:
    tags = SIMPLE_TAGS.replace("h[1-6]", "h1|h2|h3|h4|h5|h6").split("|")
    assert set(tags) <= _HTMLSanitizer.acceptable_elements
    assert not set(tags) & sanitize._DROP_CONTENT  # html_to_text keeps their content


@pytest.mark.parametrize(
    "html",
    [
        '<p class="x">Bamako &amp; Gao&nbsp;: l&#8217;armée</p><br/><img src="/a.jpg" alt="">',
        "<div><a href='rel/x?a=1&b=2'>lien</a> &#x27;cité&#x27; &lt;b&gt;</div><p/>",
        "<ul><li>un</li><li>deux<br></li></ul><h2>Titre</h2><blockquote>q</blockquote>",
    ],
)
def test_simple_html_reads_the_same_after_feedparsers_processing(html: str) -> None:
    from feedparser.sanitizer import _sanitize_html
    from feedparser.urls import resolve_relative_uris

    assert SIMPLE_HTML.fullmatch(html)
    processed = _sanitize_html(
        resolve_relative_uris(html, URL, "utf-8", "text/html"), "utf-8", "text/html"
    )
    for single_line in (True, False):
        assert html_to_text(processed, single_line=single_line) == html_to_text(
            html, single_line=single_line
        )


@pytest.mark.parametrize(
    "html",
    [
        "<iframe>hidden</iframe>",
        "<p onclick='x'>a</p><script>b</script>",
        "a < b",
        "&copy 2025",
        "&#150;",
        "<!-- c --><p>x</p>",
    ],
)
def test_other_html_is_not_simple(html: str) -> None:
    assert not SIMPLE_HTML.fullmatch(html)


# -- sanitize's fast paths against the implementations they replace ------------------------
# The references below are monitor/sanitize.py's clean_text and html_to_text as they were
# before the regex shortcuts (html.parser for every fragment, a regex tried at every position
# for spaces and newlines); the fast versions must agree with them on any input.

_REF_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_REF_NEWLINES = re.compile(r"\s*\n\s*")


def _reference_clean_text(text: str, max_chars: int | None, single_line: bool) -> str:
    if max_chars is not None and len(text) > 4 * max_chars + 1024:
        text = text[: 4 * max_chars + 1024]
    text = sanitize._UNSAFE_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _REF_SPACES.sub(" ", text)
    text = " ".join(text.split()) if single_line else _REF_NEWLINES.sub("\n", text).strip()
    return sanitize.truncate(text, max_chars)


def _reference_html_to_text(html: str, max_chars: int | None, single_line: bool) -> str:
    collector = sanitize._TextCollector(None if max_chars is None else 2 * max_chars + 256)
    for start in range(0, len(html), sanitize._CHUNK_CHARS):
        collector.feed(html[start : start + sanitize._CHUNK_CHARS])
        if collector.full:
            break
    else:
        collector.close()
    text = "".join(collector.parts)
    return _reference_clean_text(text, max_chars, single_line)


# Whitespace of every kind (ASCII, Unicode spaces, line separators, controls that are
# whitespace to str.split), unsafe characters, markup characters, Arabic and French letters.
_ODD = " \t\n\r\f\v\x0b\x1c\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
_TEXT_CHARS = _ODD + "\x00\x07\x7f\x9f\u202b\u2066\ufdd0\ufffe<>&;#/=\"'aé مالي"
_texts = (
    st.text(alphabet=st.sampled_from(_TEXT_CHARS), max_size=60)
    | st.text(alphabet=" \naé م", max_size=30)
    | st.text(max_size=40)
)
_TAG_NAMES = ["p", "P", "br", "div", "a", "b", "img", "h2", "li", "ul", "span", "Strong",
              "script", "style", "iframe", "title", "pre", "td", "xmp", "bdi", "pa"]  # fmt: skip
_WHITESPACE = st.sampled_from([" ", "\n", "\t", "\r", "\f", "\x0b", "\xa0", "\u2028", "\x1c", ""])


_ENTITIES = st.sampled_from(
    ["&amp;", "&lt;", "&NBSP;", "&quot;", "&#8217;", "&#0;", "&#x27;", "&#150;", "&#1234567;",
     "&#xD800;", "&copy;", "&amp", "&#38"]
)  # fmt: skip


@st.composite
def _html(draw: st.DrawFn) -> str:
    """Fragments close to SIMPLE_HTML: tags with attributes, entities, text, and slips."""
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["text", "open", "close", "self", "entity", "raw"]))
        if kind == "text":
            parts.append(draw(_texts))
        elif kind == "entity":
            parts.append(draw(_ENTITIES))
        elif kind == "raw":
            parts.append(draw(st.sampled_from(["<", "<!-- c -->", "</>", "<!x>", "&", "<?p?>"])))
        else:
            name = draw(st.sampled_from(_TAG_NAMES))
            attrs = "".join(
                draw(_WHITESPACE)
                + draw(st.sampled_from(["class", "href", "data-x", "alt", "a:b"]))
                + draw(st.sampled_from(["", "=", " = "]))
                + draw(st.sampled_from(['"x"', "'y>z'", '"a&amp;b"', "v", '""']))
                for _ in range(draw(st.integers(0, 2)))
            )
            end = draw(_WHITESPACE) + ("/>" if kind == "self" else ">")
            parts.append(f"{'</' if kind == 'close' else '<'}{name}{attrs}{end}")
    return "".join(parts)


_LIMITS = st.sampled_from([None, 1, 5, 40, 1000, 8000])


@settings(max_examples=600, deadline=None)
@given(text=_texts, max_chars=_LIMITS, single_line=st.booleans())
def test_clean_text_equals_the_reference(
    text: str, max_chars: int | None, single_line: bool
) -> None:
    got = sanitize.clean_text(text, max_chars=max_chars, single_line=single_line)
    assert got == _reference_clean_text(text, max_chars, single_line)


@settings(max_examples=800, deadline=None)
@given(html=_html(), max_chars=_LIMITS, single_line=st.booleans())
def test_html_to_text_equals_the_reference(
    html: str, max_chars: int | None, single_line: bool
) -> None:
    got = sanitize.html_to_text(html, max_chars=max_chars, single_line=single_line)
    assert got == _reference_html_to_text(html, max_chars, single_line)


_REFERENCES = st.sampled_from(
    ["&amp;", "&AMP;", "&amp", "&ampxyz;", "&notit;", "&notin;", "&not", "&#39;", "&#039;",
     "&#x27;", "&#X27", "&#0;", "&#128;", "&#150;", "&#xD800;", "&#1234567;", "&#38", "&#;",
     "&#x;", "&;", "& ", "&&", "&nbsp;", "&hellip;", "&" + "a" * 40 + ";", "&eacute", "&zz;"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(parts=st.lists(_REFERENCES | _texts, max_size=10))
def test_fast_unescape_equals_html_unescape(parts: list[str]) -> None:
    text = "".join(parts)
    assert sanitize.fast_unescape(text) == html.unescape(text)
    assert sanitize.fast_unescape(text) == html.unescape(text)  # from the memo this time


def test_fast_unescape_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sanitize, "_MAX_CHARREFS", 8)
    references = [f"&#{n};" for n in range(65, 90)]
    assert sanitize.fast_unescape("".join(references)) == html.unescape("".join(references))
    assert len(sanitize._charrefs) <= 8


_SIMPLE_PIECES = st.sampled_from(
    ['<p class="x">', "</p>", "<BR/>", "<br />", "<a\nhref='y?a=1&amp;b=2'>", "</a >", "<h2>",
     "</h2>", "<img src=\"/i.jpg\" alt>", "<ul>", "<li>", "</li>", "<Strong>", "</strong>",
     "<div\tdata-x='1'>", "</div>", "&amp;", "&lt;b&gt;", "&nbsp;", "&#8217;", "&#x27;", "&#0;",
     "&#123456;", "&#160;", " ", "\n", "\r\n", "  ", "\xa0", "\u2028", "Bamako", "مالي", "é",
     "<table border='0'>", "<tr>", "<td valign='middle'>", "</td>", "</tr>", "</table>", "<th>",
     "<tbody>", "<font color=\"#6f6f6f\">", "</font>", "<strike>", "</strike>", "<dl>", "<dt>",
     "<dd>", "</dl>", "<caption>", "<center>", "<del>", "<ins>", "<big>", "<tt>", "<section>",
     "</article>", "<header>", "<footer/>", "<aside>", "<td/>", "<table/>"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(_SIMPLE_PIECES, max_size=30), max_chars=_LIMITS, single_line=st.booleans())
def test_simple_html_takes_the_regex_path_and_equals_the_reference(
    pieces: list[str], max_chars: int | None, single_line: bool
) -> None:
    html = "".join(pieces)
    assert sanitize.is_simple_html(html)
    assert sanitize._simple_html_text(html, None) is not None
    got = sanitize.html_to_text(html, max_chars=max_chars, single_line=single_line)
    assert got == _reference_html_to_text(html, max_chars, single_line)


def test_html_parser_tag_names_end_only_at_html_whitespace() -> None:
    # html.parser reads "<p\x0bclass='x'>" as a tag named "p\x0bclass='x'": not simple.
    assert not sanitize.is_simple_html("<p\x0bclass='x'>a</p>")
    assert not sanitize.is_simple_html("<p\xa0>a</p>")


def test_farm_summaries_take_the_regex_path() -> None:
    body = feedfarm.build_feed(3).body.decode()
    summaries = re.findall(r"<!\[CDATA\[(.*?)\]\]>", body)
    assert summaries
    assert all(sanitize._simple_html_text(s, 2 * 8000 + 256) is not None for s in summaries)


def _reference_safe_url(url: object, base: str | None = None) -> str | None:
    if not isinstance(url, str):
        return None
    candidate = sanitize._URL_STRIPPED.sub("", url)
    if not candidate or len(candidate) > 2048 or sanitize._UNSAFE_CHARS.search(candidate):
        return None
    if base is not None and _reference_safe_url(base) is not None:
        try:
            candidate = urljoin(base, candidate)
        except ValueError:
            return None
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return candidate


_URL_PIECES = st.sampled_from(
    ["http", "HTTPS", "https", "://", ":", "//", "/", "?", "#", ";", "@", "[", "]", "%20", " ",
     "\t", "\x00", "\u202e", "é", "مالي", "a", "Site3.example", "..", "=", "&", "80", "x"]
)  # fmt: skip
_urls = (
    st.from_regex(sanitize._PLAIN_HTTP_URL, fullmatch=True)
    | st.from_regex(fastparse._PLAIN_URL, fullmatch=True)
    | st.lists(_URL_PIECES, max_size=12).map("".join)
    | st.text(max_size=30)
)
_URL_EDGES = ["http://x.example/a;", "http://x.example/a;b", "http://x.example/?",
              "http://x.example/#", "http://x.example//a", "http://x.example/a/../b",
              "HTTP://x.example/", "http:///x", "http://x.example:/", "https://x.example:8080",
              "http://x.example?a", "https://x.example/%zz?a=1;b", "http://[::1]/"]  # fmt: skip
_BASES = st.sampled_from(
    ["", "https://example.invalid/feed", "http://a.example/b/c?q", "ftp://x.example/",
     "https://[::1/", "feed.xml", "HTTPS://Example.invalid", "http://ex\u00e4mple.org/"]
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(url=_urls | st.sampled_from(_URL_EDGES), base=st.none() | _BASES)
def test_safe_url_equals_the_reference(url: str, base: str | None) -> None:
    assert sanitize.safe_url(url, base=base) == _reference_safe_url(url, base)


@settings(max_examples=1000, deadline=None)
@given(url=_urls | st.sampled_from(_URL_EDGES), base=_BASES)
def test_urljoin_shortcut_equals_feedparser(url: str, base: str) -> None:
    walker = fastparse._Walker(base, None, {})
    assert walker.urljoin(url) == feedparser.urls._urljoin(base, url)


_DATE_PIECES = st.sampled_from(
    ["Tue, ", "Sun, ", "tue, ", "Foo, ", "00", "01", "11", "29", "31", "99", " ", "Feb", "Nov",
     "nov", "Nox", "0000", "0001", "1999", "2025", "9999", "00:00:00", "23:59:59", "24:00:00",
     "12:60:61", "+0000", "-0530", "+9999", "-2400", "GMT", "UTC", "Z", "T", "-", ":"]
)  # fmt: skip
_dates = (
    st.from_regex(fastparse._RFC822, fullmatch=True)
    | st.lists(_DATE_PIECES, max_size=9).map("".join)
    | st.text(max_size=40)
)


@settings(max_examples=1500, deadline=None)
@given(value=_dates)
def test_rfc822_shortcut_equals_feedparser(value: str) -> None:
    assert fastparse._parse_date(value) == feedparser.datetimes._parse_date(value)


@pytest.mark.parametrize(
    "value",
    ["Tue, 11 Nov 2025 11:57:00 +0000", "Sat, 01 Jan 0001 00:00:00 +0100",
     "Fri, 31 Dec 9999 23:00:00 -0200", "Mon, 29 Feb 2025 10:00:00 GMT"],
)  # fmt: skip
def test_rfc822_shortcut_edges(value: str) -> None:
    assert fastparse._RFC822.fullmatch(value)
    assert fastparse._parse_date(value) == feedparser.datetimes._parse_date(value)


def _reference_fold(text: str) -> str:
    text = text.translate(dates._DIGITS).strip().lower()
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    text = text.replace("\u0640", "")
    for alef in ("أ", "إ", "آ", "ٱ"):
        text = text.replace(alef, "ا")
    return re.sub(r"\s+", " ", text.replace("\u200f", "").replace("\u200e", ""))


@settings(max_examples=500, deadline=None)
@given(text=_texts | _dates)
def test_date_folding_equals_the_reference(text: str) -> None:
    assert dates._fold(text) == _reference_fold(text)


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(_SIMPLE_PIECES, max_size=30), ctype=st.sampled_from(["text/html"]))
def test_simple_html_reads_the_same_after_feedparser_for_any_mix(
    pieces: list[str], ctype: str
) -> None:
    """fastparse skips feedparser's resolver and sanitizer for SIMPLE_HTML: the text must be
    the same as if they had run."""
    from feedparser.sanitizer import _sanitize_html
    from feedparser.urls import resolve_relative_uris

    html = "".join(pieces).strip()
    assert SIMPLE_HTML.fullmatch(html)
    processed = _sanitize_html(resolve_relative_uris(html, URL, "utf-8", ctype), "utf-8", ctype)
    for single_line in (True, False):
        assert html_to_text(processed, single_line=single_line) == html_to_text(
            html, single_line=single_line
        )
