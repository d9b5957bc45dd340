"""Feed health: one classification of a feed's state, used by `rasd feeds list` / `status`,
the `rasd_feeds_unhealthy` metric and the feed-health ops alert. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["UNHEALTHY", "FeedHealth", "describe_age", "feed_state", "health_problem"]

# States that count as unhealthy (metric) once past the feed's threshold.
UNHEALTHY = ("failing", "silent", "gone")


@dataclass(frozen=True, slots=True)
class FeedHealth:
    enabled: bool
    consecutive_errors: int
    last_error: str | None
    last_success_at: datetime | None
    last_new_item_at: datetime | None
    created_at: datetime
    health_alerted_at: datetime | None
    disabled_reason: str | None = None

    @classmethod
    def of(cls, row: Any) -> FeedHealth:
        """From anything with the feed columns (a storage row)."""
        return cls(
            enabled=row.enabled,
            consecutive_errors=row.consecutive_errors,
            last_error=row.last_error,
            last_success_at=row.last_success_at,
            last_new_item_at=row.last_new_item_at,
            created_at=row.created_at,
            health_alerted_at=row.health_alerted_at,
            disabled_reason=row.disabled_reason,
        )


def describe_age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h"


def feed_state(feed: FeedHealth, now: datetime, threshold: timedelta) -> str:
    """ok | new | erroring (errors, within the threshold) | failing | silent | disabled | gone."""
    if not feed.enabled:
        return "gone" if feed.disabled_reason else "disabled"
    if feed.consecutive_errors:
        since = feed.last_success_at or feed.created_at
        return "failing" if now - since > threshold else "erroring"
    if feed.last_success_at is None:
        return "new"
    quiet_since = feed.last_new_item_at or feed.created_at
    return "silent" if now - quiet_since > threshold else "ok"


def health_problem(feed: FeedHealth, now: datetime, threshold: timedelta) -> str | None:
    """Why this feed needs an ops alert now, or None (healthy, disabled or already alerted)."""
    if feed.health_alerted_at is not None:
        return None
    state = feed_state(feed, now, threshold)
    if state == "failing":
        since = feed.last_success_at or feed.created_at
        never = "never succeeded" if feed.last_success_at is None else "failing"
        return (
            f"{never} for {describe_age(now - since)} "
            f"({feed.consecutive_errors} errors in a row): {feed.last_error or '?'}"
        )
    if state == "silent":
        quiet_since = feed.last_new_item_at or feed.created_at
        return f"silent: no new item for {describe_age(now - quiet_since)}"
    return None
