from __future__ import annotations

from datetime import UTC, datetime

from monitor.config import RouteConfig
from monitor.schedule import next_digest_time


def test_daily_digest_at_seven_in_the_route_zone() -> None:
    route = RouteConfig(
        channels=("x",), mode="digest", schedule="0 7 * * *", timezone="Asia/Dubai"
    )  # UTC+4: 07:00 there is 03:00 UTC
    assert next_digest_time(route, datetime(2025, 11, 11, 2, 0, tzinfo=UTC)) == datetime(
        2025, 11, 11, 3, 0, tzinfo=UTC
    )
    assert next_digest_time(route, datetime(2025, 11, 11, 3, 0, tzinfo=UTC)) == datetime(
        2025, 11, 12, 3, 0, tzinfo=UTC
    )
