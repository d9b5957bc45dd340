"""insert_ignore_many (driver SQL with SQLAlchemy's bind processors) stores exactly what a
plain SQLAlchemy executemany stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import select, text

from storage import feeds as feed_repo
from storage.models import ItemRow
from storage.upsert import _insert, insert_ignore_many
from tests.storage.test_repositories import NOW, feed, sessions_for

COLUMNS = "guid, url, title, published_at, fetched_at, fingerprint, entities, story_id"


def _rows(feed_id: int, prefix: str) -> list[dict[str, object]]:
    paris = timezone(timedelta(hours=1))
    return [
        {
            "feed_id": feed_id,
            "guid": f"{prefix}{i}",
            "url": None if i % 2 else f"https://x/{i}?q=%25",
            "title": "عنوان مالي « é »",
            "summary": "s" * i,
            "published_at": None if i == 1 else (NOW + timedelta(minutes=i)).astimezone(paris),
            "fetched_at": NOW,
            "fingerprint": None if i % 3 else {"v": [i, 2**31]},
            "entities": ["place:gao", "actor:jnim"][: i % 3],
            "story_id": None,
        }
        for i in range(5)
    ]


def test_insert_ignore_many_stores_what_sqlalchemy_stores(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        feed_id = feed_repo.list_feeds(s)[0].id
        table = ItemRow.__table__
        s.execute(_insert(s.get_bind().dialect.name, table, False), _rows(feed_id, "a"))  # type: ignore[arg-type]
        insert_ignore_many(s, table, _rows(feed_id, "b"))  # type: ignore[arg-type]
        # Guids the feed already has are skipped, the rest inserted.
        again = _rows(feed_id, "b")[:2] + _rows(feed_id, "c")[:1]
        insert_ignore_many(s, table, again)  # type: ignore[arg-type]
    with sessions.begin() as s:
        raw = {
            row[0]: row[1:] for row in s.execute(text(f"SELECT {COLUMNS} FROM items ORDER BY id"))
        }
        loaded = {row.guid: row for row in s.scalars(select(ItemRow))}
    assert sorted(raw) == ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4", "c0"]
    for i in range(5):  # same bytes in the database, same values read back
        assert raw[f"b{i}"][1:] == raw[f"a{i}"][1:]
        a, b = loaded[f"a{i}"], loaded[f"b{i}"]
        assert (b.published_at, b.fetched_at, b.fingerprint, b.entities) == (
            a.published_at,
            a.fetched_at,
            a.fingerprint,
            a.entities,
        )
    assert loaded["b2"].published_at == NOW + timedelta(minutes=2)
    assert loaded["b0"].fingerprint == {"v": [0, 2**31]}
