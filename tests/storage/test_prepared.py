"""storage.prepared.run gives what Session.execute gives: column defaults, literal values,
bind and result conversion, RETURNING and row counts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, insert, select, update

from storage.models import DeliveryRow, StoryRow
from storage.prepared import run
from storage.upsert import insert_ignore
from tests.storage.test_repositories import NOW, sessions_for

STORIES = StoryRow.__table__
ADD = insert(STORIES).returning(STORIES.c.id, STORIES.c.sources, STORIES.c.first_seen)
READ = select(STORIES.c.sources, STORIES.c.last_seen, STORIES.c.title).where(
    STORIES.c.id == bindparam("story")
)
TOUCH = (
    update(STORIES)
    .where(STORIES.c.last_seen < bindparam("now"))
    .values(last_seen=bindparam("now"), lang="xx")
)


def test_prepared_statements_match_session_execute(db_url: str) -> None:
    sessions = sessions_for(db_url)
    values = {
        "title": "عنوان « é »",
        "lang": None,
        "first_seen": NOW,
        "last_seen": NOW,
        "sources": ["A", "B"],
    }
    with sessions.begin() as s:
        ((story, sources, first_seen),), count = run(s, ADD, values)
        assert (sources, first_seen, count) == (["A", "B"], NOW, 1)
        expected = s.execute(READ, {"story": story}).one()
        assert run(s, READ, {"story": story})[0] == [tuple(expected)]
        assert tuple(expected) == (["A", "B"], NOW, "عنوان « é »")
        assert run(s, READ, {"story": story + 1})[0] == []
        later = NOW + timedelta(hours=1)
        assert run(s, TOUCH, {"now": later}) == ([], 1)
        assert run(s, TOUCH, {"now": later}) == ([], 0)  # nothing older any more
        assert s.execute(select(STORIES.c.lang, STORIES.c.last_seen)).one() == ("xx", later)
        # Column defaults (mode, route, seq, ...) are filled in as an ORM insert would.
        from storage.alerts import add_health_alert

        alert = add_health_alert(s, feed="A", url="http://x", problem="down", now=NOW)
        delivery = insert_ignore(
            s,
            DeliveryRow.__table__,  # type: ignore[arg-type]
            {"alert_id": alert, "channel": "c", "next_attempt_at": NOW, "created_at": NOW},
        )
        row = s.get_one(DeliveryRow, delivery)
        assert (row.mode, row.route, row.seq, row.status, row.attempts, row.rolled_up) == (
            "immediate",
            0,
            0,
            "pending",
            0,
            False,
        )
        again = {"alert_id": alert, "channel": "c", "next_attempt_at": NOW, "created_at": NOW}
        assert insert_ignore(s, DeliveryRow.__table__, again) is None  # type: ignore[arg-type]
