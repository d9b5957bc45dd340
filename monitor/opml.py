"""OPML import and export of feed lists. Pure: text in, text out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

__all__ = ["OpmlFeed", "parse_opml", "render_opml"]


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    name: str | None = None
    lang: str | None = None
    tags: tuple[str, ...] = ()


def parse_opml(text: str) -> list[OpmlFeed]:
    """Every outline with an xmlUrl; enclosing outlines' titles become tags."""
    if "<!ENTITY" in text or "<!DOCTYPE" in text:
        raise ValueError("OPML with a DTD or entities is refused (entity expansion attacks)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not valid OPML: {exc}") from exc
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ValueError("not an OPML document (no <opml><body>)")
    found: list[OpmlFeed] = []

    def walk(node: ET.Element, tags: tuple[str, ...]) -> None:
        for outline in node.findall("outline"):
            url = outline.get("xmlUrl") or outline.get("xmlurl")
            title = outline.get("title") or outline.get("text")
            if url:
                if url.startswith(("http://", "https://")):
                    own = tuple(t.strip() for t in (outline.get("category") or "").split(","))
                    all_tags = tuple(dict.fromkeys(t for t in (*tags, *own) if t))
                    found.append(OpmlFeed(url, title, outline.get("language"), all_tags))
            else:
                walk(outline, (*tags, title) if title else tags)

    walk(body, ())
    return found


def render_opml(feeds: Sequence[OpmlFeed], title: str = "Rasd feeds") -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        attrs = [f"type={quoteattr('rss')}", f"xmlUrl={quoteattr(feed.url)}"]
        if feed.name:
            attrs += [f"text={quoteattr(feed.name)}", f"title={quoteattr(feed.name)}"]
        if feed.lang:
            attrs.append(f"language={quoteattr(feed.lang)}")
        if feed.tags:
            attrs.append(f"category={quoteattr(','.join(feed.tags))}")
        lines.append(f"    <outline {' '.join(attrs)}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
