"""Untrusted feed text → safe plain text; untrusted URLs → http(s) or nothing.

Rasd stores and forwards plain text only: markup is dropped here (script, style and other
active elements with their content), entities are decoded, control characters and bidi
overrides removed, whitespace collapsed. Renderers still escape on output.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

__all__ = [
    "ALLOWED_SCHEMES",
    "MAX_URL_CHARS",
    "SIMPLE_HTML",
    "SIMPLE_TAGS",
    "clean_text",
    "html_to_text",
    "is_simple_html",
    "looks_like_html",
    "safe_url",
    "truncate",
]

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_CHARS = 2048
_CHUNK_CHARS = 65_536
_MEMO_CHARS = 16_384

# Elements whose content is never text a reader should see.
_DROP_CONTENT = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "applet", "frame", "frameset",
        "noscript", "noembed", "noframes", "template", "head", "title", "svg", "math",
        "select", "textarea", "button", "canvas", "audio", "video", "map",
    }
)  # fmt: skip
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
        "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip

_INLINE = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "big", "blink", "body", "center", "cite", "code",
        "data", "del", "details", "dfn", "em", "font", "form", "html", "i", "ins", "kbd",
        "label", "legend", "marquee", "mark", "meter", "nobr", "output", "picture", "progress",
        "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strike", "strong", "sub",
        "summary", "sup", "tbody", "tfoot", "thead", "time", "tt", "u", "var", "xmp",
    }
)  # fmt: skip
_KNOWN_TAGS = "|".join(sorted(_DROP_CONTENT | _VOID | _BLOCK | _INLINE, key=len, reverse=True))
_LOOKS_LIKE_HTML = re.compile(
    rf"<\s*/?\s*(?:{_KNOWN_TAGS})(?=[\s/>])|<!--|&(?:#\d+|#x[0-9a-f]+|[a-z][a-z0-9]+);",
    re.IGNORECASE,
)

# C0/C1 controls except tab and newline, surrogates, non-characters, and the bidi
# embedding/override/isolate controls (kept: LRM, RLM, ALM, which Arabic text uses).
_UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)
_SPACE_CHARS = " \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000"
_SPACES = re.compile(f"[{_SPACE_CHARS}]+")
# What clean_text has to rewrite besides lines and single spaces: unsafe characters, CR and
# the other spaces. Most feed text has none, and one search is far cheaper than the subs.
_NEEDS_REWRITE = re.compile(f"{_UNSAFE_CHARS.pattern}|[{_SPACE_CHARS[1:]}]")
# HTML that html.parser reads in the plain way: tags from this list (none of them hides its
# content) with well-quoted attributes, text without "<", and a few entity forms, each ended
# by ";". Its text is the text between the tags, with a newline for each block tag and the
# entities decoded, so a regex does html.parser's work. monitor/fastparse.py uses the same
# test for HTML that feedparser's resolver and sanitizer leave alone.
SIMPLE_TAGS = (
    "a|abbr|article|aside|b|big|blockquote|br|caption|center|cite|code|dd|del|div|dl|dt|em|"
    "figcaption|figure|font|footer|h[1-6]|header|hr|i|img|ins|li|ol|p|q|s|section|small|span|"
    "strike|strong|sub|sup|table|tbody|td|tfoot|th|thead|tr|tt|u|ul"
)
_WS = r"[ \t\n\r\f]"  # html.parser ends a tag name at these only, not at every \s
_SIMPLE_ATTR = rf"""{_WS}+[A-Za-z_:][-A-Za-z0-9_:.]*(?:{_WS}*={_WS}*(?:"[^"<>]*"|'[^'<>]*'))?"""
SIMPLE_HTML = re.compile(
    rf"""(?:[^<&]++|</?(?:{SIMPLE_TAGS})(?:{_SIMPLE_ATTR})*+{_WS}*/?>|"""
    r"""&(?:amp|lt|gt|quot|nbsp|#(?:\d{1,2}|1[01]\d|12[0-7]|1[6-9]\d|[2-9]\d\d|\d{4,6})|"""
    r"""#[xX](?:[0-7]?[0-9a-fA-F]|[a-fA-F][0-9a-fA-F]|[0-9a-fA-F]{3,5}));)*+""",
    re.IGNORECASE,
)
_SIMPLE_BLOCKS = sorted((t for t in _BLOCK if re.fullmatch(SIMPLE_TAGS, t)), key=len, reverse=True)
_SIMPLE_BLOCK_TAG = re.compile(
    rf"</?(?:{'|'.join(_SIMPLE_BLOCKS)})(?=[ \t\n\r\f/>])[^>]*>", re.IGNORECASE
)
_ANY_TAG = re.compile(r"<[^>]*>")

# WHATWG URL parsing removes these anywhere in a URL, so "java\tscript:" is javascript:.
_URL_STRIPPED = re.compile(r"[\x00-\x20\x7f]")
# An http(s) URL safe_url returns as it is: printable ASCII, a host urlsplit takes whole.
_PLAIN_HTTP_URL = re.compile(r"(?i:https?)://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]*)?(?:[/?#][!-~]*)?")


def clean_text(text: str, *, max_chars: int | None = None, single_line: bool = False) -> str:
    """Drop unsafe characters, collapse whitespace, truncate to `max_chars`."""
    if max_chars is not None and len(text) > 4 * max_chars + 1024:
        text = text[: 4 * max_chars + 1024]
    if _NEEDS_REWRITE.search(text) is not None:
        text = _UNSAFE_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        if not single_line:
            text = _SPACES.sub(" ", text)
    elif not single_line and "  " in text:
        text = _SPACES.sub(" ", text)
    # Every character of _SPACES is whitespace to str.split, so a single line needs no sub.
    text = " ".join(text.split()) if single_line else _trimmed_lines(text)
    return truncate(text, max_chars)


def _trimmed_lines(text: str) -> str:
    """Each run of whitespace that holds a newline as one newline, the ends stripped (what
    the regex substitution of `\\s*\\n\\s*` by a newline, then strip(), gives), without a
    regex tried at every position."""
    if "\n" not in text:
        return text.strip()
    return "\n".join([line for line in (part.strip() for part in text.split("\n")) if line])


def truncate(text: str, max_chars: int | None) -> str:
    """Cut at a word boundary near `max_chars` and mark the cut with an ellipsis."""
    if max_chars is None or len(text) <= max_chars:
        return text
    cut = text[: max(max_chars - 1, 0)]
    space = cut.rfind(" ")
    if space > max_chars * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def looks_like_html(text: str) -> bool:
    """True when text labelled plain carries HTML tags, comments or entities anyway."""
    return _LOOKS_LIKE_HTML.search(text) is not None


def html_to_text(html: str, *, max_chars: int | None = None, single_line: bool = False) -> str:
    """Visible text of an HTML fragment. Stops reading once `max_chars` of text are collected."""
    limit = None if max_chars is None else 2 * max_chars + 256
    text = _simple_html_text(html, limit)
    if text is None:
        collector = _TextCollector(limit)
        for start in range(0, len(html), _CHUNK_CHARS):
            collector.feed(html[start : start + _CHUNK_CHARS])
            if collector.full:
                break
        else:
            collector.close()
        text = "".join(collector.parts)
    return clean_text(text, max_chars=max_chars, single_line=single_line)


# html.unescape's pattern (`html._charref`). What it puts in place of a reference depends
# only on the reference's text, so fast_unescape remembers it: html.unescape parses each
# reference afresh in Python, and feeds repeat the same few (&#39; &amp; &quot;) in every item.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_MAX_CHARREFS = 4096


class _CharrefMemo(dict[str, str]):
    def __missing__(self, reference: str) -> str:
        if len(self) >= _MAX_CHARREFS:
            self.clear()
        text = self[reference] = unescape(reference)
        return text


_charrefs = _CharrefMemo()


def _charref_text(found: re.Match[str]) -> str:
    return _charrefs[found.group()]


def fast_unescape(text: str) -> str:
    """html.unescape(text), with the replacement of each distinct reference memoised."""
    if "&" not in text:
        return text
    return _CHARREF.sub(_charref_text, text)


def is_simple_html(html: str) -> bool:
    """`html` is SIMPLE_HTML. fastparse asks about each HTML field, html_to_text then asks
    again about the same strings: short ones are remembered for the length of a feed."""
    if len(html) > _MEMO_CHARS:
        return SIMPLE_HTML.fullmatch(html) is not None
    return _is_simple_short_html(html)


@lru_cache(maxsize=256)  # at most 256 strings of 16,384 characters stay referenced
def _is_simple_short_html(html: str) -> bool:
    return SIMPLE_HTML.fullmatch(html) is not None


def _simple_html_text(html: str, limit: int | None) -> str | None:
    """What _TextCollector collects from SIMPLE_HTML, or None when it may differ: not simple,
    more than one chunk, or enough text to reach `limit` (the collector then drops parts)."""
    if len(html) > _CHUNK_CHARS or not is_simple_html(html):
        return None
    text = _ANY_TAG.sub("", _SIMPLE_BLOCK_TAG.sub("\n", html)) if "<" in html else html
    if "&" in text:
        text = fast_unescape(text)
    if limit is not None and len(text) >= limit:
        return None
    return text


def safe_url(url: object, *, base: str | None = None) -> str | None:
    """`url` as an absolute http(s) URL, or None for any other scheme or garbage."""
    if not isinstance(url, str):
        return None
    if base is None and len(url) <= MAX_URL_CHARS and _PLAIN_HTTP_URL.fullmatch(url):
        return url
    candidate = _URL_STRIPPED.sub("", url)
    if not candidate or len(candidate) > MAX_URL_CHARS or _UNSAFE_CHARS.search(candidate):
        return None
    if base is not None and safe_url(base) is not None:
        try:
            candidate = urljoin(base, candidate)
        except ValueError:
            return None
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not host:
        return None
    return candidate


class _TextCollector(HTMLParser):
    def __init__(self, limit: int | None) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._size = 0
        self._limit = limit
        self._hidden: list[str] = []  # open elements whose content is dropped

    @property
    def full(self) -> bool:
        return self._limit is not None and self._size >= self._limit

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT and tag not in _VOID:
            self._hidden.append(tag)
        elif tag in _BLOCK:
            self._add("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._add("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._hidden:
            while self._hidden and self._hidden.pop() != tag:
                pass
        elif tag in _BLOCK:
            self._add("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._add(data)

    def _add(self, text: str) -> None:
        if not self.full:
            self.parts.append(text)
            self._size += len(text)
