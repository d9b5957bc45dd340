"""Routing: which channels an alert goes to, and when. Pure: `now` is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from monitor.domain import severity_rank

__all__ = ["RouteLike", "Target", "in_quiet_hours", "quiet_hours_end", "route_alert"]


class MatchLike(Protocol):
    severity: tuple[str, ...]
    tags: tuple[str, ...]
    rules: tuple[str, ...]
    lang: tuple[str, ...]
    min_severity: str | None


class RouteLike(Protocol):
    match: MatchLike
    channels: tuple[str, ...]
    mode: str


@dataclass(frozen=True, slots=True)
class Target:
    channel: str
    mode: str  # immediate | digest
    route: int  # index in the routes list


def _selects(
    match: MatchLike, *, severity: str, tags: Sequence[str], rules: Sequence[str], lang: str | None
) -> bool:
    if match.severity and severity not in match.severity:
        return False
    if match.min_severity and severity_rank(severity) < severity_rank(match.min_severity):
        return False
    if match.tags and not set(match.tags) & set(tags):
        return False
    if match.rules and not set(match.rules) & set(rules):
        return False
    return not (match.lang and (lang or "") not in match.lang)


def route_alert(
    routes: Sequence[RouteLike],
    *,
    severity: str,
    tags: Sequence[str],
    rules: Sequence[str],
    lang: str | None,
) -> list[Target]:
    """Every (channel, mode) the routes select. A channel selected by an immediate route and a
    digest route is delivered immediately; the first selecting route wins otherwise."""
    chosen: dict[str, Target] = {}
    for index, route in enumerate(routes):
        if not _selects(route.match, severity=severity, tags=tags, rules=rules, lang=lang):
            continue
        for channel in route.channels:
            current = chosen.get(channel)
            if current is None or (current.mode == "digest" and route.mode == "immediate"):
                chosen[channel] = Target(channel, route.mode, index)
    return list(chosen.values())


def _parse_span(spec: str) -> tuple[time, time]:
    start, end = spec.split("-")
    h1, m1 = (int(x) for x in start.split(":"))
    h2, m2 = (int(x) for x in end.split(":"))
    return time(h1 % 24, m1), time(h2 % 24, m2)


def in_quiet_hours(now: datetime, spec: str | None, zone: str) -> bool:
    if not spec:
        return False
    start, end = _parse_span(spec)
    local = now.astimezone(ZoneInfo(zone)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(now: datetime, spec: str, zone: str) -> datetime:
    """The first moment after `now` outside the quiet span (aware, same zone as given)."""
    _start, end = _parse_span(spec)
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)
