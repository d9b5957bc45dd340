"""items.known_guids with guids that JSON or SQL could mangle, and items.recent_guids, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from monitor.domain import Item
from storage import feeds as feed_repo
from storage import items as item_repo
from tests.storage.test_repositories import NOW, feed, sessions_for

AWKWARD = [
    "12345",
    "1e3",
    "true",
    "null",
    'with "quotes" and \\backslash\\',
    "tag:site,2025:/a?b=1&c=%20",
    "مالي «غاو»",
    "  padded  ",
    "line\nbreak",
    "",
]


def test_known_guids_finds_exactly_the_stored_ones(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        feed_id = feed_repo.list_feeds(s)[0].id
        stored = [Item(guid=g, url=None, title="t", summary="s", published=NOW) for g in AWKWARD]
        item_repo.add_items_unmatched(s, feed_id, [(i, None, ()) for i in stored[::2]], NOW)
    asked = [*AWKWARD, "1000", "TRUE", "padded", "مالي"]
    with sessions.begin() as s:
        assert item_repo.known_guids(s, feed_id, asked) == set(AWKWARD[::2])
        assert item_repo.known_guids(s, feed_id, []) == set()


def test_recent_guids_are_each_feeds_newest_items_since(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        assert item_repo.recent_guids(s, {1, 2}, NOW, per_feed=3) == {}  # no item at all yet
        specs = [feed(), feed("http://127.0.0.1/b.xml", name="B"), feed("http://127.0.0.1/c.xml")]
        feed_repo.sync_feeds(s, specs, NOW)
        a, b, c = (row.id for row in feed_repo.list_feeds(s))
        batches = [
            (a, ["a0"], NOW - timedelta(days=5)),  # before `since`
            (a, ["a1", "a2"], NOW),
            (b, ["b1", "b2", "b3"], NOW),
            (a, ["a3", "a4"], NOW + timedelta(hours=1)),
            (c, ["c1"], NOW),  # a feed not asked about
        ]
        for feed_id, guids, when in batches:
            items = [Item(guid=g, url=None, title="t", summary="s", published=NOW) for g in guids]
            item_repo.add_items_unmatched(s, feed_id, [(i, None, ()) for i in items], when)
    with sessions.begin() as s:
        recent = item_repo.recent_guids(s, {a, b}, NOW - timedelta(days=1), per_feed=3)
    assert {k: sorted(v) for k, v in recent.items()} == {
        a: ["a2", "a3", "a4"],
        b: ["b1", "b2", "b3"],
    }
