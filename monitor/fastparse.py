"""A fast path for the common feed shapes: plain RSS 2.0 and Atom 1.0, parsed with C expat.

Why hand-written: feedparser drives one Python method call per SAX event and per element, and
then re-parses every HTML field twice in pure Python (relative-URI resolution, sanitizing).
That costs ~70 ms for a typical 50-item feed, more than Rasd's whole per-feed budget, and no
option of feedparser removes the per-event Python work. `xml.etree.ElementTree` builds the tree
in C, so the remaining Python work is a walk over the few elements Rasd stores.

The contract is strict: `fast_parse` returns exactly the ParsedFeed the feedparser path would
produce, or None, and then parse_bytes uses feedparser. To keep that promise this module
builds the same intermediate result feedparser does (the entry dicts that
`monitor.parse.from_feedparser` reads) by replaying feedparser's own rules for the elements it
accepts, and reuses feedparser's own functions where a rule is intricate: byte decoding
(`convert_to_utf8`, with the same bozo warnings), URI joining (`_urljoin`), date parsing
(`_parse_date`, with Rasd's French/Arabic handler registered), and, for HTML that is not
"simple", its relative-URI resolver and sanitizer. It declines (None) whenever a document
leaves the shapes it models:

* not well-formed, a DOCTYPE or ENTITY anywhere, an encoding feedparser could not settle,
  a root other than `<rss version="2.x">` with one `<channel>` or an Atom 1.0 `<feed>`
  (so RSS 0.9x/1.0/RDF, CDF, Atom 0.3 go to feedparser);
* xml:base / base attributes, xml:lang or lang anywhere but on the root, a namespace
  prefix bound to two URIs (or one URI to two prefixes), or a known namespace under a
  prefix other than feedparser's own;
* any element feedparser has a handler for that is neither modelled here nor known to leave
  the stored fields alone (media:title, media:description, itunes:summary, source, ...),
  also when it is nested inside an unknown element;
* markup inside a text element (Atom xhtml content, RSS description with child elements),
  base64 or non-text content types, `src` content, duplicated fields whose precedence
  feedparser decides by parse state (two titles, two descriptions, two authors, ...).
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import feedparser.datetimes
import feedparser.datetimes.rfc822
import feedparser.datetimes.w3dtf
import feedparser.encodings
import feedparser.exceptions
import feedparser.mixin
import feedparser.sanitizer
import feedparser.urls
from feedparser.html import _cp1252

from monitor.dates import parse_localized_date
from monitor.domain import ParsedFeed
from monitor.sanitize import is_simple_html

if TYPE_CHECKING:
    from monitor.parse import ParseLimits

__all__ = ["fast_parse", "feedparser_like"]

_ATOM = "http://www.w3.org/2005/Atom"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_MIXIN = feedparser.mixin._FeedParserMixin
_MATCH_NS: dict[str, str] = {k.lower(): v for k, v in _MIXIN.namespaces.items()}
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_CAN_BE_RELATIVE = frozenset(_MIXIN.can_be_relative_uri)
_CAN_CONTAIN = frozenset(_MIXIN.can_contain_relative_uris) & frozenset(
    _MIXIN.can_contain_dangerous_markup
)
_OK_WARNINGS = (feedparser.exceptions.NonXMLContentType,
                feedparser.exceptions.CharacterEncodingOverride)  # fmt: skip
_DECLARATION = re.compile(rb"<!\s*(?:doctype|entity)", re.IGNORECASE)
_C1 = re.compile("[\x80-\x9f]")  # the only characters feedparser's _cp1252 table maps
_LATIN1_CONTINUATION = re.compile("[\x80-\xbf]")
_QUERY_ENTITY = re.compile("&([A-Za-z0-9_]+);")

# Elements whose feedparser handlers only write keys Rasd never reads and change no parse
# state that later elements depend on. Keyed by feedparser's mapped name (prefix_local).
_HARMLESS_ENTRY = frozenset(
    {"category", "dc_subject", "enclosure", "media_content", "media_thumbnail", "contributor",
     "rights", "copyright", "dc_rights", "name", "email", "uri", "url", "homepage", "source"}
)  # fmt: skip
_HARMLESS_FEED = _HARMLESS_ENTRY | frozenset(
    {"generator", "lastbuilddate", "pubdate", "published", "updated", "modified", "dc_date",
     "managingeditor", "webmaster", "dc_publisher", "dc_creator", "author", "cloud", "link",
     "subtitle", "tagline", "id", "guid", "icon", "logo", "image", "width", "height",
     "description", "title", "dcterms_modified"}
)  # fmt: skip
# Keys a handler-less element must not write (it stores its text under its own name).
_PROTECTED = frozenset(
    {"title", "title_detail", "summary", "summary_detail", "content", "link", "links", "id",
     "guid", "published_parsed", "updated_parsed", "created_parsed", "issued_parsed",
     "modified_parsed", "date_parsed", "author", "language", "ttl", "description",
     "description_detail", "entries", "items", "channel", "feed", "image", "textinput"}
)  # fmt: skip
_DATE_KEYS = {
    "published": "published_parsed", "pubdate": "published_parsed",
    "issued": "published_parsed", "dcterms_issued": "published_parsed",
    "updated": "updated_parsed", "modified": "updated_parsed", "dc_date": "updated_parsed",
    "dcterms_modified": "updated_parsed",
    "created": "created_parsed", "dcterms_created": "created_parsed",
}  # fmt: skip
_IMAGE_CHILDREN = frozenset({"url", "title", "link", "width", "height", "description"})

# The RFC 822 date most feeds write ("Tue, 11 Nov 2025 11:57:00 +0000"). For it feedparser's
# handler chain (Rasd's French/Arabic handler, then W3C-DTF, both None for it, then RFC 822)
# comes down to the arithmetic in _rfc822; anything else goes through the whole chain.
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|([+-])([0-9]{2})([0-9]{2}))"
)
_MONTHS = {name.capitalize(): number for name, number in feedparser.datetimes.rfc822.months.items()}
_HANDLERS_BEFORE_RFC822 = [
    parse_localized_date,
    feedparser.datetimes.w3dtf._parse_date_w3dtf,
    feedparser.datetimes.rfc822._parse_date_rfc822,
]
# An absolute http(s) URL that urllib.parse.urljoin returns unchanged whatever the base (if
# the base itself parses): lower-case scheme, ASCII host, no params (";"), no fragment, no
# empty query, nothing urlsplit strips or rejects.
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]+)?(?:/[^\x00-\x20\x7f-\x9f?#;]*)?"
    r"(?:\?[^\x00-\x20\x7f-\x9f#]+)?"
)


class _Declined(Exception):
    """The document leaves the shapes modelled here: use feedparser."""


def fast_parse(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    *,
    lang_hint: str | None,
    limits: ParseLimits,
) -> ParsedFeed | None:
    """The ParsedFeed parse_bytes would build through feedparser, or None to use feedparser.

    `headers` are the lower-case response headers as parse_bytes hands them to feedparser
    (content-location already made absolute and safe)."""
    from monitor.parse import from_feedparser

    parsed = feedparser_like(body, headers)
    if parsed is None:
        return None
    return from_feedparser(parsed, url, lang_hint, limits)


def feedparser_like(body: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The subset of `feedparser.parse(...)` Rasd reads, or None when not modelled here."""
    result: dict[str, Any] = {"bozo": False}
    data = feedparser.encodings.convert_to_utf8(dict(headers), body, result)
    exc = result.get("bozo_exception")
    if not result.get("encoding") or (exc is not None and not isinstance(exc, _OK_WARNINGS)):
        return None
    if _DECLARATION.search(data):
        return None
    try:
        root, prefixes = _tree(data)
        base = _base_uri(headers)
        walker = _Walker(base, _root_lang(root, headers), prefixes)
        feed, entries, version = walker.document(root)
    except (_Declined, ET.ParseError, RecursionError, ValueError):
        return None
    out: dict[str, Any] = {"feed": feed, "entries": entries, "version": version, "bozo": False}
    if exc is not None:
        out["bozo"] = True
        out["bozo_exception"] = exc
    return out


# -- document -----------------------------------------------------------------------------


def _tree(data: bytes) -> tuple[ET.Element, dict[str, str]]:
    # The C parser with its own C TreeBuilder (a Python target costs a call per element),
    # reporting only namespace declarations, in document order. The public close() of a
    # pull parser drops the root; _close_and_return_root is what iterparse uses to keep it.
    parser = ET.XMLPullParser(events=("start-ns",))
    parser.feed(data)
    root: ET.Element = parser._close_and_return_root()  # type: ignore[attr-defined]
    declared: list[tuple[str, str]] = [event for _, event in parser.read_events()]
    by_uri: dict[str, str] = {}
    by_prefix: dict[str, str] = {}
    for prefix, uri in declared:
        if by_prefix.setdefault(prefix, uri) != uri or by_uri.setdefault(uri, prefix) != prefix:
            raise _Declined("namespace prefix rebound")
        low = uri.lower()
        if "backend.userland.com/rss" in low:
            raise _Declined("userland namespace")
        standard = _MATCH_NS.get(low)
        if standard is not None and prefix and standard and prefix != standard:
            raise _Declined("known namespace under another prefix")
        if standard is None and prefix in _MATCH_NS.values():
            raise _Declined("a standard prefix bound to an unknown namespace")
        if low in ("http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"):
            raise _Declined("RSS 0.90 / 1.0 namespace")
    return root, by_uri


def _base_uri(headers: Mapping[str, str]) -> str:
    location = headers.get("content-location", "")
    return (
        feedparser.urls.make_safe_absolute_uri("", location)
        or feedparser.urls.make_safe_absolute_uri(location)
        or ""
    )


def _root_lang(root: ET.Element, headers: Mapping[str, str]) -> str | None:
    lang = root.get(f"{{{_XML_NS}}}lang")
    if lang is None:
        lang = headers.get("content-language")
    elif not lang:
        raise _Declined("empty xml:lang")
    return lang


def _split(tag: str) -> tuple[str, str]:
    if tag[:1] == "{":
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


class _Walker:
    """Replays feedparser's handlers for the modelled elements, in document order."""

    def __init__(self, base: str, lang: str | None, prefixes: dict[str, str]) -> None:
        self.base = base
        self.base_parses = _parses(base)
        self.lang = lang
        self.prefixes = prefixes
        self.atom = False
        self.names: dict[str, str] = {}

    # -- names and checks ----------------------------------------------------------------

    def name(self, tag: str) -> str:
        """feedparser's mapped element name (`prefix_local`, lower case), cached per tag."""
        found = self.names.get(tag)
        if found is not None:
            return found
        uri, local = _split(tag)
        local = local.lower()
        prefix = ""
        if uri:
            standard = _MATCH_NS.get(uri.lower())
            prefix = standard if standard is not None else self.prefixes.get(uri, "")
        found = f"{prefix.lower()}_{local}" if prefix else local
        self.names[tag] = found
        return found

    def handled(self, name: str) -> bool:
        return hasattr(_MIXIN, "_start_" + name) or hasattr(_MIXIN, "_end_" + name)

    def check_attrs(self, element: ET.Element) -> None:
        for key in element.attrib:
            local = _split(key)[1].lower()
            if local in ("lang", "base"):
                raise _Declined("xml:lang/xml:base below the root")

    def ignorable(self, element: ET.Element, harmless: frozenset[str]) -> None:
        """An element (with its subtree) that cannot touch the stored fields, or decline."""
        name = self.name(element.tag)
        if self.handled(name):
            if name not in harmless:
                raise _Declined(f"element with a feedparser handler: {name}")
        elif name in _PROTECTED:
            raise _Declined(f"unknown element named like a stored key: {name}")
        if name == "source" and len(element):
            raise _Declined("source with child elements")
        self.check_attrs(element)
        nested = _HARMLESS_ENTRY if self.handled(name) else frozenset()
        for child in element:
            self.ignorable(child, nested)

    # -- document ------------------------------------------------------------------------

    def document(self, root: ET.Element) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        for key in root.attrib:
            if key not in ("version", f"{{{_XML_NS}}}lang"):
                raise _Declined("unexpected root attribute")
        feed: dict[str, Any] = {}
        if self.lang:
            feed["language"] = self.lang.replace("_", "-")
        if root.tag == "rss":
            if not root.get("version", "").startswith("2.") or (root.text or "").strip():
                raise _Declined("not RSS 2.x")
            channels = list(root)
            if len(channels) != 1 or channels[0].tag != "channel" or channels[0].attrib:
                raise _Declined("RSS without exactly one channel")
            return feed, self.channel(channels[0], feed), "rss20"
        if root.tag == f"{{{_ATOM}}}feed" and "version" not in root.attrib:
            self.atom = True
            return feed, self.channel(root, feed), "atom10"
        raise _Declined("unknown root")

    def channel(self, channel: ET.Element, feed: dict[str, Any]) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        entry_tag = f"{{{_ATOM}}}entry" if self.atom else "item"
        for child in channel:
            if child.tag == entry_tag:
                entries.append(self.entry(child))
                continue
            name = self.name(child.tag)
            if name in ("title", "language", "dc_language", "ttl"):
                key = "language" if name == "dc_language" else name
                if key in seen:
                    raise _Declined(f"two feed {key} elements")
                seen.add(key)
                self.check_attrs(child)
                if name == "title":
                    ctype = self.content_type(child, "text/plain")
                    value, ctype = self.pop("title", self.text(child), ctype)
                    feed["title"] = value
                    feed["title_detail"] = {"type": ctype, "language": self.detail_lang()}
                else:
                    if child.attrib and name == "ttl":
                        raise _Declined("ttl with attributes")
                    feed[key] = self.pop(key, self.text(child), None)[0]
            elif name == "image":
                if self.atom or child.attrib:
                    raise _Declined("unexpected image")
                for part in child:
                    if part.tag not in _IMAGE_CHILDREN or part.attrib or len(part):
                        raise _Declined("unexpected image content")
            elif name in ("dc_title", "item", "entry", "textinput", "source"):
                raise _Declined(f"feed-level {name}")
            else:
                self.ignorable(child, _HARMLESS_FEED)
        return entries

    def entry(self, item: ET.Element) -> dict[str, Any]:
        if item.attrib:
            raise _Declined("entry attributes")
        entry: dict[str, Any] = {"links": []}
        seen: set[str] = set()
        guidislink = False
        description: tuple[str, str] | None = None
        content: tuple[str, str] | None = None
        for child in item:
            name = self.name(child.tag)
            if name == "link":
                self.link(child, entry)
                continue
            if name in _DATE_KEYS:
                key = _DATE_KEYS[name]
                if key in seen or child.attrib:
                    raise _Declined("duplicate or attributed date")
                seen.add(key)
                value = self.pop(name, self.text(child), None)[0]
                entry[key] = _parse_date(value)
                continue
            group = _GROUPS.get(name)
            if name in (_RSS_ONLY if self.atom else _ATOM_ONLY):
                raise _Declined(f"{name} in the other format")
            if group is None:
                self.ignorable(child, _HARMLESS_ENTRY)
                continue
            if group in seen:
                raise _Declined(f"two {group} elements in one entry")
            seen.add(group)
            self.check_attrs(child)
            if group == "title":
                ctype = self.content_type(child, "text/plain")
                value, ctype = self.pop("title", self.text(child), ctype)
                entry["title"] = value
                entry["title_detail"] = {"type": ctype, "language": self.detail_lang()}
            elif group == "summary":
                default = "text/plain" if self.atom else "text/html"
                element = "summary" if self.atom else "description"
                description = self.pop(element, self.text(child), self.content_type(child, default))
            elif group == "content":
                if "src" in child.attrib:
                    raise _Declined("content with src")
                default = "text/plain" if self.atom else "text/html"
                content = self.pop("content", self.text(child), self.content_type(child, default))
            elif group == "id":
                guidislink = self.guid(child, entry)
            elif group == "author":
                entry["author"] = self.author(child)
            elif group == "language":
                if child.attrib:
                    raise _Declined("language attributes")
                entry["language"] = self.pop("language", self.text(child), None)[0]
        if guidislink and "link" not in entry:
            entry["link"] = entry["id"]
        if content is not None:
            value, ctype = content
            entry["content"] = [{"type": ctype, "value": value}]
            if ctype in _HTML_TYPES or ctype == "text/plain":
                entry["summary"] = value
        if description is not None:
            value, ctype = description
            entry["summary"] = value
            entry["summary_detail"] = {"type": ctype, "value": value}
        return entry

    # -- element rules -------------------------------------------------------------------

    def link(self, child: ET.Element, entry: dict[str, Any]) -> None:
        """feedparser's `_start_link` / `_end_link` in an entry."""
        if len(child):
            raise _Declined("link with child elements")
        attrs = self.attrs(child)
        attrs.setdefault("rel", "alternate")
        if attrs["rel"] == "self":
            attrs.setdefault("type", "application/atom+xml")
        else:
            attrs.setdefault("type", "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        if "href" in attrs:
            attrs["href"] = self.urljoin(attrs["href"])
        entry["links"].append(attrs)
        if "href" in attrs:
            if attrs["rel"] == "alternate" and _map_type(attrs["type"]) in _HTML_TYPES:
                entry["link"] = attrs["href"]
            return
        value = self.pop("link", self.text(child), None)[0]
        if "&" in value:
            value = _QUERY_ENTITY.sub(r"&\g<1>", value.replace("&amp;", "&"))
        entry["link"] = value
        if value:
            attrs["href"] = value

    def guid(self, child: ET.Element, entry: dict[str, Any]) -> bool:
        attrs = self.attrs(child)
        if set(attrs) - {"ispermalink"}:
            raise _Declined("guid attributes")
        guidislink = attrs.get("ispermalink", "true") == "true"
        entry["id"] = self.pop("id", self.text(child), None, guidislink=guidislink)[0]
        return guidislink

    def author(self, child: ET.Element) -> str:
        """RSS author/dc:creator text, or Atom `name (email)` as feedparser syncs it."""
        own = self.pop("author", (child.text or "") if len(child) else self.text(child), None)[0]
        detail: dict[str, str] = {}
        for part in child:
            name = self.name(part.tag)
            if name not in ("name", "email", "uri") or part.attrib or len(part):
                raise _Declined("unexpected author content")
            if (part.tail or "").strip():
                raise _Declined("text between author parts")
            if name in detail:
                raise _Declined("duplicate author part")
            detail[name] = (part.text or "").strip()
        if not detail:
            return own
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            return f"{name} ({email})"
        return name or email or own

    # -- feedparser's pop() --------------------------------------------------------------

    def pop(
        self, element: str, raw: str, ctype: str | None, *, guidislink: bool = False
    ) -> tuple[str, str]:
        """Text of a finished element as feedparser's `pop` leaves it, with its final type."""
        output = raw.strip()
        if element in _CAN_BE_RELATIVE and output and (element != "id" or guidislink):
            output = self.urljoin(output)
        if (
            ctype == "text/plain"
            and not self.atom
            and ("<" in output or "&" in output)  # looks_like_html needs a tag or an entity
            and _MIXIN.looks_like_html(output)
        ):
            ctype = "text/html"
        final = ctype or "text/html"
        if _map_type(final) in _HTML_TYPES and element in _CAN_CONTAIN:
            output = self.markup(output, final)
        # feedparser's mojibake fix, then its cp1252 map. Without a character in U+0080-U+00BF
        # neither can change the text: Latin-1 bytes of it are not UTF-8 (every non-ASCII
        # byte would be a lead byte with no continuation byte after it), and it has no C1.
        if not output.isascii() and _LATIN1_CONTINUATION.search(output):
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                output = output.encode("iso-8859-1").decode("utf-8")
            if _C1.search(output):
                output = output.translate(_cp1252)
        return output, final

    def urljoin(self, uri: str) -> str:
        """feedparser's `_urljoin(base, uri)`; a plain absolute URL is its own result."""
        if self.base_parses and _PLAIN_URL.fullmatch(uri):
            return uri
        return feedparser.urls._urljoin(self.base, uri)  # type: ignore[no-any-return]

    def markup(self, html: str, ctype: str) -> str:
        # HTML whose visible text feedparser's resolver + sanitizer provably leave unchanged
        # (monitor.sanitize.SIMPLE_HTML) skips them; anything else goes through them.
        if ("<" not in html and "&" not in html) or is_simple_html(html):
            return html
        html = feedparser.urls.resolve_relative_uris(html, self.base, "utf-8", ctype)
        return feedparser.sanitizer._sanitize_html(html, "utf-8", ctype)  # type: ignore[no-any-return]

    # -- helpers -------------------------------------------------------------------------

    def text(self, element: ET.Element) -> str:
        if len(element):
            raise _Declined("markup inside a text element")
        return element.text or ""

    def attrs(self, element: ET.Element) -> dict[str, str]:
        attrs: dict[str, str] = {}
        for key, value in element.attrib.items():
            if key[:1] == "{":
                raise _Declined("namespaced attribute")
            low = key.lower()
            if low in ("lang", "base") or low in attrs:
                raise _Declined("lang/base or duplicate attribute")
            attrs[low] = value.lower() if low in ("rel", "type") else value
        return attrs

    def content_type(self, element: ET.Element, default: str) -> str:
        if not element.attrib:  # the defaults are text/plain and text/html, mapped to themselves
            return default
        attrs = self.attrs(element)
        if set(attrs) - {"type"} or "mode" in attrs:
            raise _Declined("content attributes")
        ctype = _map_type(attrs.get("type", default))
        if ctype not in ("text/plain", "text/html"):
            raise _Declined(f"content type {ctype}")
        return ctype

    def detail_lang(self) -> str | None:
        return self.lang.replace("_", "-") if self.lang else self.lang


_RSS_ONLY = frozenset({"description", "content_encoded"})
_ATOM_ONLY = frozenset({"summary", "content"})
_GROUPS = {
    "title": "title",
    "description": "summary",
    "summary": "summary",
    "content_encoded": "content",
    "content": "content",
    "guid": "id",
    "id": "id",
    "author": "author",
    "dc_creator": "author",
    "dc_author": "author",
    "language": "language",
    "dc_language": "language",
}


def _map_type(content_type: str) -> str:
    if content_type in _HTML_TYPES or content_type == "text/plain":
        return content_type  # map_content_type leaves these as they are
    return _MIXIN.map_content_type(content_type)  # type: ignore[no-any-return]


def _parses(url: str) -> bool:
    """urllib.parse.urljoin can use `url` as a base (it raises ValueError for some)."""
    try:
        urllib.parse.urlparse(url)
    except ValueError:
        return False
    return True


def _parse_date(value: str) -> Any:
    """feedparser's `_parse_date(value)`: a 9-tuple in UTC or None."""
    found = _RFC822.fullmatch(value)
    if found is not None and feedparser.datetimes._date_handlers[:3] == _HANDLERS_BEFORE_RFC822:
        parsed = _rfc822(*found.groups())
        if parsed is not None:
            return parsed
    return feedparser.datetimes._parse_date(value)


def _rfc822(
    day: str, month: str, year: str, hour: str, minute: str, second: str,
    sign: str | None, zone_hours: str | None, zone_minutes: str | None,
) -> Any:  # fmt: skip
    """feedparser's `_parse_date_rfc822` for a string _RFC822 matched; None where it fails."""
    hours, minutes = (int(zone_hours), int(zone_minutes)) if zone_hours and zone_minutes else (0, 0)
    if sign == "-":
        hours, minutes = -hours, -minutes
    try:
        stamp = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
        if hours or minutes:
            stamp -= timedelta(minutes=minutes, hours=hours)
        return stamp.utctimetuple()
    except (ValueError, OverflowError):
        return None
