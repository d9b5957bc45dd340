from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.health import FeedHealth, feed_state, health_problem

NOW = datetime(2025, 11, 11, 12, tzinfo=UTC)
DAY = timedelta(hours=24)


def feed(**kw: object) -> FeedHealth:
    base: dict[str, object] = {
        "enabled": True,
        "consecutive_errors": 0,
        "last_error": None,
        "last_success_at": NOW - timedelta(hours=1),
        "last_new_item_at": NOW - timedelta(hours=1),
        "created_at": NOW - timedelta(days=30),
        "health_alerted_at": None,
    }
    base.update(kw)
    return FeedHealth(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, None),
        (
            {
                "consecutive_errors": 3,
                "last_error": "timeout",
                "last_success_at": NOW - timedelta(hours=2),
            },
            None,
        ),
        (
            {
                "consecutive_errors": 40,
                "last_error": "http-503",
                "last_success_at": NOW - timedelta(hours=30),
            },
            "failing for 30 h (40 errors in a row): http-503",
        ),
        (
            {
                "consecutive_errors": 9,
                "last_error": "connect",
                "last_success_at": None,
                "last_new_item_at": None,
            },
            "never succeeded for 30.0 days (9 errors in a row): connect",
        ),
        ({"last_new_item_at": NOW - timedelta(days=3)}, "silent: no new item for 3.0 days"),
        ({"last_new_item_at": NOW - timedelta(days=3), "health_alerted_at": NOW}, None),
        ({"enabled": False, "consecutive_errors": 5, "last_success_at": None}, None),
    ],
)
def test_health_problem(state: dict[str, object], expected: str | None) -> None:
    assert health_problem(feed(**state), NOW, DAY) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, "ok"),
        ({"consecutive_errors": 1, "last_success_at": NOW - timedelta(hours=2)}, "erroring"),
        ({"consecutive_errors": 9, "last_success_at": NOW - timedelta(hours=30)}, "failing"),
        ({"last_success_at": None, "last_new_item_at": None}, "new"),
        ({"last_new_item_at": NOW - timedelta(days=3)}, "silent"),
        ({"enabled": False}, "disabled"),
        ({"enabled": False, "disabled_reason": "HTTP 410 Gone"}, "gone"),
    ],
)
def test_feed_state_is_the_one_classification(state: dict[str, object], expected: str) -> None:
    """The same states drive `rasd feeds list`, the unhealthy metric and the ops alert."""
    assert feed_state(feed(**state), NOW, DAY) == expected
