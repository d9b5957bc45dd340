"""Composition root: builds the engine, HTTP client, rule book, notifiers, pipeline and
dispatcher from Settings, and runs poll cycles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.dedup import Fingerprint, StoryIndex
from monitor.domain import FeedState
from monitor.fetch import Fetcher, FetchLimits, make_client
from monitor.metrics import METRICS
from monitor.parse import ParseLimits
from monitor.pipeline import Pipeline, PipelineSettings, PollOutcome, utcnow
from monitor.rulebook import RuleBook
from monitor.workers import ParsePool, default_pool
from notifiers.base import Notifier, RenderSettings
from notifiers.dispatcher import Dispatcher, DispatchReport
from notifiers.registry import build_notifier
from storage import feeds as feed_repo
from storage import items as item_repo
from storage.db import create_db_engine, lock_startup, make_sessionmaker, reader_of
from storage.migrate import prepare_schema

__all__ = ["App", "CycleReport"]

log = logging.getLogger("rasd.app")
# How far back a starting process looks for the items each feed carries (see _warm_guids).
RECENT_ITEMS_WINDOW = timedelta(days=3)


@dataclass(slots=True)
class CycleReport:
    feeds_polled: int = 0
    feed_errors: int = 0
    not_modified: int = 0
    items_new: int = 0
    alerts: int = 0
    deliveries_sent: int = 0
    deliveries_failed: int = 0
    deliveries_dead: int = 0
    health_alerts: int = 0
    outcomes: list[PollOutcome] = field(default_factory=list)

    def add_poll(self, outcome: PollOutcome) -> None:
        self.outcomes.append(outcome)
        self.feeds_polled += 1
        self.feed_errors += outcome.status == "error"
        self.not_modified += outcome.status == "not-modified"
        self.items_new += outcome.items_new
        self.alerts += outcome.alerts_new

    def add_dispatch(self, report: DispatchReport) -> None:
        self.deliveries_sent += report.sent
        self.deliveries_failed += report.failed
        self.deliveries_dead += report.dead

    def to_json(self) -> dict[str, int]:
        return {
            "feeds_polled": self.feeds_polled,
            "feed_errors": self.feed_errors,
            "feeds_not_modified": self.not_modified,
            "items_new": self.items_new,
            "alerts": self.alerts,
            "deliveries_sent": self.deliveries_sent,
            "deliveries_failed": self.deliveries_failed + self.deliveries_dead,
            "deliveries_dead": self.deliveries_dead,
            "health_alerts": self.health_alerts,
        }


class App:
    """`async with App(settings) as app:` opens everything; leaving closes it."""

    def __init__(
        self,
        settings: Settings,
        *,
        owner: str | None = None,
        migrate: bool = False,
        pool: ParsePool | None = None,
        warm_workers: bool = False,
    ) -> None:
        self.settings = settings
        self.pool = pool  # parse and match workers; None: the process-wide pool
        # Start the workers and compile the rules in them while the database is prepared
        # (`rasd run`, `rasd once`), rather than when the first feeds come back.
        self.warm_workers = warm_workers
        self._warm_up: asyncio.Task[None] | None = None
        self.migrate = migrate  # run pending migrations instead of refusing to start
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.engine: Engine
        self.sessions: sessionmaker[Session]
        self.client: httpx.AsyncClient
        self.rules = RuleBook(settings.rules_dir)
        self.notifiers: dict[str, Notifier] = {}
        self.proxy_clients: dict[str, httpx.AsyncClient] = {}
        self.stories = StoryIndex(window=settings.story_window)
        self.pipeline: Pipeline
        self.dispatcher: Dispatcher
        self._slots: asyncio.Semaphore

    async def __aenter__(self) -> App:
        s = self.settings
        parse_limits = ParseLimits(
            max_entries=s.polling.max_entries, timeout=s.polling.parse_timeout
        )
        self.rules.reload_if_changed()
        if self.warm_workers:
            self._warm_up = asyncio.create_task(self._start_workers(parse_limits))
        try:
            return await self._enter(parse_limits)
        except BaseException:
            await self._stop_warm_up()
            raise

    async def _start_workers(self, limits: ParseLimits) -> None:
        ready = await (self.pool or default_pool()).warm_up(self.rules.snapshot(), limits)
        log.debug("app: %d parse workers started", ready)

    async def _stop_warm_up(self) -> None:
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm_up

    async def _enter(self, parse_limits: ParseLimits) -> App:
        s = self.settings
        self.engine = create_db_engine(s.database)
        try:
            migrated = await asyncio.to_thread(prepare_schema, self.engine, migrate=self.migrate)
        except BaseException:
            self.engine.dispose()
            raise
        if migrated:
            log.info("app: database schema migrated to revision %s", migrated)
        self.sessions = make_sessionmaker(self.engine)
        with self.sessions.begin() as session:
            lock_startup(session)  # replicas starting together sync the feed list in turn
            feed_repo.sync_feeds(session, s.feeds, utcnow())
            rows = feed_repo.list_feeds(session)
            intervals = {
                row.id: timedelta(seconds=row.interval_s) for row in rows if row.interval_s
            }
            proxy_of = {f.url: f.proxy for f in s.feeds if f.proxy}
            feed_proxies = {
                row.id: proxy_of[row.source_url] for row in rows if row.source_url in proxy_of
            }
        await asyncio.to_thread(self._warm_stories)
        self.client = make_client(proxy=s.polling.proxy)
        # One client per distinct per-feed proxy (httpx binds a proxy to a client).
        self.proxy_clients = {
            proxy: make_client(proxy=proxy) for proxy in set(feed_proxies.values())
        }
        clients_by_feed = {fid: self.proxy_clients[proxy] for fid, proxy in feed_proxies.items()}
        render = RenderSettings(
            timezone=s.delivery.timezone, templates_dir=s.delivery.templates_dir
        )
        for name, raw in s.channels.items():
            self.notifiers[name] = build_notifier(name, raw, self.client, render)
        fetcher = Fetcher(
            self.client,
            FetchLimits(
                max_body_bytes=s.polling.max_body_bytes,
                timeout=s.polling.timeout,
                per_host=s.polling.per_host,
            ),
        )
        self.pipeline = Pipeline(
            sessions=self.sessions,
            fetcher=fetcher,
            matcher=self.rules.current,
            rules=self.rules.snapshot,
            pool=self.pool,
            routes=s.routes,
            stories=self.stories,
            proxy_clients=clients_by_feed,
            settings=PipelineSettings(
                interval=s.polling.interval,
                min_interval=s.polling.min_interval,
                max_interval=s.polling.max_interval,
                adaptive=s.polling.adaptive,
                jitter=s.polling.jitter,
                error_backoff_max=s.polling.error_backoff_max,
                parse_limits=parse_limits,
                delivery_timezone=s.delivery.timezone,
                quiet_hours=s.delivery.quiet_hours,
                story_updates=s.delivery.story_updates,
                feed_intervals=intervals,
            ),
        )
        self.dispatcher = Dispatcher(
            sessions=self.sessions,
            notifiers=self.notifiers,
            clock=utcnow,
            owner=self.owner,
            max_attempts=s.delivery.max_attempts,
            backoff_base=s.delivery.backoff_base,
            backoff_max=s.delivery.backoff_max,
            send_timeout=s.delivery.send_timeout,
            rng=random.Random(),
        )
        self._slots = asyncio.Semaphore(s.polling.concurrency)
        await asyncio.to_thread(self._warm_guids, {row.id for row in rows if row.enabled})
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop_warm_up()
        for notifier in self.notifiers.values():
            try:
                await notifier.aclose()
            except Exception:  # closing must not hide the real error
                log.exception("app: closing channel %s", notifier.name)
        await self.client.aclose()
        for client in self.proxy_clients.values():
            await client.aclose()
        self.engine.dispose()

    def _warm_guids(self, feed_ids: set[int]) -> None:
        """What each feed carried when last polled, as far as the database tells: its newest
        items of the last few days. Without it, a fresh process (a restart, `rasd once` run
        by cron) would match every item of every feed again before finding them all stored.
        An older item a feed still carries is matched once more, then found stored."""
        try:
            with reader_of(self.sessions).begin() as session:
                recent = item_repo.recent_guids(
                    session,
                    feed_ids,
                    since=utcnow() - RECENT_ITEMS_WINDOW,
                    per_feed=self.settings.polling.max_entries,
                )
        except SQLAlchemyError as exc:  # only a saving: never a reason not to start
            log.warning(
                "app: recent items not read (%s): the first poll of each feed matches its "
                "items again",
                str(exc).splitlines()[0],
            )
            return
        self.pipeline.remember_guids(recent)

    def _warm_stories(self) -> None:
        """Reload the story window from the database, so a restart keeps joining stories."""
        since = utcnow() - self.settings.story_window
        with self.sessions.begin() as session:
            for stored in item_repo.iter_items(session, since, in_stories=True):
                if stored.story_id is None:
                    continue
                self.stories.add(
                    key=str(stored.id),
                    story_id=stored.story_id,
                    lang=stored.item.lang,
                    title=stored.item.title,
                    summary=stored.item.summary,
                    published=stored.item.published or stored.fetched_at,
                    entities=frozenset(stored.entities),
                    url=stored.canonical_url,
                    fingerprint=Fingerprint.from_json(stored.fingerprint)
                    if isinstance(stored.fingerprint, str)
                    else None,
                )

    def claim(self, *, due_only: bool, limit: int) -> list[FeedState]:
        with self.sessions.begin() as session:
            return feed_repo.claim_due(
                session,
                utcnow(),
                owner=self.owner,
                lease=self.settings.polling.lease,
                limit=limit,
                due_only=due_only,
            )

    async def poll(self, feed: FeedState) -> PollOutcome:
        async with self._slots:
            try:
                outcome = await self.pipeline.poll_feed(feed)
            except Exception as exc:  # one feed's bug, or the database, must not stop the rest
                log.exception("pipeline: %s: unexpected error", feed.url, extra={"feed": feed.name})
                try:
                    await asyncio.to_thread(self._release, feed.id)
                except Exception:  # database down or locked: the lease expires by itself
                    log.warning(
                        "pipeline: %s: lease not released; it expires in %s",
                        feed.url,
                        self.settings.polling.lease,
                    )
                outcome = PollOutcome(
                    feed.id,
                    feed.name,
                    feed.url,
                    "error",
                    reason="internal",
                    error=f"{type(exc).__name__}: {exc}",
                )
            METRICS.record_poll(outcome)
            return outcome

    def _release(self, feed_id: int) -> None:
        with self.sessions.begin() as session:
            feed_repo.release(session, [feed_id], self.owner)

    async def poll_cycle(self, *, due_only: bool = True) -> CycleReport:
        """Poll every claimable feed once (every enabled feed with due_only=False)."""
        report = CycleReport()
        feeds = await asyncio.to_thread(self.claim, due_only=due_only, limit=100_000)
        for outcome in await asyncio.gather(*(self.poll(feed) for feed in feeds)):
            report.add_poll(outcome)
        return report

    async def dispatch(self) -> DispatchReport:
        return await self.dispatcher.dispatch_once()

    async def once(self) -> CycleReport:
        """`rasd once`: poll every enabled feed, due or not, then deliver what is due."""
        report = await self.poll_cycle(due_only=False)
        report.health_alerts = await asyncio.to_thread(self.check_feed_health)
        while True:  # a pass sends a bounded batch per channel: go on until the outbox is dry
            sent = await self.dispatch()
            report.add_dispatch(sent)
            if not sent.sent:
                break
        return report

    def check_feed_health(self) -> int:
        """Raise one feed-health alert per feed that failed or went silent for longer than
        its threshold; deliver it to `delivery.health_route`. Returns how many were raised."""
        from monitor.health import FeedHealth, health_problem
        from storage import alerts as alert_repo
        from storage import deliveries as delivery_repo

        now = utcnow()
        thresholds = self.settings.health_thresholds()
        default = self.settings.polling.health_threshold
        raised = 0
        with self.sessions.begin() as session:
            for row in feed_repo.list_feeds(session):
                problem = health_problem(
                    FeedHealth.of(row), now, thresholds.get(row.source_url, default)
                )
                if problem is None:
                    continue
                alert_id = alert_repo.add_health_alert(
                    session, feed=row.name, url=row.url, problem=problem, now=now
                )
                delivery_repo.add_deliveries(
                    session,
                    alert_id,
                    [
                        delivery_repo.PlannedDelivery(channel, "immediate", -1, now)
                        for channel in self.settings.delivery.health_route
                    ],
                    now,
                )
                feed_repo.mark_health_alerted(session, row.id, now)
                log.warning(
                    "health: %s (%s): %s", row.name, row.url, problem, extra={"feed": row.name}
                )
                raised += 1
        return raised
