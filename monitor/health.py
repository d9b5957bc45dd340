"""Feed health: which feeds have failed or gone silent for longer than their threshold. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["FeedHealth", "describe_age", "health_problem"]


@dataclass(frozen=True, slots=True)
class FeedHealth:
    enabled: bool
    consecutive_errors: int
    last_error: str | None
    last_success_at: datetime | None
    last_new_item_at: datetime | None
    created_at: datetime
    health_alerted_at: datetime | None


def describe_age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h"


def health_problem(feed: FeedHealth, now: datetime, threshold: timedelta) -> str | None:
    """Why this feed needs an ops alert now, or None (healthy, disabled or already alerted)."""
    if not feed.enabled or feed.health_alerted_at is not None:
        return None
    if feed.consecutive_errors:
        since = feed.last_success_at or feed.created_at
        if now - since > threshold:
            never = "never succeeded" if feed.last_success_at is None else "failing"
            return (
                f"{never} for {describe_age(now - since)} "
                f"({feed.consecutive_errors} errors in a row): {feed.last_error or '?'}"
            )
        return None
    if feed.last_success_at is None:
        return None
    quiet_since = feed.last_new_item_at or feed.created_at
    if now - quiet_since > threshold:
        return f"silent: no new item for {describe_age(now - quiet_since)}"
    return None
