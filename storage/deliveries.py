"""Deliveries repository: the outbox. Rows are written with their alert; the dispatcher
claims them in order per channel, and records sent / retry / dead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import DeliveryRow
from storage.upsert import insert_ignore

__all__ = [
    "DeliveryView",
    "PlannedDelivery",
    "add_deliveries",
    "add_update_deliveries",
    "claim_channel",
    "count_by_status",
    "list_deliveries",
    "mark_failed",
    "mark_sent",
    "pending_channels",
    "release_leases",
    "requeue",
    "sent_since",
]


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    channel: str
    mode: str  # immediate | digest
    route: int
    due_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    alert_id: int
    channel: str
    mode: str
    route: int
    status: str
    attempts: int
    seq: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime

    @property
    def idempotency_key(self) -> str:
        base = f"rasd-{self.alert_id}-{self.channel}"
        return f"{base}-u{self.seq}" if self.seq else base


def _view(row: DeliveryRow) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        alert_id=row.alert_id,
        channel=row.channel,
        mode=row.mode,
        route=row.route,
        status=row.status,
        attempts=row.attempts,
        seq=row.seq or 0,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        sent_at=row.sent_at,
        created_at=row.created_at,
    )


def add_deliveries(
    session: Session, alert_id: int, planned: Sequence[PlannedDelivery], now: datetime
) -> int:
    """One row per (alert, channel); a channel reached by two routes gets one delivery."""
    added = 0
    for plan in planned:
        new_id = insert_ignore(
            session,
            DeliveryRow.__table__,  # type: ignore[arg-type]
            {
                "alert_id": alert_id,
                "channel": plan.channel,
                "mode": plan.mode,
                "route": plan.route,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": plan.due_at,
                "created_at": now,
                "rolled_up": False,
            },
        )
        added += new_id is not None
    return added


def add_update_deliveries(session: Session, alert_ids: Sequence[int], now: datetime) -> int:
    """A story update: one more delivery on each channel that carried these alerts."""
    added = 0
    for alert_id in alert_ids:
        rows = session.execute(
            select(DeliveryRow.channel, func.max(DeliveryRow.seq), func.min(DeliveryRow.route))
            .where(DeliveryRow.alert_id == alert_id, DeliveryRow.mode == "immediate")
            .group_by(DeliveryRow.channel)
        ).all()
        for channel, seq, route in rows:
            new_id = insert_ignore(
                session,
                DeliveryRow.__table__,  # type: ignore[arg-type]
                {
                    "alert_id": alert_id,
                    "channel": channel,
                    "mode": "immediate",
                    "route": route,
                    "seq": (seq or 0) + 1,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "rolled_up": False,
                },
            )
            added += new_id is not None
    return added


def pending_channels(session: Session, now: datetime) -> list[str]:
    """Channels that have at least one pending delivery due now."""
    query = (
        select(DeliveryRow.channel)
        .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
        .distinct()
    )
    return sorted(session.scalars(query))


def claim_channel(
    session: Session,
    channel: str,
    now: datetime,
    *,
    mode: str,
    owner: str,
    lease: timedelta,
    limit: int,
) -> list[DeliveryView]:
    """Lease the due pending deliveries of one channel and mode, oldest first.

    Immediate deliveries keep their order: if the oldest pending one is waiting for a retry,
    nothing after it is claimed (head of line), so a channel that comes back gets every
    alert in order. Digest deliveries are claimed all together when due."""
    base = (
        select(DeliveryRow)
        .where(
            DeliveryRow.channel == channel,
            DeliveryRow.status == "pending",
            DeliveryRow.mode == mode,
        )
        .order_by(DeliveryRow.id)
    )
    if mode == "immediate":
        head = session.scalars(base.limit(1)).first()
        if head is None or head.next_attempt_at > now:
            return []
        if head.lease_until is not None and head.lease_until > now:
            return []
    query = (
        base.where(
            DeliveryRow.next_attempt_at <= now,
            or_(DeliveryRow.lease_until.is_(None), DeliveryRow.lease_until < now),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.scalars(query))
    for row in rows:
        row.lease_until = now + lease
        row.lease_owner = owner
    return [_view(row) for row in rows]


_DELIVERIES = DeliveryRow.__table__
# Built once, on the table (Core): the ORM's bulk-update path costs ~1 ms per send.
_MARK_SENT = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status="sent",
        sent_at=bindparam("now"),
        attempts=_DELIVERIES.c.attempts + 1,
        lease_until=None,
        lease_owner=None,
        last_error=None,
        rolled_up=bindparam("rolled_up"),
    )
)


def mark_sent(
    session: Session, ids: Sequence[int], now: datetime, *, rolled_up: bool = False
) -> None:
    if ids:
        session.execute(_MARK_SENT, {"ids": list(ids), "now": now, "rolled_up": rolled_up})


def mark_failed(
    session: Session,
    ids: Sequence[int],
    now: datetime,
    *,
    error: str,
    next_attempt_at: datetime | None,
) -> None:
    """Record a failed attempt; `next_attempt_at=None` makes the deliveries dead."""
    if not ids:
        return
    values: dict[str, object] = {
        "attempts": DeliveryRow.attempts + 1,
        "last_error": error[:2000],
        "lease_until": None,
        "lease_owner": None,
    }
    if next_attempt_at is None:
        values["status"] = "dead"
    else:
        values["next_attempt_at"] = next_attempt_at
    session.execute(update(DeliveryRow).where(DeliveryRow.id.in_(list(ids))).values(**values))


def release_leases(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(list(ids)))
            .values(lease_until=None, lease_owner=None)
        )


def requeue(session: Session, delivery_id: int, now: datetime) -> bool:
    """`rasd alerts retry ID`: a dead (or failed) delivery goes back to the outbox."""
    row = session.get(DeliveryRow, delivery_id)
    if row is None or row.status == "sent":
        return False
    row.status, row.next_attempt_at, row.attempts = "pending", now, 0
    row.lease_until = row.lease_owner = None
    return True


def list_deliveries(
    session: Session,
    *,
    status: str | None = None,
    alert_ids: Sequence[int] | None = None,
    limit: int = 1000,
) -> list[DeliveryView]:
    query = select(DeliveryRow).order_by(DeliveryRow.id).limit(limit)
    if status is not None:
        query = query.where(DeliveryRow.status == status)
    if alert_ids is not None:
        query = query.where(DeliveryRow.alert_id.in_(list(alert_ids)))
    return [_view(row) for row in session.scalars(query)]


def sent_since(session: Session, channel: str, since: datetime) -> int:
    """Messages a channel sent since `since` (a rolled-up burst counts once)."""
    query = select(func.count(func.distinct(DeliveryRow.sent_at))).where(
        DeliveryRow.channel == channel,
        DeliveryRow.status == "sent",
        DeliveryRow.sent_at >= since,
    )
    return int(session.scalar(query) or 0)


def count_by_status(session: Session) -> dict[tuple[str, str], int]:
    query = select(DeliveryRow.channel, DeliveryRow.status, func.count()).group_by(
        DeliveryRow.channel, DeliveryRow.status
    )
    return {(channel, status): n for channel, status, n in session.execute(query)}
