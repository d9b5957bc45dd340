"""Feeds repository: config sync, leases on due feeds, poll outcomes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Update, bindparam, case, func, insert, null, or_, select, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from monitor.domain import FeedState
from storage.models import FeedRow, ItemRow
from storage.prepared import run

__all__ = [
    "FeedSpec",
    "add_feed",
    "claim_due",
    "get_feed",
    "items_since",
    "list_feeds",
    "mark_error",
    "mark_health_alerted",
    "mark_success",
    "release",
    "renew_leases",
    "sync_feeds",
]


class FeedSpec(Protocol):
    url: str
    lang: str | None
    tags: tuple[str, ...]
    enabled: bool
    encoding: str | None

    @property
    def display_name(self) -> str: ...

    @property
    def interval(self) -> timedelta | None: ...


@dataclass(frozen=True, slots=True)
class SyncReport:
    added: int
    updated: int
    removed: int


def _state(row: FeedRow) -> FeedState:
    return FeedState(
        id=row.id,
        url=row.url,
        name=row.name,
        lang=row.lang,
        etag=row.etag,
        last_modified=row.last_modified,
        encoding=row.encoding,
        tags=tuple(row.tags or ()),
    )


def sync_feeds(session: Session, specs: Sequence[FeedSpec], now: datetime) -> SyncReport:
    """Make the feeds table follow the config: add new feeds (due now), update names and
    options, take feeds that left the config out of rotation (their items stay)."""
    rows = {row.source_url: row for row in session.scalars(select(FeedRow))}
    updated = 0
    # New feeds go in with one executemany: through the unit of work, a first start with
    # 2,000 feeds spent ~0.3 s of start-up flushing them.
    new: list[dict[str, object]] = []
    for spec in specs:
        interval_s = int(spec.interval.total_seconds()) if spec.interval else None
        row = rows.pop(spec.url, None)
        if row is None:
            new.append(
                {
                    "source_url": spec.url,
                    "url": spec.url,
                    "name": spec.display_name,
                    "lang": spec.lang,
                    "tags": list(spec.tags),
                    "encoding": spec.encoding,
                    "enabled": spec.enabled,
                    "in_config": True,
                    "origin": "config",
                    "interval_s": interval_s,
                    "next_poll_at": now,
                    "consecutive_errors": 0,
                    "items_total": 0,
                    "created_at": now,
                }
            )
            continue
        changed = (
            row.name != spec.display_name
            or row.lang != spec.lang
            or list(row.tags or []) != list(spec.tags)
            or row.encoding != spec.encoding
            or row.interval_s != interval_s
            or not row.in_config
            or row.origin != "config"
            or (row.enabled != spec.enabled and row.disabled_reason is None)
        )
        if changed:
            row.name, row.lang, row.tags = spec.display_name, spec.lang, list(spec.tags)
            row.encoding, row.interval_s, row.in_config = spec.encoding, interval_s, True
            row.origin = "config"
            if row.disabled_reason is None:
                row.enabled = spec.enabled
            updated += 1
    removed = 0
    for row in rows.values():
        if row.origin == "config" and row.in_config:  # left rasd.yaml just now
            row.in_config = False
            row.enabled = False
            removed += 1
    if new:
        session.execute(insert(FeedRow.__table__), new)
    return SyncReport(len(new), updated, removed)


def add_feed(
    session: Session,
    url: str,
    now: datetime,
    *,
    name: str,
    lang: str | None = None,
    tags: Sequence[str] = (),
) -> tuple[int, bool]:
    """A feed added by `rasd feeds add/import` (kept in the database, not in rasd.yaml).
    Returns (id, created); an existing feed with that URL is left as it is."""
    existing = session.scalar(
        select(FeedRow).where(or_(FeedRow.source_url == url, FeedRow.url == url))
    )
    if existing is not None:
        return existing.id, False
    row = FeedRow(
        source_url=url,
        url=url,
        name=name,
        lang=lang,
        tags=list(tags),
        enabled=True,
        in_config=False,
        origin="cli",
        next_poll_at=now,
        consecutive_errors=0,
        items_total=0,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row.id, True


def claim_due(
    session: Session,
    now: datetime,
    *,
    owner: str,
    lease: timedelta,
    limit: int,
    due_only: bool = True,
) -> list[FeedState]:
    """Lease up to `limit` enabled feeds whose turn has come (or all, with due_only=False).

    Feeds whose lease expired with its owner still named (a replica died or hung mid-poll)
    come first: when the survivors are busy, a dead replica's feeds still come back within
    one lease period rather than behind a whole round of due feeds.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so replicas never claim one feed twice.
    SQLite: the write transaction is BEGIN IMMEDIATE, which serialises claimers."""
    query = (
        select(FeedRow)
        .where(FeedRow.enabled.is_(True))
        .where(or_(FeedRow.lease_until.is_(None), FeedRow.lease_until < now))
        .order_by(FeedRow.lease_owner.is_(None), FeedRow.next_poll_at, FeedRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if due_only:
        query = query.where(FeedRow.next_poll_at <= now)
    rows = list(session.scalars(query))
    for row in rows:
        row.lease_until = now + lease
        row.lease_owner = owner
    return [_state(row) for row in rows]


def renew_leases(session: Session, feed_ids: Iterable[int], owner: str, until: datetime) -> int:
    """Extend the leases this replica still holds (its polls are alive); returns how many."""
    ids = list(feed_ids)
    if not ids:
        return 0
    result = session.execute(
        update(FeedRow)
        .where(FeedRow.id.in_(ids), FeedRow.lease_owner == owner)
        .values(lease_until=until)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release(session: Session, feed_ids: Iterable[int], owner: str) -> None:
    ids = list(feed_ids)
    if ids:
        session.execute(
            update(FeedRow)
            .where(FeedRow.id.in_(ids), FeedRow.lease_owner == owner)
            .values(lease_until=None, lease_owner=None)
        )


def mark_success(
    session: Session,
    feed_id: int,
    now: datetime,
    *,
    next_poll_at: datetime,
    etag: str | None,
    last_modified: str | None,
    new_url: str | None = None,
    new_items: int = 0,
) -> None:
    """Record a successful poll in one UPDATE (no ORM load and flush: this runs once per
    polled feed). A FeedRow already loaded in `session` is not refreshed. Raises
    NoResultFound if the feed does not exist."""
    statement = _mark_success(
        bool(new_items), etag is not None or last_modified is not None, bool(new_url)
    )
    _, count = run(
        session,
        statement,
        {
            "feed": feed_id,
            "now": now,
            "next_poll": next_poll_at,
            "new_etag": etag,
            "new_last_modified": last_modified,
            "new_url": new_url,
            "added": new_items,
        },
    )
    if not count:
        raise NoResultFound(f"feeds: no feed with id {feed_id}")


@cache
def _mark_success(new_items: bool, validators: bool, moved: bool) -> Update:
    """One prebuilt statement per combination of what changed (values are parameters,
    named apart from the columns: a parameter named like a column would also be SET)."""
    feeds = FeedRow.__table__
    values: dict[str, Any] = {
        "last_polled_at": bindparam("now"),
        "last_success_at": bindparam("now"),
        "consecutive_errors": 0,
        "next_poll_at": bindparam("next_poll"),
        "lease_until": None,
        "lease_owner": None,
        # Recovered or new items: a new outage alerts again. SET reads the old error count.
        "health_alerted_at": (
            null()
            if new_items
            else case((feeds.c.consecutive_errors != 0, null()), else_=feeds.c.health_alerted_at)
        ),
    }
    if validators:
        values["etag"] = bindparam("new_etag")
        values["last_modified"] = bindparam("new_last_modified")
    if moved:
        values["url"] = bindparam("new_url")
    if new_items:
        values["items_total"] = feeds.c.items_total + bindparam("added")
        values["last_new_item_at"] = bindparam("now")
    return update(feeds).where(feeds.c.id == bindparam("feed")).values(values)


def mark_error(
    session: Session,
    feed_id: int,
    now: datetime,
    *,
    reason: str,
    message: str,
    next_poll_at: datetime,
    disable: bool = False,
) -> int:
    """Record a failed poll; return the new count of consecutive errors."""
    row = session.get_one(FeedRow, feed_id)
    row.last_polled_at = row.last_error_at = now
    row.consecutive_errors += 1
    row.last_error, row.last_error_reason = message[:2000], reason
    row.next_poll_at = next_poll_at
    row.lease_until = row.lease_owner = None
    if disable:
        row.enabled = False
        row.disabled_reason = message[:2000]
    return row.consecutive_errors


def mark_health_alerted(session: Session, feed_id: int, now: datetime) -> None:
    session.get_one(FeedRow, feed_id).health_alerted_at = now


def get_feed(session: Session, feed_id: int) -> FeedRow | None:
    return session.get(FeedRow, feed_id)


def list_feeds(session: Session) -> list[FeedRow]:
    return list(session.scalars(select(FeedRow).order_by(FeedRow.name)))


# On table columns, not mapped attributes: SQLAlchemy then skips its ORM execution path.
_ITEMS = ItemRow.__table__
_ITEMS_SINCE = select(func.count(_ITEMS.c.id)).where(
    _ITEMS.c.feed_id == bindparam("feed"), _ITEMS.c.fetched_at >= bindparam("since")
)


def items_since(session: Session, feed_id: int, since: datetime) -> int:
    rows, _ = run(session, _ITEMS_SINCE, {"feed": feed_id, "since": since})
    return int(rows[0][0] or 0)
