"""Items repository: insert-if-new (unique feed + guid, and keys of pruned items), history
for story warm-up and replay, retention."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    String,
    any_,
    bindparam,
    delete,
    exists,
    func,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from monitor.domain import Item
from storage.models import AlertRow, FeedRow, ItemRow, SeenKeyRow
from storage.prepared import run
from storage.upsert import insert_ignore, insert_ignore_many

__all__ = [
    "StoredItem",
    "add_item",
    "add_items_unmatched",
    "iter_items",
    "known_guids",
    "prune_items",
    "recent_guids",
    "set_story",
]


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    feed_id: int
    feed: str
    feed_tags: tuple[str, ...]
    item: Item
    story_id: int | None
    canonical_url: str | None
    fingerprint: Any
    entities: tuple[str, ...]
    fetched_at: datetime


def add_item(
    session: Session,
    feed_id: int,
    item: Item,
    now: datetime,
    *,
    canonical_url: str | None,
    fingerprint: Any = None,
    entities: tuple[str, ...] = (),
    pruned_checked: bool = False,
) -> int | None:
    """Store the item; return its id, or None if this feed already had that guid.

    `pruned_checked`: the caller already asked `known_guids` in this poll, so the keys of
    pruned items need not be looked up again."""
    if not pruned_checked:
        seen = session.scalar(
            select(exists().where(SeenKeyRow.feed_id == feed_id, SeenKeyRow.guid == item.guid))
        )
        if seen:
            return None
    return insert_ignore(
        session,
        ItemRow.__table__,  # type: ignore[arg-type]
        {
            "feed_id": feed_id,
            "guid": item.guid,
            "url": item.url,
            "canonical_url": canonical_url,
            "title": item.title,
            "summary": item.summary,
            "lang": item.lang,
            "published_at": item.published,
            "fetched_at": now,
            "fingerprint": fingerprint,
            "entities": list(entities),
        },
    )


def add_items_unmatched(
    session: Session,
    feed_id: int,
    entries: list[tuple[Item, str | None, tuple[str, ...]]],
    now: datetime,
) -> None:
    """Store items known to be new that fired no rule, in one statement: (item, canonical
    URL, entities) each. A guid another replica stored meanwhile is skipped."""
    insert_ignore_many(
        session,
        ItemRow.__table__,  # type: ignore[arg-type]
        [
            {
                "feed_id": feed_id,
                "guid": item.guid,
                "url": item.url,
                "canonical_url": canonical,
                "title": item.title,
                "summary": item.summary,
                "lang": item.lang,
                "published_at": item.published,
                "fetched_at": now,
                "fingerprint": None,
                "entities": list(entities),
                "story_id": None,
            }
            for item, canonical, entities in entries
        ],
    )


_SET_STORY = (
    update(ItemRow.__table__)
    .where(ItemRow.__table__.c.id == bindparam("item"))
    .values(story_id=bindparam("story"))
)


def set_story(session: Session, item_id: int, story_id: int) -> None:
    run(session, _SET_STORY, {"item": item_id, "story": story_id})


def iter_items(
    session: Session, since: datetime, *, batch: int = 1000, in_stories: bool = False
) -> Iterator[StoredItem]:
    """Items fetched since `since`, oldest first (only those in a story, with in_stories)."""
    query = (
        select(ItemRow, FeedRow.name, FeedRow.tags)
        .join(FeedRow, FeedRow.id == ItemRow.feed_id)
        .where(ItemRow.fetched_at >= since)
        .where(ItemRow.story_id.is_not(None) if in_stories else true())
        .order_by(ItemRow.id)
        .execution_options(yield_per=batch)
    )
    for row, feed_name, feed_tags in session.execute(query):
        yield StoredItem(
            id=row.id,
            feed_id=row.feed_id,
            feed=feed_name,
            feed_tags=tuple(feed_tags or ()),
            item=Item(
                guid=row.guid,
                url=row.url,
                title=row.title,
                summary=row.summary,
                published=row.published_at,
                lang=row.lang,
            ),
            story_id=row.story_id,
            canonical_url=row.canonical_url,
            fingerprint=row.fingerprint,
            entities=tuple(row.entities or ()),
            fetched_at=row.fetched_at,
        )


def prune_items(session: Session, before: datetime, now: datetime) -> int:
    """Delete items fetched before `before` that no alert points at; keep their dedup keys."""
    alerted = select(AlertRow.item_id).where(AlertRow.item_id.is_not(None))
    old = select(ItemRow.id, ItemRow.feed_id, ItemRow.guid).where(
        ItemRow.fetched_at < before, ItemRow.id.not_in(alerted)
    )
    rows = session.execute(old).all()
    for _id, feed_id, guid in rows:
        insert_ignore(
            session,
            SeenKeyRow.__table__,  # type: ignore[arg-type]
            {"feed_id": feed_id, "guid": guid, "pruned_at": now},
        )
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), 500):
        session.execute(delete(ItemRow).where(ItemRow.id.in_(ids[start : start + 500])))
    return len(ids)


@cache
def _known_guids(dialect: str) -> Any:
    """Built once per dialect. The guids travel as one array parameter (a JSON text on
    SQLite, read with json_each), not as an expanding IN list, which SQLAlchemy re-renders
    on every call; on table columns, so it also skips the ORM execution path."""
    guids: Any
    if dialect == "postgresql":
        guids = any_(bindparam("guids", type_=postgresql.ARRAY(String)))
    else:
        guids = select(func.json_each(bindparam("guids")).table_valued("value").c.value)
    return union_all(
        *(
            select(table.c.guid).where(
                table.c.feed_id == bindparam("feed"),
                table.c.guid == guids if dialect == "postgresql" else table.c.guid.in_(guids),
            )
            for table in (ItemRow.__table__, SeenKeyRow.__table__)
        )
    )


def known_guids(session: Session, feed_id: int, guids: list[str]) -> set[str]:
    """Which of these guids this feed already has (stored, or pruned but remembered)."""
    dialect = session.get_bind().dialect.name
    statement = _known_guids(dialect)
    known: set[str] = set()
    for start in range(0, len(guids), 500):
        chunk = guids[start : start + 500]
        listed = chunk if dialect == "postgresql" else json.dumps(chunk)
        rows, _ = run(session, statement, {"feed": feed_id, "guids": listed})
        known.update(guid for (guid,) in rows)
    return known


def recent_guids(
    session: Session, feed_ids: Collection[int], since: datetime, per_feed: int
) -> dict[int, list[str]]:
    """The guids of each feed's newest items (at most `per_feed`) among those stored since
    `since`; feeds without such items are left out. One range scan of the fetched_at index,
    so start-up reads the recent items, not the whole retention window."""
    newest: dict[int, deque[str]] = {}
    rows, _ = run(session, _recent_items(), {"since": since})
    for feed_id, guid in rows:
        if feed_id in feed_ids:
            kept = newest.get(feed_id)
            if kept is None:
                kept = newest[feed_id] = deque(maxlen=per_feed)
            kept.append(guid)
    return {feed_id: list(kept) for feed_id, kept in newest.items()}


@cache
def _recent_items() -> Any:
    return (
        select(ItemRow.feed_id, ItemRow.guid)
        .where(ItemRow.fetched_at >= bindparam("since"))
        .order_by(ItemRow.fetched_at, ItemRow.id)
    )
