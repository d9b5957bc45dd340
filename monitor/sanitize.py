"""Untrusted feed text → safe plain text; untrusted URLs → http(s) or nothing.

Rasd stores and forwards plain text only: markup is dropped here (script, style and other
active elements with their content), entities are decoded, control characters and bidi
overrides removed, whitespace collapsed. Renderers still escape on output.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

__all__ = [
    "ALLOWED_SCHEMES",
    "MAX_URL_CHARS",
    "clean_text",
    "html_to_text",
    "looks_like_html",
    "safe_url",
    "truncate",
]

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_CHARS = 2048
_CHUNK_CHARS = 65_536

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
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")
# WHATWG URL parsing removes these anywhere in a URL, so "java\tscript:" is javascript:.
_URL_STRIPPED = re.compile(r"[\x00-\x20\x7f]")


def clean_text(text: str, *, max_chars: int | None = None, single_line: bool = False) -> str:
    """Drop unsafe characters, collapse whitespace, truncate to `max_chars`."""
    if max_chars is not None and len(text) > 4 * max_chars + 1024:
        text = text[: 4 * max_chars + 1024]
    text = _UNSAFE_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text)
    text = " ".join(text.split()) if single_line else _NEWLINES.sub("\n", text).strip()
    return truncate(text, max_chars)


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
    collector = _TextCollector(None if max_chars is None else 2 * max_chars + 256)
    for start in range(0, len(html), _CHUNK_CHARS):
        collector.feed(html[start : start + _CHUNK_CHARS])
        if collector.full:
            break
    else:
        collector.close()
    return clean_text("".join(collector.parts), max_chars=max_chars, single_line=single_line)


def safe_url(url: object, *, base: str | None = None) -> str | None:
    """`url` as an absolute http(s) URL, or None for any other scheme or garbage."""
    if not isinstance(url, str):
        return None
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
