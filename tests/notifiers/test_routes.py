from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.config import RouteConfig, RouteMatch
from notifiers.routes import Target, in_quiet_hours, quiet_hours_end, route_alert

ROUTES = (
    RouteConfig(
        match=RouteMatch(severity=("high", "critical"), tags=("security",)),
        channels=("desk-email", "hook"),
    ),
    RouteConfig(
        match=RouteMatch(tags=("fuel",)),
        channels=("desk-email",),
        mode="digest",
        schedule="0 7 * * *",
        timezone="Africa/Bamako",
    ),
    RouteConfig(
        match=RouteMatch(rules=("mali-russia-military",), lang=("ar",)), channels=("arabic-desk",)
    ),
    RouteConfig(match=RouteMatch(min_severity="critical"), channels=("pager",)),
)


def targets(**alert: object) -> set[Target]:
    base: dict[str, object] = {"severity": "medium", "tags": (), "rules": ("r",), "lang": "fr"}
    base.update(alert)
    return set(route_alert(ROUTES, **base))  # type: ignore[arg-type]


def test_the_contract_example() -> None:
    assert targets(severity="high", tags=("security",)) == {
        Target("desk-email", "immediate", 0),
        Target("hook", "immediate", 0),
    }
    assert targets(severity="medium", tags=("security",)) == set()
    assert targets(tags=("fuel",)) == {Target("desk-email", "digest", 1)}


def test_immediate_wins_over_digest_for_one_channel() -> None:
    assert targets(severity="high", tags=("security", "fuel")) == {
        Target("desk-email", "immediate", 0),
        Target("hook", "immediate", 0),
    }


def test_rules_lang_and_min_severity() -> None:
    assert targets(rules=("x", "mali-russia-military"), lang="ar") == {
        Target("arabic-desk", "immediate", 2)
    }
    assert targets(rules=("mali-russia-military",), lang="fr") == set()
    assert Target("pager", "immediate", 3) in targets(severity="critical")
    assert targets(severity="high") == set()


@pytest.mark.parametrize(
    ("utc_hour", "quiet"), [(21, False), (22, True), (23, True), (3, True), (6, False), (12, False)]
)
def test_quiet_hours_span_midnight(utc_hour: int, quiet: bool) -> None:
    now = datetime(2025, 11, 11, utc_hour, 30, tzinfo=UTC)  # Bamako is UTC+0
    assert in_quiet_hours(now, "22:00-06:00", "Africa/Bamako") is quiet


def test_quiet_hours_end_is_next_morning() -> None:
    now = datetime(2025, 11, 11, 23, 10, tzinfo=UTC)
    assert quiet_hours_end(now, "22:00-06:00", "Africa/Bamako") == datetime(
        2025, 11, 12, 6, 0, tzinfo=UTC
    )
    assert in_quiet_hours(now, None, "Africa/Bamako") is False
