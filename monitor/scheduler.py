"""The daemon's clock: APScheduler 3 runs a few fixed ticks (poll, dispatch, rule reload,
retention); which feed is due lives in the database. SIGTERM pauses, drains, shuts down."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.app import App
from monitor.pipeline import PollOutcome, utcnow
from storage import feeds as feed_repo
from storage import items as item_repo

__all__ = ["Daemon"]

log = logging.getLogger("rasd.daemon")


class Daemon:
    def __init__(self, app: App, *, drain_deadline: timedelta = timedelta(seconds=20)) -> None:
        self.app = app
        self.drain_deadline = drain_deadline
        self.inflight: dict[asyncio.Task[PollOutcome], int] = {}
        self.draining = False
        self.scheduler: AsyncIOScheduler | None = None
        self.polls_done = 0

    @property
    def running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running and not self.draining

    async def run(self, stop: asyncio.Event) -> None:
        s = self.app.settings
        scheduler = AsyncIOScheduler(timezone=UTC)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
        now = utcnow()
        scheduler.add_job(
            self.poll_tick,
            "interval",
            seconds=s.polling.tick.total_seconds(),
            next_run_time=now,
            id="poll",
            **common,
        )
        scheduler.add_job(
            self.dispatch_tick,
            "interval",
            seconds=s.delivery.tick.total_seconds(),
            next_run_time=now,
            id="dispatch",
            **common,
        )
        scheduler.add_job(self.reload_tick, "interval", seconds=2, id="rules", **common)
        scheduler.add_job(
            self.lease_tick,
            "interval",
            seconds=max(1.0, s.polling.lease.total_seconds() / 3),
            id="leases",
            **common,
        )
        scheduler.add_job(self.retention_tick, "cron", hour=3, minute=17, id="retention", **common)
        scheduler.add_job(
            self.health_tick, "interval", minutes=5, next_run_time=now, id="health", **common
        )
        self.scheduler = scheduler
        scheduler.start()
        log.info(
            "daemon: polling %d feeds; %d rules; channels: %s",
            len([f for f in s.feeds if f.enabled]),
            self.app.rules.matcher.rule_count,
            ", ".join(self.app.notifiers) or "none",
        )
        try:
            await stop.wait()
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Stop taking work, let in-flight polls finish within the deadline, abandon the
        rest (their leases are released, so the next start polls them again)."""
        self.draining = True
        if self.scheduler is not None:
            self.scheduler.pause()
        started = asyncio.get_running_loop().time()
        tasks = list(self.inflight)
        feed_ids = dict(self.inflight)
        if tasks:
            log.info(
                "daemon: draining %d in-flight polls (up to %ds)",
                len(tasks),
                self.drain_deadline.total_seconds(),
            )
            _done, pending = await asyncio.wait(tasks, timeout=self.drain_deadline.total_seconds())
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                with self.app.sessions.begin() as session:
                    feed_repo.release(session, [feed_ids[t] for t in pending], self.app.owner)
                log.warning("daemon: abandoned %d slow polls", len(pending))
        left = self.drain_deadline.total_seconds() - (asyncio.get_running_loop().time() - started)
        if left > 0:  # deliver what is due now; anything unsent stays in the outbox
            try:
                await asyncio.wait_for(self.app.dispatch(), timeout=left)
            except TimeoutError:
                log.warning("daemon: final delivery pass cut short; the outbox keeps the rest")
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        log.info("daemon: stopped after %d polls", self.polls_done)

    async def poll_tick(self) -> None:
        if self.draining:
            return
        free = self.app.settings.polling.concurrency - len(self.inflight)
        if free <= 0:
            return
        feeds = await asyncio.to_thread(self.app.claim, due_only=True, limit=free)
        for feed in feeds:
            task = asyncio.create_task(self.app.poll(feed), name=f"poll {feed.url}")
            self.inflight[task] = feed.id
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[PollOutcome]) -> None:
        self.inflight.pop(task, None)
        self.polls_done += 1

    async def lease_tick(self) -> None:
        """Keep the leases of in-flight polls alive, so a slow poll is never claimed twice;
        a replica that dies stops renewing and its feeds come back after one lease period."""
        ids = list(self.inflight.values())
        if not ids:
            return
        until = utcnow() + self.app.settings.polling.lease

        def renew() -> None:
            with self.app.sessions.begin() as session:
                feed_repo.renew_leases(session, ids, self.app.owner, until)

        await asyncio.to_thread(renew)

    async def dispatch_tick(self) -> None:
        if not self.draining:
            await self.app.dispatch()

    async def health_tick(self) -> None:
        if not self.draining:
            await asyncio.to_thread(self.app.check_feed_health)

    async def reload_tick(self) -> None:
        await asyncio.to_thread(self.app.rules.reload_if_changed)

    async def retention_tick(self) -> None:
        now = utcnow()
        before = now - timedelta(days=self.app.settings.retention.items_days)

        def prune() -> int:
            with self.app.sessions.begin() as session:
                return item_repo.prune_items(session, before, now)

        pruned = await asyncio.to_thread(prune)
        self.app.stories.evict(now)
        log.info("retention: pruned %d items older than %s", pruned, before.date())
