"""Repositories against real SQLite files and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import FeedConfig
from monitor.domain import Item, Match, TermHit
from storage import alerts as alert_repo
from storage import deliveries as delivery_repo
from storage import feeds as feed_repo
from storage import items as item_repo
from storage.db import create_db_engine, ensure_schema, make_sessionmaker

NOW = datetime(2025, 11, 11, 12, 0, tzinfo=UTC)


def sessions_for(url: str) -> sessionmaker[Session]:
    engine = create_db_engine(url)
    ensure_schema(engine)
    return make_sessionmaker(engine)


def feed(url: str = "http://127.0.0.1/a.xml", **kw: object) -> FeedConfig:
    return FeedConfig(url=url, name=kw.pop("name", "A"), **kw)  # type: ignore[arg-type]


def test_sync_adds_updates_and_retires_feeds(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        report = feed_repo.sync_feeds(s, [feed(), feed("http://127.0.0.1/b.xml", name="B")], NOW)
    assert (report.added, report.updated) == (2, 0)
    with sessions.begin() as s:
        report = feed_repo.sync_feeds(s, [feed(name="A renamed")], NOW)
    assert (report.added, report.updated, report.removed) == (0, 1, 1)
    with sessions.begin() as s:
        rows = {r.source_url: r for r in feed_repo.list_feeds(s)}
    assert rows["http://127.0.0.1/a.xml"].name == "A renamed"
    assert rows["http://127.0.0.1/b.xml"].enabled is False


def test_claim_leases_each_feed_once(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        feed_repo.sync_feeds(
            s, [feed(f"http://127.0.0.1/{i}.xml", name=str(i)) for i in range(5)], NOW
        )
    with sessions.begin() as s:
        first = feed_repo.claim_due(s, NOW, owner="a", lease=timedelta(minutes=5), limit=3)
    with sessions.begin() as s:
        second = feed_repo.claim_due(s, NOW, owner="b", lease=timedelta(minutes=5), limit=10)
    assert len(first) == 3 and len(second) == 2
    assert not {f.id for f in first} & {f.id for f in second}
    later = NOW + timedelta(minutes=6)  # leases expired: a dead replica's feeds come back
    with sessions.begin() as s:
        third = feed_repo.claim_due(s, later, owner="c", lease=timedelta(minutes=5), limit=10)
    assert len(third) == 5


def test_a_dead_replicas_feeds_are_claimed_before_other_due_feeds(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        feed_repo.sync_feeds(
            s, [feed(f"http://127.0.0.1/{i}.xml", name=str(i)) for i in range(6)], NOW
        )
    lease = timedelta(minutes=5)
    with sessions.begin() as s:  # "dead" leases the last two feeds, and then never finishes
        busy = feed_repo.claim_due(s, NOW, owner="alive", lease=lease, limit=4)
        abandoned = feed_repo.claim_due(s, NOW, owner="dead", lease=lease, limit=2)
        feed_repo.release(s, [f.id for f in busy], "alive")
    assert max(f.id for f in busy) < min(f.id for f in abandoned)  # last in the usual order
    later = NOW + timedelta(minutes=6)
    with sessions.begin() as s:
        first = feed_repo.claim_due(s, later, owner="b", lease=timedelta(minutes=5), limit=2)
    assert {f.id for f in first} == {f.id for f in abandoned}


def test_poll_outcomes_move_next_poll_and_count_errors(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        (state,) = feed_repo.claim_due(s, NOW, owner="a", lease=timedelta(minutes=5), limit=1)
    with sessions.begin() as s:
        assert (
            feed_repo.mark_error(
                s,
                state.id,
                NOW,
                reason="timeout",
                message="slow",
                next_poll_at=NOW + timedelta(minutes=2),
            )
            == 1
        )
        assert (
            feed_repo.mark_error(
                s,
                state.id,
                NOW,
                reason="timeout",
                message="slow",
                next_poll_at=NOW + timedelta(minutes=4),
            )
            == 2
        )
    with sessions.begin() as s:
        feed_repo.mark_success(
            s,
            state.id,
            NOW,
            next_poll_at=NOW + timedelta(minutes=15),
            etag='"x"',
            last_modified=None,
            new_url="http://127.0.0.1/new.xml",
        )
        row = feed_repo.get_feed(s, state.id)
        assert row is not None
        assert (row.consecutive_errors, row.etag, row.url) == (0, '"x"', "http://127.0.0.1/new.xml")
        assert row.source_url == "http://127.0.0.1/a.xml"


def test_items_are_unique_per_feed_and_pruning_keeps_keys(db_url: str) -> None:
    sessions = sessions_for(db_url)
    item = Item(guid="g1", url="https://x/1", title="t", summary="s", published=NOW)
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        feed_id = feed_repo.list_feeds(s)[0].id
        assert item_repo.add_item(s, feed_id, item, NOW, canonical_url="https://x/1") is not None
        assert item_repo.add_item(s, feed_id, item, NOW, canonical_url="https://x/1") is None
    with sessions.begin() as s:
        assert item_repo.prune_items(s, NOW + timedelta(days=1), NOW) == 1
    with sessions.begin() as s:  # republished after pruning: still not new
        assert item_repo.add_item(s, feed_id, item, NOW, canonical_url="https://x/1") is None
        second = Item(guid="g2", url=None, title="t2", summary="s", published=NOW)
        item_repo.add_items_unmatched(s, feed_id, [(second, None, ())], NOW)
    with sessions.begin() as s:  # stored (g2) and pruned (g1) guids are both known
        guids = ["g1", "g2", "g3"] + [f"x{i}" for i in range(600)]  # more than one chunk
        assert item_repo.known_guids(s, feed_id, guids) == {"g1", "g2"}
        assert item_repo.known_guids(s, feed_id + 1, guids) == set()


def _match(rule: str = "r1", severity: str = "high") -> Match:
    return Match(
        rule, "Rule", severity, ("security",), 1.0, (TermHit("مالي", "title", 0, 4, "مالي"),)
    )


def test_one_alert_per_rule_and_story_with_growing_sources(db_url: str) -> None:
    sessions = sessions_for(db_url)
    item = Item(guid="g1", url="https://x/1", title="مالي", summary="", published=NOW, lang="ar")
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        feed_id = feed_repo.list_feeds(s)[0].id
        item_id = item_repo.add_item(s, feed_id, item, NOW, canonical_url=None)
        assert item_id is not None
        story = alert_repo.add_story(s, item, "A", NOW)
        alert_id, created = alert_repo.get_or_add_alert(
            s,
            _match(),
            story_id=story,
            item_id=item_id,
            item=item,
            feed="A",
            sources=["A"],
            now=NOW,
        )
        again, created_again = alert_repo.get_or_add_alert(
            s,
            _match(),
            story_id=story,
            item_id=item_id,
            item=item,
            feed="B",
            sources=["A"],
            now=NOW,
        )
        assert created and not created_again and again == alert_id
        assert alert_repo.add_story_source(s, story, "B", NOW) == (["A", "B"], [alert_id])
        assert alert_repo.add_story_source(s, story, "B", NOW) == (["A", "B"], [])
    with sessions.begin() as s:
        alert = alert_repo.get_alerts(s, [alert_id]).get(alert_id)
        assert alert is not None
        assert alert.sources == ("A", "B")
        assert alert.hits[0].text == "مالي"
        assert alert_repo.get_alerts(s, [alert_id, alert_id + 1000, alert_id]) == {alert_id: alert}
        assert alert_repo.get_alerts(s, []) == {}


def test_outbox_order_head_of_line_and_dead(db_url: str) -> None:
    sessions = sessions_for(db_url)
    item = Item(guid="g", url=None, title="t", summary="", published=None)
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        feed_id = feed_repo.list_feeds(s)[0].id
        ids = []
        for n in range(3):
            item_id = item_repo.add_item(
                s, feed_id, Item(f"g{n}", None, "t", "", None), NOW, canonical_url=None
            )
            assert item_id is not None
            story = alert_repo.add_story(s, item, "A", NOW)
            alert_id, _ = alert_repo.get_or_add_alert(
                s,
                _match(f"r{n}"),
                story_id=story,
                item_id=item_id,
                item=item,
                feed="A",
                sources=["A"],
                now=NOW,
            )
            plan = [delivery_repo.PlannedDelivery("chat", "immediate", 0, NOW)]
            assert delivery_repo.add_deliveries(s, alert_id, plan + plan, NOW) == 1
            ids.append(alert_id)
    lease = timedelta(minutes=1)
    with sessions.begin() as s:
        claimed = delivery_repo.claim_channel(
            s, "chat", NOW, mode="immediate", owner="a", lease=lease, limit=10
        )
        assert [d.alert_id for d in claimed] == ids
        delivery_repo.mark_failed(
            s, [claimed[0].id], NOW, error="500", next_attempt_at=NOW + timedelta(minutes=5)
        )
        delivery_repo.release_leases(s, [d.id for d in claimed[1:]])
    with sessions.begin() as s:  # the head waits for its retry, so nothing overtakes it
        assert (
            delivery_repo.claim_channel(
                s,
                "chat",
                NOW + timedelta(minutes=1),
                mode="immediate",
                owner="a",
                lease=lease,
                limit=10,
            )
            == []
        )
    with sessions.begin() as s:
        delivery_repo.mark_failed(s, [claimed[0].id], NOW, error="gone", next_attempt_at=None)
        dead = delivery_repo.list_deliveries(s, status="dead")
        assert [d.id for d in dead] == [claimed[0].id]
        assert delivery_repo.requeue(s, claimed[0].id, NOW)
        assert delivery_repo.list_deliveries(s, status="dead") == []


def test_reader_sessions_do_not_wait_for_the_writer(tmp_path: object) -> None:
    """A read-only session (BEGIN DEFERRED) sees committed data while a writer holds the
    SQLite write lock, instead of queueing behind it as BEGIN IMMEDIATE would."""
    from pathlib import Path

    from storage.db import SQLITE_BUSY_TIMEOUT_MS, reader_of

    assert SQLITE_BUSY_TIMEOUT_MS >= 1000
    sessions = sessions_for(f"sqlite:///{Path(str(tmp_path)) / 'r.db'}")
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
    readers = reader_of(sessions)
    with sessions.begin() as writer:
        feed_repo.sync_feeds(writer, [feed(name="renamed, not committed")], NOW)
        writer.flush()
        started = datetime.now(UTC)
        with readers.begin() as reader:
            names = [row.name for row in feed_repo.list_feeds(reader)]
        waited = datetime.now(UTC) - started
    assert names == ["A"]
    assert waited < timedelta(seconds=1)
