"""Cron arithmetic for digest routes (APScheduler's CronTrigger, in the route's zone)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from apscheduler.triggers.cron import CronTrigger

__all__ = ["next_digest_time"]


class DigestRoute(Protocol):
    schedule: str | None
    timezone: str


def next_digest_time(route: DigestRoute, now: datetime) -> datetime:
    """The next firing of the route's cron schedule strictly after `now`."""
    assert route.schedule, "digest route without schedule"
    trigger = CronTrigger.from_crontab(route.schedule, timezone=route.timezone)
    fire = trigger.get_next_fire_time(None, now + timedelta(seconds=1))
    assert fire is not None
    return fire.astimezone(now.tzinfo)
