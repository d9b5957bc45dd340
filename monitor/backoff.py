"""When to poll a feed next: interval with jitter, error backoff, server-imposed floors.

Pure: the clock (`now`) and the random source (`rng`) are passed in. Every function here
returns a finite delay, so a failing feed is slowed down, never stopped (Miniflux's hard
stop after three errors is what its users complain about).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = [
    "MAX_SERVER_FLOOR",
    "adaptive_interval",
    "cache_floor",
    "error_backoff",
    "next_poll",
    "parse_retry_after",
]

WEEK = timedelta(days=7)
# A hostile or careless server must not park a feed for a year with one header.
MAX_SERVER_FLOOR = timedelta(days=1)
_MAX_EXPONENT = 62  # computed in float seconds, so no timedelta overflow

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,12})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:[=,]|$)", re.IGNORECASE)


def next_poll(
    now: datetime,
    interval: timedelta,
    rng: random.Random,
    *,
    jitter: float = 0.1,
    floor: timedelta | None = None,
) -> datetime:
    """`now + interval` spread by ±`jitter` (a fraction), never earlier than `now + floor`."""
    if interval < timedelta(0):
        raise ValueError("next_poll: interval must not be negative")
    if not 0 <= jitter < 1:
        raise ValueError("next_poll: jitter is a fraction in [0, 1)")
    delay = interval * (1 + rng.uniform(-jitter, jitter))
    if floor is not None and delay < floor:
        delay = floor
    return now + delay


def error_backoff(
    consecutive_errors: int,
    rng: random.Random,
    *,
    base: timedelta = timedelta(minutes=1),
    ceiling: timedelta = timedelta(hours=6),
) -> timedelta:
    """Delay before retrying after `consecutive_errors` failures in a row.

    Exponential (`base * 2**(n-1)`) capped at `ceiling`, with "equal jitter": a uniform
    draw in the upper half of the window, so retries spread out but never collapse to zero.
    Zero errors means no backoff. The ceiling is returned (jittered) forever: no hard stop.
    """
    if consecutive_errors <= 0:
        return timedelta(0)
    if base <= timedelta(0) or ceiling < base:
        raise ValueError("error_backoff: need 0 < base <= ceiling")
    exponent = min(consecutive_errors - 1, _MAX_EXPONENT)
    window = min(ceiling.total_seconds(), base.total_seconds() * 2.0**exponent)
    return timedelta(seconds=window / 2 + window / 2 * rng.random())


def parse_retry_after(
    value: str | None, now: datetime, *, ceiling: timedelta = MAX_SERVER_FLOOR
) -> timedelta | None:
    """`Retry-After` as a delay: delta-seconds or an HTTP-date; None if absent or garbage.

    Dates in the past give zero; anything beyond `ceiling` is clamped to it.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        seconds = int(text[:12]) if len(text) <= 12 else None
        delay = ceiling if seconds is None else timedelta(seconds=seconds)
    else:
        when = _http_date(text)
        if when is None:
            return None
        delay = max(when - now, timedelta(0))
    return min(delay, ceiling)


def cache_floor(
    headers: Mapping[str, str], now: datetime, *, ceiling: timedelta = MAX_SERVER_FLOOR
) -> timedelta | None:
    """How long the response may be cached (`Cache-Control: max-age`, else `Expires`).

    Used as a floor on the next poll. `no-store`/`no-cache` mean "no floor". The result is
    clamped to `ceiling`; None when the headers say nothing usable.
    """
    lower = {key.lower(): value for key, value in headers.items()}
    control = lower.get("cache-control", "")
    if control:
        if _NO_CACHE.search(control):
            return None
        found = _MAX_AGE.search(control)
        if found:
            age = _int_or_zero(lower.get("age", "0"))
            seconds = max(int(found.group(1)) - age, 0)
            return min(timedelta(seconds=seconds), ceiling) if seconds else None
    expires = lower.get("expires")
    if expires:
        when = _http_date(expires.strip())
        if when is not None and when > now:
            return min(when - now, ceiling)
    return None


def adaptive_interval(items_last_week: int, *, minimum: timedelta, maximum: timedelta) -> timedelta:
    """Miniflux's entry-frequency mode: a week divided by last week's item count, clamped."""
    if minimum > maximum:
        raise ValueError("adaptive_interval: minimum > maximum")
    if items_last_week <= 0:
        return maximum
    return min(max(WEEK / items_last_week, minimum), maximum)


def _http_date(text: str) -> datetime | None:
    if len(text) > 100:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _int_or_zero(text: str) -> int:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else 0
