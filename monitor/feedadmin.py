"""`rasd feeds add / import / export`: feeds kept in the database beside those of rasd.yaml."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.config import Settings
from monitor.discover import discover_feeds
from monitor.domain import FeedState, ParsedFeed
from monitor.errors import FetchError, ParseError
from monitor.fetch import Fetcher, make_client
from monitor.opml import OpmlFeed, parse_opml, render_opml
from monitor.parse import parse_feed
from storage import feeds as feed_repo
from storage.db import open_sessions

__all__ = ["add_feed", "export_opml", "import_opml", "resolve_feed"]


async def resolve_feed(url: str) -> tuple[str, ParsedFeed]:
    """The feed at `url`, or the first working feed an HTML page at `url` advertises."""
    async with make_client() as client:
        fetcher = Fetcher(client)
        result = await fetcher.fetch(FeedState(id=0, url=url, name=url))
        try:
            return result.final_url, await parse_feed(result)
        except ParseError as exc:
            if exc.reason != "not-a-feed" or not result.body:
                raise
            page = result.body.decode("utf-8", errors="replace")
            candidates = discover_feeds(page, result.final_url)
            if not candidates:
                raise ParseError(
                    url, "not-a-feed", "an HTML page that advertises no feed"
                ) from None
            errors = []
            for candidate, _title in candidates:
                try:
                    found = await fetcher.fetch(FeedState(id=0, url=candidate, name=candidate))
                    return found.final_url, await parse_feed(found)
                except (FetchError, ParseError) as inner:
                    errors.append(f"{candidate}: {inner}")
            raise ParseError(url, "not-a-feed", "; ".join(errors)) from None


async def add_feed(
    settings: Settings, url: str, *, name: str | None, lang: str | None, tags: tuple[str, ...]
) -> str:
    feed_url, parsed = await resolve_feed(url)
    with open_sessions(settings.database).begin() as session:
        _id, created = feed_repo.add_feed(
            session,
            feed_url,
            datetime.now(UTC),
            name=name or parsed.title or feed_url,
            lang=lang or parsed.lang,
            tags=tags,
        )
    title = name or parsed.title or feed_url
    if not created:
        return f"already watched: {title} <{feed_url}>"
    return f"added: {title} <{feed_url}> ({len(parsed.items)} items now)"


def import_opml(settings: Settings, path: Path) -> tuple[int, int]:
    """Add every feed of an OPML file; returns (added, already present)."""
    feeds = parse_opml(path.read_text(encoding="utf-8"))
    added = present = 0
    now = datetime.now(UTC)
    with open_sessions(settings.database).begin() as session:
        for feed in feeds:
            _id, created = feed_repo.add_feed(
                session,
                feed.url,
                now,
                name=feed.name or feed.url,
                lang=feed.lang,
                tags=feed.tags,
            )
            added += created
            present += not created
    return added, present


def export_opml(settings: Settings) -> str:
    with open_sessions(settings.database).begin() as session:
        rows = feed_repo.list_feeds(session)
        feeds = [
            OpmlFeed(row.url, row.name, row.lang, tuple(row.tags or ()))
            for row in rows
            if row.enabled
        ]
    return render_opml(feeds)
