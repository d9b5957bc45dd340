"""Feed discovery: the feeds an HTML page advertises with <link rel="alternate">. Pure."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

__all__ = ["FEED_TYPES", "discover_feeds"]

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "text/xml",
    "application/xml",
)


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str | None, str]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and values.get("href"):
            self.base = values["href"]
        if tag != "link":
            return
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and values.get("href"):
            self.found.append((values["href"], values.get("title") or None, kind))


def discover_feeds(html: str, page_url: str) -> list[tuple[str, str | None]]:
    """(absolute http(s) URL, title) of each advertised feed, in page order, no duplicates."""
    finder = _LinkFinder()
    finder.feed(html)
    base = urljoin(page_url, finder.base) if finder.base else page_url
    out: dict[str, str | None] = {}
    for href, title, _kind in finder.found:
        url = urljoin(base, href.strip())
        if url.startswith(("http://", "https://")):
            out.setdefault(url, title)
    return list(out.items())
