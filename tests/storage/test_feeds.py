"""feeds.mark_success: what one successful poll records, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import NoResultFound

from storage import feeds as feed_repo
from storage.models import FeedRow
from tests.storage.test_repositories import NOW, feed, sessions_for

LATER = NOW + timedelta(minutes=15)


def _row(sessions, feed_id: int) -> FeedRow:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        row = feed_repo.get_feed(s, feed_id)
        assert row is not None
        return row


@pytest.mark.parametrize("errors", [0, 3])
@pytest.mark.parametrize("new_items", [0, 4])
def test_mark_success_records_the_poll(db_url: str, errors: int, new_items: int) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        (state,) = feed_repo.claim_due(s, NOW, owner="a", lease=timedelta(minutes=5), limit=1)
        row = s.get_one(FeedRow, state.id)
        row.consecutive_errors, row.items_total = errors, 10
        row.health_alerted_at = NOW - timedelta(hours=1)
        row.etag, row.last_modified = '"old"', "Mon, 01 Jan 2024 00:00:00 GMT"
    with sessions.begin() as s:
        feed_repo.mark_success(
            s,
            state.id,
            LATER,
            next_poll_at=LATER + timedelta(minutes=20),
            etag=None,
            last_modified=None,  # no validators sent: the stored ones stay
            new_items=new_items,
        )
    row = _row(sessions, state.id)
    assert row.last_polled_at == row.last_success_at == LATER
    assert row.next_poll_at == LATER + timedelta(minutes=20)
    assert (row.consecutive_errors, row.lease_until, row.lease_owner) == (0, None, None)
    assert (row.etag, row.last_modified) == ('"old"', "Mon, 01 Jan 2024 00:00:00 GMT")
    assert row.url == "http://127.0.0.1/a.xml"
    assert row.items_total == 10 + new_items
    assert row.last_new_item_at == (LATER if new_items else None)
    # Recovered from errors, or new items: a later outage may alert again.
    recovered = errors or new_items
    assert row.health_alerted_at == (None if recovered else NOW - timedelta(hours=1))


def test_mark_success_replaces_both_validators_and_moves_the_url(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [feed()], NOW)
        feed_id = feed_repo.list_feeds(s)[0].id
        s.get_one(FeedRow, feed_id).last_modified = "Mon, 01 Jan 2024 00:00:00 GMT"
    with sessions.begin() as s:
        feed_repo.mark_success(
            s,
            feed_id,
            LATER,
            next_poll_at=LATER,
            etag='"new"',
            last_modified=None,
            new_url="http://127.0.0.1/moved.xml",
        )
    row = _row(sessions, feed_id)
    assert (row.etag, row.last_modified) == ('"new"', None)
    assert (row.source_url, row.url) == ("http://127.0.0.1/a.xml", "http://127.0.0.1/moved.xml")


def test_mark_success_on_a_missing_feed_raises(db_url: str) -> None:
    sessions = sessions_for(db_url)
    with pytest.raises(NoResultFound), sessions.begin() as s:
        feed_repo.mark_success(s, 12345, NOW, next_poll_at=LATER, etag=None, last_modified=None)
