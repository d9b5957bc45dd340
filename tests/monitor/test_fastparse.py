"""Differential tests: parse_bytes with the fast path gives exactly what feedparser gives.

Every demo feed, golden feed, 50 bench-farm feeds and every hostile-corpus file (except the
gzip payloads, which never reach the parser) is parsed with monitor.parse.FAST_PATH on and
off; the outcomes (ParsedFeed or ParseError reason) must be equal. Some cases must actually
take the fast path, so the comparison cannot pass vacuously.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedparser.sanitizer import _HTMLSanitizer

import monitor.parse as parse_module
from monitor.domain import ParsedFeed
from monitor.errors import ParseError
from monitor.fastparse import _SIMPLE_HTML, _SIMPLE_TAGS, feedparser_like
from monitor.sanitize import html_to_text
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
    tags = _SIMPLE_TAGS.replace("h[1-6]", "h1|h2|h3|h4|h5|h6").split("|")
    assert set(tags) <= _HTMLSanitizer.acceptable_elements


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

    assert _SIMPLE_HTML.fullmatch(html)
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
    assert not _SIMPLE_HTML.fullmatch(html)
