from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.backoff import (
    MAX_SERVER_FLOOR,
    adaptive_interval,
    cache_floor,
    error_backoff,
    next_poll,
    parse_retry_after,
)

NOW = datetime(2025, 11, 11, 12, 0, tzinfo=UTC)


def test_next_poll_stays_within_jitter() -> None:
    rng = random.Random(7)
    interval = timedelta(minutes=10)
    times = [next_poll(NOW, interval, rng) for _ in range(500)]
    assert all(NOW + interval * 0.9 <= t <= NOW + interval * 1.1 for t in times)
    assert len(set(times)) > 400  # actually spread out


def test_next_poll_without_jitter_is_exact() -> None:
    assert next_poll(NOW, timedelta(minutes=5), random.Random(1), jitter=0) == NOW + timedelta(
        minutes=5
    )


def test_next_poll_floor_wins_over_a_short_interval() -> None:
    when = next_poll(NOW, timedelta(minutes=5), random.Random(1), floor=timedelta(hours=1))
    assert when == NOW + timedelta(hours=1)


def test_next_poll_floor_shorter_than_interval_is_ignored() -> None:
    when = next_poll(NOW, timedelta(hours=2), random.Random(1), jitter=0, floor=timedelta(hours=1))
    assert when == NOW + timedelta(hours=2)


@pytest.mark.parametrize("jitter", [-0.1, 1.0])
def test_next_poll_rejects_bad_jitter(jitter: float) -> None:
    with pytest.raises(ValueError):
        next_poll(NOW, timedelta(minutes=1), random.Random(1), jitter=jitter)


def test_error_backoff_zero_errors_is_no_delay() -> None:
    assert error_backoff(0, random.Random(1)) == timedelta(0)


@pytest.mark.parametrize("errors", [1, 2, 3, 4, 5, 6])
def test_error_backoff_grows_exponentially_within_its_window(errors: int) -> None:
    rng = random.Random(errors)
    window = timedelta(minutes=1) * 2 ** (errors - 1)
    for _ in range(200):
        delay = error_backoff(errors, rng)
        assert window / 2 <= delay <= window


def test_error_backoff_never_stops_and_stays_at_the_ceiling() -> None:
    rng = random.Random(3)
    ceiling = timedelta(hours=6)
    for errors in (10, 50, 100, 10_000, 10**9):
        delay = error_backoff(errors, rng, ceiling=ceiling)
        assert ceiling / 2 <= delay <= ceiling


def test_error_backoff_is_jittered() -> None:
    rng = random.Random(5)
    assert len({error_backoff(8, rng) for _ in range(50)}) > 40


@given(st.integers(min_value=-5, max_value=10**12), st.integers(min_value=0, max_value=2**32))
def test_error_backoff_is_always_finite_and_capped(errors: int, seed: int) -> None:
    delay = error_backoff(errors, random.Random(seed))
    assert timedelta(0) <= delay <= timedelta(hours=6)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 0 ", timedelta(0)),
        ("Tue, 11 Nov 2025 12:05:00 GMT", timedelta(minutes=5)),
        ("Tue, 11 Nov 2025 11:00:00 GMT", timedelta(0)),  # in the past
        ("999999999999999999999999", MAX_SERVER_FLOOR),  # absurd: clamped, not an overflow
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_SERVER_FLOOR),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: timedelta | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "public, max-age=600"}, timedelta(minutes=10)),
        ({"cache-control": "max-age=600", "age": "100"}, timedelta(seconds=500)),
        ({"cache-control": 'max-age="60"'}, timedelta(seconds=60)),
        ({"cache-control": "max-age=31536000"}, MAX_SERVER_FLOOR),
        ({"cache-control": "no-cache, max-age=600"}, None),
        ({"cache-control": "no-store"}, None),
        ({"cache-control": "max-age=0"}, None),
        ({"expires": "Tue, 11 Nov 2025 13:00:00 GMT"}, timedelta(hours=1)),
        ({"expires": "Tue, 11 Nov 2025 11:00:00 GMT"}, None),
        ({"expires": "0"}, None),
        ({"cache-control": "private", "expires": "Tue, 11 Nov 2025 12:30:00 GMT"},
         timedelta(minutes=30)),
        ({}, None),
    ],
)  # fmt: skip
def test_cache_floor(headers: dict[str, str], expected: timedelta | None) -> None:
    assert cache_floor(headers, NOW) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, timedelta(hours=24)),  # quiet feed: the maximum
        (1, timedelta(hours=24)),  # a week, clamped to the maximum
        (7, timedelta(hours=24)),
        (14, timedelta(hours=12)),
        (168, timedelta(hours=1)),
        (100_000, timedelta(minutes=5)),  # clamped to the minimum
    ],
)
def test_adaptive_interval(count: int, expected: timedelta) -> None:
    got = adaptive_interval(count, minimum=timedelta(minutes=5), maximum=timedelta(hours=24))
    assert got == expected


def test_adaptive_interval_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError):
        adaptive_interval(3, minimum=timedelta(hours=2), maximum=timedelta(hours=1))
