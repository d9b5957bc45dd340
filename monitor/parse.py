"""Feed bytes → ParsedFeed of plain-text Items, with guards; hostile input → ParseError.

`parse_bytes` is synchronous and CPU-bound; `parse_feed` runs it in a worker process with a
wall-clock timeout and a memory cap (monitor/workers.py). Guards, in order:

* empty body → "empty"; `<!ENTITY` in the prolog (scanned as bytes, in every UTF width)
  → "entity-declaration", since feedparser's fallback parser expands entities without limit;
* feedparser is handed `io.BytesIO(body)` (given bytes it may open them as a file path),
  lower-case response headers, and the expat backend only (libxml2 resolves external
  entities);
* plain RSS 2.0 and Atom 1.0 go through monitor/fastparse.py (C expat, same output),
  everything else through feedparser;
* JSON Feed goes through `json`; an HTML page or anything without a feed version and no
  entries → "not-a-feed"; `bozo` with usable entries is a warning;
* every text field becomes plain text (monitor/sanitize.py) and is truncated; every URL is
  http(s) or dropped; dates are aware UTC within a sane range or None; the newest
  `max_entries` items are kept.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import feedparser
import feedparser.api

from monitor.dates import parse_localized_date
from monitor.domain import FetchResult, Item, ParsedFeed
from monitor.errors import ParseError
from monitor.fastparse import fast_parse
from monitor.sanitize import clean_text, html_to_text, looks_like_html, safe_url

if TYPE_CHECKING:
    from monitor.workers import ParsePool

__all__ = ["HEADERS_READ", "ParseLimits", "parse_bytes", "parse_feed"]

# The response headers a parse depends on (here or in feedparser): charset and feed kind,
# the base of relative links, the language of items that declare none. Two answers with the
# same body and these headers parse the same (monitor.pipeline skips the second parse).
HEADERS_READ = ("content-type", "content-location", "content-language")
MIN_YEAR, MAX_YEAR = 1990, 2100
MAX_TTL = timedelta(days=1)
MAX_GUID_CHARS = 1000
MAX_AUTHOR_CHARS = 200
MAX_DEPTH = 1000
_EXPAT = "xml.sax.expatreader"
# monitor/fastparse.py handles plain RSS 2.0 / Atom 1.0 with the same output; False forces
# feedparser for everything (the differential tests compare both).
FAST_PATH = True

# Pin the XML backend: feedparser prefers libxml2 when importable, and xml.sax honours the
# PY_SAX_PARSER environment variable. Both are replaced by expat here.
feedparser.api.PREFERRED_XML_PARSERS = [_EXPAT]
xml.sax.default_parser_list = [_EXPAT]
feedparser.registerDateHandler(parse_localized_date)


@dataclass(frozen=True)
class ParseLimits:
    max_entries: int = 200
    max_title_chars: int = 1000
    max_summary_chars: int = 8000
    timeout: timedelta = timedelta(seconds=20)  # wall clock, enforced by parse_feed
    memory_bytes: int = 512 * 2**20  # address space of the worker, enforced by parse_feed


_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(rb"<[^!?]")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_DEEP = re.compile(rb"<[A-Za-z_][^<>]*>(?:[^<]*<[A-Za-z_][^<>]*>){%d}" % (MAX_DEPTH - 1))
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>")
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
         codecs.BOM_UTF16_BE)  # fmt: skip
_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_DANGEROUS_ID = re.compile(r"^\s*(?:javascript|vbscript|data|file)\s*:", re.IGNORECASE)
_LANG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*$", re.IGNORECASE)
_JSON_FEED = "https://jsonfeed.org/version/"
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")


def parse_bytes(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    *,
    lang_hint: str | None = None,
    encoding: str | None = None,
    limits: ParseLimits = ParseLimits(),
) -> ParsedFeed:
    """Parse one response body. Raises ParseError with a stable `reason`."""
    if not body.strip():
        raise ParseError(url, "empty", "the response body is empty")
    lower = {
        key.lower(): value for key, value in headers.items() if key.lower() != "content-encoding"
    }
    if encoding:
        body = _redeclare(url, body, encoding)
        lower["content-type"] = _with_utf8(lower.get("content-type", "application/xml"))
    if _looks_like_json(body, lower.get("content-type", "")):
        return _parse_json_feed(body, url, lang_hint, limits)
    if _declares_entities(body):
        raise ParseError(url, "entity-declaration", "the document declares XML entities")
    if _too_deep(body):
        raise ParseError(url, "too-deep", f"{MAX_DEPTH} elements opened in a row")
    if _HTML_START.match(body[:4096]):
        raise ParseError(url, "not-a-feed", "the response is an HTML page")
    # Relative links resolve against Content-Location (itself relative to the URL), if safe.
    lower["content-location"] = safe_url(lower.get("content-location", ""), base=url) or url
    lower.pop("content-length", None)
    if FAST_PATH and not encoding:
        fast = fast_parse(body, lower, url, lang_hint=lang_hint, limits=limits)
        if fast is not None:
            return fast
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=lower, sanitize_html=True)
    except RecursionError as exc:
        raise ParseError(url, "malformed", "nesting too deep") from exc
    return from_feedparser(parsed, url, lang_hint, limits)


async def parse_feed(
    result: FetchResult,
    *,
    lang_hint: str | None = None,
    encoding: str | None = None,
    limits: ParseLimits = ParseLimits(),
    pool: ParsePool | None = None,
) -> ParsedFeed:
    """`parse_bytes` in a worker process (of `pool`, else the process-wide one), bounded in
    time and memory."""
    if result.body is None:
        raise ValueError("parse_feed: nothing to parse (304 Not Modified)")
    from monitor.workers import default_pool

    return await (pool or default_pool()).parse(
        result.body, result.headers, result.final_url,
        lang_hint=lang_hint, encoding=encoding, limits=limits,
    )  # fmt: skip


# -- guards -------------------------------------------------------------------------------


def _declares_entities(body: bytes) -> bool:
    """`<!ENTITY` before the first element, in UTF-8-like bytes or any UTF-16/32 layout."""
    views = [body]
    head = body[:65536]
    if b"\x00" in head[:512] or head.startswith(_BOMS):
        for codec in _WIDE:
            for shift in range(4):
                views.append(head[shift:].decode(codec, "ignore").encode("utf-8", "ignore"))
    for view in views:
        first = _FIRST_ELEMENT.search(view)
        prolog = view[: first.start()] if first else view
        if _ENTITY.search(prolog):
            return True
    return False


def _too_deep(body: bytes) -> bool:
    """MAX_DEPTH start tags in a row with no end tag between: the nesting bombs feedparser
    needs minutes for (its sanitizer also walks markup inside CDATA, so that counts too).
    Deeper structures that interleave end tags are left to the parse timeout."""
    return _DEEP.search(body) is not None


def _redeclare(url: str, body: bytes, encoding: str) -> bytes:
    """Decode with the per-feed override and re-declare the result as UTF-8."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError as exc:
        raise ParseError(url, "bad-encoding", f"unknown encoding override {encoding!r}") from exc
    for bom in _BOMS:
        if body.startswith(bom):
            body = body[len(bom) :]
            break
    text = body.decode(codec, "replace").encode("utf-8")
    declaration = b'<?xml version="1.0" encoding="utf-8"?>'
    if _XML_DECL.match(text):
        return _XML_DECL.sub(declaration, text, count=1)
    return declaration + b"\n" + text.lstrip()


def _with_utf8(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip() or "application/xml"
    return f"{media}; charset=utf-8"


def _looks_like_json(body: bytes, content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/feed+json", "application/json"):
        return True
    return body.lstrip()[:1] == b"{"


# -- JSON Feed ----------------------------------------------------------------------------


def _parse_json_feed(
    body: bytes, url: str, lang_hint: str | None, limits: ParseLimits
) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ParseError(url, "malformed", f"invalid JSON: {exc}"[:200]) from exc
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(_JSON_FEED):
        raise ParseError(url, "not-a-feed", "JSON but not a JSON Feed")
    feed_lang = _lang(doc.get("language")) or _lang(lang_hint)
    base = safe_url(doc.get("home_page_url")) or url
    raw = doc.get("items")
    items: list[Item] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict):
            continue
        title = _text(_str(entry.get("title")), "text/plain", limits.max_title_chars)
        html = _str(entry.get("content_html")) or _str(entry.get("summary"))
        summary = (
            _text(html, "text/html", limits.max_summary_chars)
            if html
            else _text(_str(entry.get("content_text")), "text/plain", limits.max_summary_chars)
        )
        link = safe_url(_str(entry.get("url")), base=base) or safe_url(
            _str(entry.get("external_url")), base=base
        )
        items.append(
            Item(
                guid=_guid(_str(entry.get("id")), link, title, summary),
                url=link,
                title=title,
                summary=summary,
                published=_iso_date(entry.get("date_published") or entry.get("date_modified")),
                lang=_lang(entry.get("language")) or feed_lang,
                author=_json_author(entry) or _json_author(doc),
            )
        )
    return ParsedFeed(
        title=_text(_str(doc.get("title")), "text/plain", limits.max_title_chars) or None,
        items=_newest(items, limits.max_entries),
        lang=feed_lang,
    )


def _json_author(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")
    author = authors[0] if isinstance(authors, list) and authors else obj.get("author")
    if isinstance(author, dict):
        return (
            clean_text(_str(author.get("name")), max_chars=MAX_AUTHOR_CHARS, single_line=True)
            or None
        )
    return None


def _iso_date(value: object) -> datetime | None:
    """JSON Feed dates are RFC 3339; a date without a zone is taken as UTC."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        when = when.astimezone(UTC)
    except OverflowError:
        return None
    return when if MIN_YEAR <= when.year <= MAX_YEAR else None


# -- feedparser ---------------------------------------------------------------------------


def from_feedparser(
    parsed: Any, url: str, lang_hint: str | None, limits: ParseLimits
) -> ParsedFeed:
    """feedparser's result (or monitor.fastparse's replica of it) as a ParsedFeed."""
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries and not version:
        exc = parsed.get("bozo_exception")
        detail = f"{type(exc).__name__}: {exc}"[:200] if exc else "no feed version, no entries"
        raise ParseError(url, "not-a-feed", detail)
    warnings = []
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        warnings.append(f"{type(exc).__name__}: {exc}"[:300] if exc else "malformed feed")
    feed = parsed.get("feed") or {}
    feed_lang = _lang(feed.get("language")) or _lang(lang_hint)
    items = [_item(entry, url, feed_lang, limits) for entry in entries]
    return ParsedFeed(
        title=_detail_text(feed, "title", limits.max_title_chars) or None,
        items=_newest(items, limits.max_entries),
        warnings=tuple(warnings),
        ttl=_ttl(feed.get("ttl")),
        lang=feed_lang,
    )


def _item(entry: Any, url: str, feed_lang: str | None, limits: ParseLimits) -> Item:
    title = _detail_text(entry, "title", limits.max_title_chars)
    summary = ""
    if entry.get("summary_detail"):
        summary = _detail_text(entry, "summary", limits.max_summary_chars)
    if not summary:
        content = entry.get("content") or []
        if content and isinstance(content[0], dict):
            summary = _text(
                _str(content[0].get("value")), content[0].get("type"), limits.max_summary_chars
            )
    link = _entry_link(entry)
    detail = entry.get("title_detail") or {}
    lang = _lang(entry.get("language")) or _lang(detail.get("language")) or feed_lang
    published = None
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        published = _utc(entry.get(key))
        if published is not None:
            break
    author = clean_text(_str(entry.get("author")), max_chars=MAX_AUTHOR_CHARS, single_line=True)
    return Item(
        guid=_guid(_str(entry.get("id")), link, title, summary),
        url=link,
        title=title,
        summary=summary,
        published=published,
        lang=lang,
        author=author or None,
    )


def _entry_link(entry: Any) -> str | None:
    found = safe_url(entry.get("link"))
    if found:
        return found
    for link in entry.get("links") or []:
        if isinstance(link, dict) and link.get("rel", "alternate") == "alternate":
            found = safe_url(link.get("href"))
            if found:
                return found
    return None


def _detail_text(obj: Any, key: str, max_chars: int) -> str:
    detail = obj.get(f"{key}_detail") or {}
    return _text(_str(obj.get(key)), detail.get("type"), max_chars)


def _text(value: str, media_type: object, max_chars: int) -> str:
    """Plain text of a field. Text that merely looks like markup is treated as HTML too:
    feeds often mislabel HTML as text."""
    if not value:
        return ""
    single_line = max_chars <= 1000
    is_html = isinstance(media_type, str) and media_type.lower() in _HTML_TYPES
    if is_html or looks_like_html(value):
        return html_to_text(value, max_chars=max_chars, single_line=single_line)
    return clean_text(value, max_chars=max_chars, single_line=single_line)


def _guid(raw: str, link: str | None, title: str, summary: str) -> str:
    guid = clean_text(raw, single_line=True)
    if guid and not _DANGEROUS_ID.match(guid) and len(guid) <= MAX_GUID_CHARS:
        return guid
    if guid:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()
    if link:
        return link
    digest = hashlib.sha256(f"{title}\n{summary}".encode("utf-8", "replace")).hexdigest()
    return "sha256:" + digest


def _utc(value: object) -> datetime | None:
    """feedparser's 9-tuple (UTC) as an aware datetime, if its year is plausible."""
    if not isinstance(value, tuple) or len(value) < 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in value[:6])
        if not MIN_YEAR <= year <= MAX_YEAR:
            return None
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _ttl(value: object) -> timedelta | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 7 or int(text) <= 0:
        return None
    return min(timedelta(minutes=int(text)), MAX_TTL)


def _lang(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    found = _LANG.match(value.strip())
    return found.group(1).lower() if found else None


def _newest(items: Iterable[Item], limit: int) -> tuple[Item, ...]:
    """The `limit` newest items, newest first; undated ones keep document order after them."""
    indexed = list(enumerate(items))
    floor = datetime.min.replace(tzinfo=UTC)
    indexed.sort(key=lambda pair: (-(pair[1].published or floor).timestamp(), pair[0]))
    return tuple(item for _, item in indexed[: max(limit, 0)])


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
