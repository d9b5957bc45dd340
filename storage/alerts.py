"""Stories and alerts repository: one alert per (rule, story), growing sources."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from monitor.alerting import AlertCandidate, StoryAlerts, story_summary
from monitor.domain import Alert, Item, Match, TermHit
from storage.models import AlertRow, StoryRow
from storage.prepared import run
from storage.upsert import insert_ignore

__all__ = [
    "add_health_alert",
    "add_story",
    "add_story_source",
    "alert_from_row",
    "get_alerts",
    "get_or_add_alert",
    "hits_to_json",
    "list_alerts",
    "story_alerts",
]


def hits_to_json(hits: tuple[TermHit, ...]) -> list[dict[str, object]]:
    return [
        {"term": h.term, "field": h.field, "start": h.start, "end": h.end, "text": h.text}
        for h in hits
    ]


def _hits_from_json(raw: list[dict[str, object]] | None) -> tuple[TermHit, ...]:
    return tuple(
        TermHit(
            term=str(h["term"]),
            field="title" if h["field"] == "title" else "summary",
            start=int(h["start"]),  # type: ignore[call-overload]
            end=int(h["end"]),  # type: ignore[call-overload]
            text=str(h["text"]),
        )
        for h in raw or ()
    )


# Built once (values travel as parameters): these run for every item that fires a rule.
# They run as prepared driver SQL (storage.prepared).
_STORIES = StoryRow.__table__
_ALERTS = AlertRow.__table__
_ADD_STORY = insert(_STORIES).returning(_STORIES.c.id)
_STORY_SOURCES = select(_STORIES.c.sources).where(_STORIES.c.id == bindparam("story"))
_TOUCH_STORY = (
    update(_STORIES).where(_STORIES.c.id == bindparam("story")).values(last_seen=bindparam("now"))
)
_GROW_STORY = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("story"))
    .values(last_seen=bindparam("now"), sources=bindparam("sources"))
)
_GROW_ALERTS = (
    update(_ALERTS)
    .where(_ALERTS.c.story_id == bindparam("story"))
    .values(sources=bindparam("sources"), updated_at=bindparam("now"))
    .returning(_ALERTS.c.id)
)
_STORY_ALERTS = select(_ALERTS.c.severity, _ALERTS.c.tags).where(
    _ALERTS.c.story_id == bindparam("story")
)


def add_story(session: Session, item: Item, source: str, now: datetime) -> int:
    values = {
        "title": item.title,
        "lang": item.lang,
        "first_seen": now,
        "last_seen": now,
        "sources": [source],
    }
    rows, _ = run(session, _ADD_STORY, values)
    story_id: int = rows[0][0]
    return story_id


def add_story_source(
    session: Session, story_id: int, source: str, now: datetime
) -> tuple[list[str], list[int]]:
    """Add an outlet to the story (and to its alerts); return the story's sources and the ids
    of the alerts that gained an outlet (empty if the outlet was known)."""
    ((stored,),), _ = run(session, _STORY_SOURCES, {"story": story_id})
    sources: list[str] = list(stored or ())
    if source in sources:
        run(session, _TOUCH_STORY, {"story": story_id, "now": now})
        return sources, []
    sources.append(source)
    params = {"story": story_id, "now": now, "sources": sources}
    run(session, _GROW_STORY, params)
    grown = [alert_id for (alert_id,) in run(session, _GROW_ALERTS, params)[0]]
    return sources, grown


def story_alerts(session: Session, story_id: int) -> StoryAlerts | None:
    """What was already alerted for this story (None: nothing yet)."""
    rows, _ = run(session, _STORY_ALERTS, {"story": story_id})
    return story_summary((severity, tags or ()) for severity, tags in rows)


def get_or_add_alert(
    session: Session,
    match: Match | AlertCandidate,
    *,
    story_id: int,
    item_id: int,
    item: Item,
    feed: str,
    sources: list[str],
    now: datetime,
) -> tuple[int, bool]:
    """Return (alert id, created). An existing (rule, story) alert is kept, not duplicated."""
    new_id = insert_ignore(
        session,
        AlertRow.__table__,  # type: ignore[arg-type]
        {
            "rule_id": match.rule_id,
            "rule_title": match.rule_title,
            "severity": match.severity,
            "tags": list(match.tags),
            "rules": list(match.rules) if isinstance(match, AlertCandidate) else [match.rule_id],
            "story_id": story_id,
            "item_id": item_id,
            "title": item.title,
            "summary": item.summary,
            "url": item.url,
            "feed": feed,
            "lang": item.lang,
            "published_at": item.published,
            "hits": hits_to_json(match.hits),
            "sources": sources,
            "kind": "rule",
            "created_at": now,
            "updated_at": now,
        },
    )
    if new_id is not None:
        return new_id, True
    existing = session.scalar(
        select(AlertRow.id).where(AlertRow.rule_id == match.rule_id, AlertRow.story_id == story_id)
    )
    assert existing is not None
    return existing, False


def add_health_alert(session: Session, *, feed: str, url: str, problem: str, now: datetime) -> int:
    """An ops alert about a feed (kind "feed-health"), with its own story."""
    title = f"Feed {feed}: {problem}"
    story = StoryRow(title=title, lang="en", first_seen=now, last_seen=now, sources=[feed])
    session.add(story)
    session.flush()
    row = AlertRow(
        rule_id="feed-health",
        rule_title="Feed health",
        severity="high",
        tags=["feed-health"],
        rules=["feed-health"],
        story_id=story.id,
        item_id=None,
        title=title[:2000],
        summary=f"{url}\n{problem}",
        url=url,
        feed=feed,
        lang="en",
        published_at=now,
        hits=[],
        sources=[feed],
        kind="feed-health",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def alert_from_row(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        rule_id=row.rule_id,
        rule_title=row.rule_title,
        severity=row.severity,
        tags=tuple(row.tags or ()),
        rules=tuple(row.rules or (row.rule_id,)),
        title=row.title,
        summary=row.summary,
        url=row.url,
        feed=row.feed,
        published=row.published_at,
        lang=row.lang,
        hits=_hits_from_json(row.hits),
        story_id=row.story_id,
        sources=tuple(row.sources or ()),
        created_at=row.created_at,
    )


def get_alerts(session: Session, alert_ids: Sequence[int]) -> dict[int, Alert]:
    """The alerts with these ids that exist, by id, read in as few statements as possible."""
    out: dict[int, Alert] = {}
    unique = list(dict.fromkeys(alert_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        for row in session.scalars(select(AlertRow).where(AlertRow.id.in_(chunk))):
            out[row.id] = alert_from_row(row)
    return out


def list_alerts(
    session: Session, *, limit: int = 100, since: datetime | None = None
) -> list[Alert]:
    query = select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AlertRow.created_at >= since)
    return [alert_from_row(row) for row in session.scalars(query)]
