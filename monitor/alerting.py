"""From rule matches to alerts: one alert per story, not one per rule or outlet. Pure.

Several rules often fire on one item (a fuel-blockade rule and a general fuel rule, say).
They become one alert that carries every rule, tag and hit. A later report of the same
story raises a new alert only if it is more severe or brings a topic not yet alerted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.domain import Match, TermHit, severity_rank

__all__ = ["AlertCandidate", "StoryAlerts", "combine_matches", "needs_alert"]


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    rule_id: str  # the primary rule: most severe, then highest score
    rule_title: str
    severity: str
    tags: tuple[str, ...]
    rules: tuple[str, ...]  # every rule that fired, primary first
    score: float
    hits: tuple[TermHit, ...]

    def as_match(self) -> Match:
        return Match(self.rule_id, self.rule_title, self.severity, self.tags, self.score, self.hits)


@dataclass(frozen=True, slots=True)
class StoryAlerts:
    """What was already alerted for a story."""

    max_severity: str
    tags: frozenset[str]


def combine_matches(matches: Sequence[Match]) -> AlertCandidate | None:
    if not matches:
        return None
    ordered = sorted(matches, key=lambda m: (-severity_rank(m.severity), -m.score, m.rule_id))
    primary = ordered[0]
    tags: dict[str, None] = {}
    hits: dict[tuple[str, int, int], TermHit] = {}
    for match in ordered:
        tags.update(dict.fromkeys(match.tags))
        for hit in match.hits:
            hits.setdefault((hit.field, hit.start, hit.end), hit)
    return AlertCandidate(
        rule_id=primary.rule_id,
        rule_title=primary.rule_title,
        severity=primary.severity,
        tags=tuple(tags),
        rules=tuple(m.rule_id for m in ordered),
        score=primary.score,
        hits=tuple(sorted(hits.values(), key=lambda h: (h.field != "title", h.start))),
    )


def needs_alert(candidate: AlertCandidate, existing: StoryAlerts | None) -> bool:
    if existing is None:
        return True
    if severity_rank(candidate.severity) > severity_rank(existing.max_severity):
        return True
    return not set(candidate.tags) <= existing.tags


def story_summary(rows: Iterable[tuple[str, Sequence[str]]]) -> StoryAlerts | None:
    """Fold (severity, tags) of a story's alerts into one summary."""
    best: str | None = None
    tags: set[str] = set()
    for severity, row_tags in rows:
        if best is None or severity_rank(severity) > severity_rank(best):
            best = severity
        tags.update(row_tags)
    return None if best is None else StoryAlerts(best, frozenset(tags))
