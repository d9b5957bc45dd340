"""Prometheus metrics: counters updated by the stages, gauges read at scrape time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from monitor.app import App

__all__ = ["METRICS", "Metrics", "render_metrics"]


class _Outcome(Protocol):
    """What a poll reports (monitor.pipeline.PollOutcome)."""

    status: str
    reason: str | None
    items_new: int
    alerts_new: int


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("rasd_polls_total", "Feed polls by outcome", ["outcome"], registry=r)
        self.poll_errors = Counter(
            "rasd_poll_errors_total", "Feed errors by reason", ["reason"], registry=r
        )
        self.fetch_seconds = Histogram(
            "rasd_fetch_seconds",
            "Fetch latency",
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        )
        self.items_new = Counter("rasd_items_new_total", "New items stored", registry=r)
        self.matches = Counter("rasd_matches_total", "Rule matches", ["rule"], registry=r)
        self.alerts = Counter("rasd_alerts_total", "Alerts raised", registry=r)
        self.deliveries = Counter(
            "rasd_deliveries_total",
            "Delivery attempts by outcome",
            ["channel", "status"],
            registry=r,
        )
        self.rule_reload_errors = Counter(
            "rasd_rule_reload_errors_total", "Rule reloads that found errors", registry=r
        )
        self.outbox = Gauge("rasd_outbox_depth", "Pending deliveries", ["channel"], registry=r)
        self.dead = Gauge("rasd_deliveries_dead", "Dead deliveries", ["channel"], registry=r)
        self.feeds_unhealthy = Gauge("rasd_feeds_unhealthy", "Feeds failing or silent", registry=r)
        self.rules_active = Gauge("rasd_rules_active", "Active rules", registry=r)

    def record_poll(self, outcome: _Outcome) -> None:
        """Count one finished poll. Labels are bounded: outcome and error reason codes."""
        self.polls.labels(outcome.status).inc()
        if outcome.status == "error":
            self.poll_errors.labels(outcome.reason or "unknown").inc()
        self.items_new.inc(outcome.items_new)
        self.alerts.inc(outcome.alerts_new)


METRICS = Metrics()


def render_metrics(app: App) -> bytes:
    from datetime import UTC, datetime

    from monitor.health import UNHEALTHY, FeedHealth, feed_state
    from storage import deliveries as delivery_repo
    from storage import feeds as feed_repo

    now = datetime.now(UTC)
    thresholds = app.settings.health_thresholds()
    default = app.settings.polling.health_threshold
    METRICS.rules_active.set(app.rules.matcher.rule_count)
    try:
        with app.sessions.begin() as session:
            counts = delivery_repo.count_by_status(session)
            unhealthy = sum(
                feed_state(FeedHealth.of(row), now, thresholds.get(row.source_url, default))
                in UNHEALTHY
                for row in feed_repo.list_feeds(session)
            )
    except Exception:  # database down: still serve the counters, /readyz tells why
        return generate_latest(METRICS.registry)
    METRICS.outbox.clear()
    METRICS.dead.clear()
    for (channel, status), n in counts.items():
        if status == "pending":
            METRICS.outbox.labels(channel).set(n)
        elif status == "dead":
            METRICS.dead.labels(channel).set(n)
    METRICS.feeds_unhealthy.set(unhealthy)
    return generate_latest(METRICS.registry)
