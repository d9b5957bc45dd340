"""The outbox dispatcher: claim due deliveries per channel, send, record sent / retry / dead,
group digests, roll bursts over a channel's rate limit into one "… and N more" message.

Only this module counts attempts and decides when to retry (notifiers raise RetryLater or
Rejected and nothing else)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.domain import Alert
from monitor.errors import Rejected, RetryLater
from monitor.metrics import METRICS
from notifiers.base import Message, Notifier, effective_rate_limit
from storage import alerts as alert_repo
from storage import deliveries as delivery_repo
from storage.db import reader_of
from storage.deliveries import DeliveryView

__all__ = ["DispatchReport", "Dispatcher", "retry_delay"]

log = logging.getLogger("rasd.dispatch")
BATCH = 100  # a digest or a rate-limited burst: few sends, many rows
UNLIMITED_BATCH = 10  # one send each: a small batch keeps the lease short
MAX_ROUNDS = 20  # batches per channel and tick


@dataclass(slots=True)
class DispatchReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0

    def add(self, other: DispatchReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead


def retry_delay(
    attempts: int,
    rng: random.Random,
    *,
    base: timedelta,
    ceiling: timedelta,
    after: timedelta | None = None,
) -> timedelta:
    """Exponential backoff with full jitter, never below what the API asked for."""
    exp = min(ceiling.total_seconds(), base.total_seconds() * 2 ** max(0, attempts - 1))
    delay = timedelta(seconds=exp / 2 + rng.uniform(0, exp / 2))
    return max(delay, after) if after is not None else delay


class Dispatcher:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        notifiers: Mapping[str, Notifier],
        clock: Callable[[], datetime],
        owner: str,
        max_attempts: int = 10,
        backoff_base: timedelta = timedelta(seconds=30),
        backoff_max: timedelta = timedelta(hours=1),
        send_timeout: timedelta = timedelta(seconds=20),
        lease: timedelta = timedelta(seconds=30),
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        # Reads (what is pending, the alerts to send) never wait for SQLite's write lock.
        self._readers = reader_of(sessions)
        self._notifiers = notifiers
        self._clock = clock
        self._owner = owner
        self._max_attempts = max_attempts
        self._base = backoff_base
        self._ceiling = backoff_max
        self._timeout = send_timeout
        self._lease = lease
        self._rng = rng or random.Random()

    async def dispatch_once(self) -> DispatchReport:
        """Send everything due now; each channel independently, so one failing channel
        never delays another."""
        now = self._clock()
        channels = await asyncio.to_thread(self._pending_channels, now)
        report = DispatchReport()
        results = await asyncio.gather(*(self._channel(name) for name in channels))
        for result in results:
            report.add(result)
        return report

    def _pending_channels(self, now: datetime) -> list[str]:
        with self._readers.begin() as session:
            return delivery_repo.pending_channels(session, now)

    async def _channel(self, channel: str) -> DispatchReport:
        report = DispatchReport()
        notifier = self._notifiers.get(channel)
        if notifier is None:
            await asyncio.to_thread(self._fail_unknown, channel)
            return report
        try:
            for _round in range(MAX_ROUNDS):  # drain a backlog batch by batch, in order
                part = await self._immediate(channel, notifier)
                report.add(part)
                if part.failed or not (part.sent or part.dead):
                    break
            report.add(await self._digest(channel, notifier))
        except Exception:
            log.exception("dispatch: %s: unexpected error", channel, extra={"channel": channel})
        for status, count in (
            ("sent", report.sent),
            ("retry", report.failed),
            ("dead", report.dead),
        ):
            if count:
                METRICS.deliveries.labels(channel, status).inc(count)
        return report

    def _fail_unknown(self, channel: str) -> None:
        now = self._clock()
        with self._sessions.begin() as session:
            for mode in ("immediate", "digest"):
                rows = delivery_repo.claim_channel(
                    session,
                    channel,
                    now,
                    mode=mode,
                    owner=self._owner,
                    lease=self._lease,
                    limit=BATCH,
                )
                delivery_repo.mark_failed(
                    session,
                    [r.id for r in rows],
                    now,
                    error=f"{channel}: channel is no longer configured",
                    next_attempt_at=None,
                )
        log.error("dispatch: %s: channel is not configured: its deliveries are dead", channel)

    def _claim(self, channel: str, mode: str) -> tuple[list[DeliveryView], int | None]:
        """Lease what this tick will send. The lease covers the sends it can take (each up
        to the send timeout), so a replica that dies mid-batch frees its work soon after."""
        now = self._clock()
        with self._sessions.begin() as session:
            budget = None
            limit = effective_rate_limit(self._notifiers[channel])
            if limit is not None and mode == "immediate":
                used = delivery_repo.sent_since(session, channel, now - limit.period)
                budget = max(0, limit.count - used)
            if mode == "digest":
                claim, sends = BATCH, 1
            elif budget is None:
                claim = sends = UNLIMITED_BATCH
            else:
                claim, sends = BATCH, budget + 1
            rows = delivery_repo.claim_channel(
                session,
                channel,
                now,
                mode=mode,
                owner=self._owner,
                lease=max(self._lease, self._timeout * (sends + 1)),
                limit=claim,
            )
            return rows, budget

    def _alerts(self, rows: Sequence[DeliveryView]) -> list[Alert]:
        with self._readers.begin() as session:
            found = alert_repo.get_alerts(session, [row.alert_id for row in rows])
        return [found[row.alert_id] for row in rows if row.alert_id in found]

    async def _immediate(self, channel: str, notifier: Notifier) -> DispatchReport:
        report = DispatchReport()
        rows, budget = await asyncio.to_thread(self._claim, channel, "immediate")
        if not rows:
            return report
        if budget is not None and len(rows) > budget:
            if budget == 0:
                await asyncio.to_thread(self._release, rows)
                return report
            # Over the rate limit: send budget-1 alone, then the rest as one rollup.
            singles, burst = rows[: budget - 1], rows[budget - 1 :]
        else:
            singles, burst = rows, []
        # The alerts of the single sends, read in one transaction rather than one per send.
        loaded = await asyncio.to_thread(self._alerts, singles)
        by_id = {alert.id: alert for alert in loaded}
        for row in singles:
            alert = by_id.get(row.alert_id)
            outcome = await self._send(
                channel, notifier, [row], "alert", [alert] if alert is not None else []
            )
            report.add(outcome)
            if outcome.failed:  # head of line: keep order, stop this channel for now
                await asyncio.to_thread(self._release, [r for r in rows if r.id > row.id])
                return report
        if burst:
            report.add(await self._send(channel, notifier, burst, "rollup"))
        return report

    async def _digest(self, channel: str, notifier: Notifier) -> DispatchReport:
        rows, _ = await asyncio.to_thread(self._claim, channel, "digest")
        if not rows:
            return DispatchReport()
        return await self._send(channel, notifier, rows, "digest")

    def _release(self, rows: Sequence[DeliveryView]) -> None:
        with self._sessions.begin() as session:
            delivery_repo.release_leases(session, [r.id for r in rows])

    async def _send(
        self,
        channel: str,
        notifier: Notifier,
        rows: Sequence[DeliveryView],
        kind: str,
        alerts: list[Alert] | None = None,
    ) -> DispatchReport:
        if alerts is None:
            alerts = await asyncio.to_thread(self._alerts, rows)
        if not alerts:
            return DispatchReport()
        if kind == "alert" and rows[0].seq:
            others = [s for s in alerts[0].sources if s != alerts[0].feed]
            title = "Update: now also reported by " + ", ".join(others) if others else "Update"
            message = Message("update", (alerts[0],), rows[0].idempotency_key, title=title)
        elif kind == "alert":
            message = Message("alert", (alerts[0],), rows[0].idempotency_key)
        elif kind == "rollup":
            message = Message(
                "rollup",
                (alerts[0],),
                f"rasd-rollup-{channel}-{rows[0].id}",
                more_count=len(alerts) - 1,
            )
        else:
            message = Message(
                "digest", tuple(alerts), f"rasd-digest-{channel}-{rows[0].id}-{rows[-1].id}"
            )
        ids = [r.id for r in rows]
        error: str
        after: timedelta | None = None
        try:
            async with asyncio.timeout(self._timeout.total_seconds()):
                await notifier.send(message)
        except Rejected as exc:
            await asyncio.to_thread(self._record_failure, ids, str(exc), None)
            log.error(
                "dispatch: %s: rejected, not retried: %s", channel, exc, extra={"channel": channel}
            )
            return DispatchReport(dead=len(ids))
        except RetryLater as exc:
            error, after = str(exc), exc.after
        except TimeoutError:
            error = f"{channel}: no answer within {self._timeout.total_seconds():.0f}s"
        except Exception as exc:  # a bug or an unexpected library error: retry, say what
            error = f"{channel}: {type(exc).__name__}: {exc}"
        else:
            await asyncio.to_thread(self._record_sent, ids, kind == "rollup")
            return DispatchReport(sent=len(ids))
        attempts = max(r.attempts for r in rows) + 1
        if attempts >= self._max_attempts:
            await asyncio.to_thread(self._record_failure, ids, error, None)
            log.error(
                "dispatch: %s: giving up after %d attempts: %s",
                channel,
                attempts,
                error,
                extra={"channel": channel},
            )
            return DispatchReport(dead=len(ids))
        delay = retry_delay(
            attempts, self._rng, base=self._base, ceiling=self._ceiling, after=after
        )
        await asyncio.to_thread(self._record_failure, ids, error, self._clock() + delay)
        log.warning(
            "dispatch: %s: attempt %d failed, retry in %ds: %s",
            channel,
            attempts,
            delay.total_seconds(),
            error,
            extra={"channel": channel},
        )
        return DispatchReport(failed=len(ids))

    def _record_sent(self, ids: list[int], rolled_up: bool) -> None:
        with self._sessions.begin() as session:
            delivery_repo.mark_sent(session, ids, self._clock(), rolled_up=rolled_up)

    def _record_failure(self, ids: list[int], error: str, next_at: datetime | None) -> None:
        with self._sessions.begin() as session:
            delivery_repo.mark_failed(
                session, ids, self._clock(), error=error, next_attempt_at=next_at
            )
