"""Retention on a real SQLite file: 30 simulated days of traffic with the daily prune keep the
items table and the file size bounded, while alerts and the items they point at stay, and a
republished pruned item is still recognised as seen."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from monitor.domain import Item
from storage import items as item_repo
from storage.db import create_db_engine, ensure_schema, make_sessionmaker
from storage.models import AlertRow, FeedRow, ItemRow, SeenKeyRow, StoryRow

DAYS = 30
KEEP_DAYS = 7
FEEDS = 10
ITEMS_PER_FEED_PER_DAY = 30
SUMMARY = "Résumé de l'article : " + "texte " * 300  # ~1.8 kB, like a real feed summary


def test_thirty_days_of_traffic_stay_bounded(tmp_path: Path) -> None:
    db = tmp_path / "rasd.db"
    engine = create_db_engine(f"sqlite:///{db}")
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with sessions.begin() as session:
        for f in range(FEEDS):
            session.add(
                FeedRow(
                    source_url=f"http://127.0.0.1/{f}.xml",
                    url=f"http://127.0.0.1/{f}.xml",
                    name=f"F{f}",
                    tags=[],
                    next_poll_at=start,
                    consecutive_errors=0,
                    items_total=0,
                    created_at=start,
                )
            )
    alerted: list[int] = []
    sizes: dict[int, int] = {}
    for day in range(DAYS):
        now = start + timedelta(days=day)
        with sessions.begin() as session:
            for f in range(1, FEEDS + 1):
                for n in range(ITEMS_PER_FEED_PER_DAY):
                    item = Item(
                        guid=f"f{f}-d{day}-{n}",
                        url=f"http://example.org/{f}/{day}/{n}",
                        title=f"Titre {f} {day} {n}",
                        summary=SUMMARY,
                        published=now,
                        lang="fr",
                    )
                    item_id = item_repo.add_item(session, f, item, now, canonical_url=item.url)
                    assert item_id is not None
                    if n == 0 and f == 1:  # one alert a day
                        story = StoryRow(
                            title=item.title, lang="fr", first_seen=now, last_seen=now, sources=[]
                        )
                        session.add(story)
                        session.flush()
                        session.add(
                            AlertRow(
                                rule_id="r",
                                rule_title="R",
                                severity="high",
                                tags=[],
                                story_id=story.id,
                                item_id=item_id,
                                title=item.title,
                                summary=item.summary,
                                url=item.url,
                                feed="F1",
                                hits=[],
                                sources=[],
                                kind="rule",
                                created_at=now,
                                updated_at=now,
                            )
                        )
                        alerted.append(item_id)
        with sessions.begin() as session:  # the daily retention job
            item_repo.prune_items(session, now - timedelta(days=KEEP_DAYS), now)
        with closing(sqlite3.connect(db)) as raw:  # fold the WAL into the file to measure it
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes[day] = db.stat().st_size

    per_day = FEEDS * ITEMS_PER_FEED_PER_DAY
    with sessions.begin() as session:
        items = session.scalar(select(func.count(ItemRow.id))) or 0
        kept = set(session.scalars(select(ItemRow.id).where(ItemRow.id.in_(alerted))))
        alerts = session.scalar(select(func.count(AlertRow.id))) or 0
        seen = session.scalar(select(func.count(SeenKeyRow.id))) or 0
        # A pruned item published again is still known: no second alert.
        again = item_repo.add_item(
            session,
            2,
            Item(guid="f2-d0-5", url=None, title="t", summary="", published=None, lang="fr"),
            start + timedelta(days=DAYS),
            canonical_url=None,
        )
    assert items <= (KEEP_DAYS + 1) * per_day + DAYS, items
    assert kept == set(alerted) and alerts == DAYS, "alerts and their items are kept"
    assert seen == DAYS * per_day - items, "every pruned item leaves its dedup key"
    assert again is None
    steady = sizes[KEEP_DAYS + 2]
    growth = sizes[DAYS - 1] / steady
    print(
        f"\nretention: {DAYS * per_day} items over {DAYS} days, {items} kept; file "
        f"{steady / 2**20:.1f} MiB on day {KEEP_DAYS + 2}, {sizes[DAYS - 1] / 2**20:.1f} MiB "
        f"on day {DAYS - 1} (x{growth:.2f})"
    )
    # Freed pages are reused; only the small dedup keys keep growing.
    assert growth < 1.3, sizes
    engine.dispose()
