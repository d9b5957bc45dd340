"""items.known_guids with guids that JSON or SQL could mangle, on SQLite and PostgreSQL."""

from __future__ import annotations

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
