"""Read-side helpers for the CLI: feed health table, alerts and dead deliveries, test sends."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.domain import Alert, TermHit
from monitor.health import UNHEALTHY, FeedHealth, feed_state
from storage import alerts as alert_repo
from storage import deliveries as delivery_repo
from storage import feeds as feed_repo
from storage.db import open_sessions

__all__ = ["feed_table", "list_alert_rows", "retry_delivery", "send_test", "status_text"]


def feed_table(
    settings: Settings, sessions: sessionmaker[Session] | None = None
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    thresholds = settings.health_thresholds()
    with (sessions or open_sessions(settings.database)).begin() as session:
        out = []
        for row in feed_repo.list_feeds(session):
            week = feed_repo.items_since(session, row.id, now - timedelta(days=7))
            out.append(
                {
                    "id": row.id,
                    "name": row.name,
                    "url": row.url,
                    "status": feed_state(
                        FeedHealth.of(row),
                        now,
                        thresholds.get(row.source_url, settings.polling.health_threshold),
                    ),
                    "errors": row.consecutive_errors,
                    "last_error": row.last_error,
                    "last_error_at": row.last_error_at.isoformat() if row.last_error_at else None,
                    "last_success": row.last_success_at.isoformat()
                    if row.last_success_at
                    else None,
                    "next_poll": row.next_poll_at.isoformat(),
                    # over the days actually watched, up to a week: a feed added today that
                    # brought 40 items is at 40 a day, not 40 / 7
                    "items_per_day": week
                    / max(1.0, min(7.0, (now - row.created_at).total_seconds() / 86400)),
                    "items_total": row.items_total,
                }
            )
        return out


def list_alert_rows(settings: Settings, *, dead: bool, limit: int) -> list[dict[str, Any]]:
    from notifiers.render import alert_payload

    with open_sessions(settings.database).begin() as session:
        if dead:
            return [
                {
                    "id": d.id,
                    "kind": "delivery",
                    "alert_id": d.alert_id,
                    "channel": d.channel,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "created_at": d.created_at.isoformat(),
                }
                for d in delivery_repo.list_deliveries(session, status="dead", limit=limit)
            ]
        alerts = alert_repo.list_alerts(session, limit=limit)
        deliveries = delivery_repo.list_deliveries(
            session, alert_ids=[a.id for a in alerts], limit=limit * 20
        )
        by_alert: dict[int, list[dict[str, Any]]] = {}
        for d in deliveries:
            by_alert.setdefault(d.alert_id, []).append(
                {
                    "id": d.id,
                    "channel": d.channel,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                }
            )
        rows = []
        for alert in alerts:
            row = alert_payload(alert)
            row["kind"] = "alert"
            row["deliveries"] = by_alert.get(alert.id, [])
            rows.append(row)
        return rows


def retry_delivery(settings: Settings, delivery_id: int) -> bool:
    with open_sessions(settings.database).begin() as session:
        return delivery_repo.requeue(session, delivery_id, datetime.now(UTC))


def sample_alert() -> Alert:
    title = "هجوم مسلح على قافلة صهاريج وقود قرب باماكو"
    summary = "Test de Rasd : une attaque contre un convoi de citernes près de Bamako."
    word = "صهاريج"
    start = title.index(word)
    return Alert(
        id=0,
        rule_id="rasd-test",
        rule_title="Rasd test alert",
        severity="low",
        tags=("test",),
        title=title,
        summary=summary,
        url="https://example.org/rasd-test",
        feed="Rasd",
        published=datetime.now(UTC),
        lang="ar",
        hits=(TermHit("صهاريج", "title", start, start + len(word), word),),
        story_id=0,
        sources=("Rasd",),
    )


async def send_test(settings: Settings, channel: str) -> int:
    from monitor.errors import DeliveryError
    from monitor.fetch import make_client
    from notifiers.base import Message, RenderSettings
    from notifiers.registry import build_notifier

    if channel not in settings.channels:
        print(
            f"notify: no channel named {channel!r} (have: {', '.join(settings.channels)})",
            file=sys.stderr,
        )
        return 2
    render = RenderSettings(
        timezone=settings.delivery.timezone, templates_dir=settings.delivery.templates_dir
    )
    async with make_client() as client:
        notifier = build_notifier(channel, settings.channels[channel], client, render)
        key = f"rasd-test-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
        try:
            await notifier.send(Message("alert", (sample_alert(),), key))
        except DeliveryError as exc:
            print(f"notify: {exc}", file=sys.stderr)
            return 1
        finally:
            await notifier.aclose()
    print(f"notify: sample alert sent to {channel}")
    return 0


def status_text(settings: Settings) -> str:
    from monitor.rulebook import RuleBook

    sessions = open_sessions(settings.database)
    feeds = feed_table(settings, sessions)
    counts: dict[str, int] = {}
    for feed in feeds:
        counts[feed["status"]] = counts.get(feed["status"], 0) + 1
    with sessions.begin() as session:
        by_status = delivery_repo.count_by_status(session)
    book = RuleBook(settings.rules_dir)
    book.reload_if_changed()
    lines = [
        "feeds: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"),
        "rules: "
        + f"{book.matcher.rule_count} active"
        + (f", {len(book.problems)} problems" if book.problems else ""),
    ]
    lines += [f"  {p}" for p in book.problems]
    outbox: dict[str, dict[str, int]] = {}
    for (channel, status), n in by_status.items():
        outbox.setdefault(channel, {})[status] = n
    lines.append("deliveries:" + ("" if outbox else " none"))
    for channel, states in sorted(outbox.items()):
        lines.append(f"  {channel}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    failing = [f for f in feeds if f["status"] in (*UNHEALTHY, "erroring")]
    for feed in failing[:20]:
        lines.append(f"  {feed['status']}: {feed['name']}: {feed['last_error'] or ''}")
    return "\n".join(lines)
