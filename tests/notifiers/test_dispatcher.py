"""The outbox dispatcher against real local webhook receivers and a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import FeedConfig
from monitor.domain import Item, Match, TermHit
from notifiers.base import RenderSettings
from notifiers.dispatcher import Dispatcher, retry_delay
from notifiers.registry import build_notifier
from storage import alerts as alert_repo
from storage import deliveries as delivery_repo
from storage import feeds as feed_repo
from storage import items as item_repo
from storage.db import create_db_engine, ensure_schema, make_sessionmaker
from tests.feedserver import FeedServer

T0 = datetime(2025, 11, 11, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Receiver:
    """A webhook endpoint that can fail on purpose and records what it accepted."""

    def __init__(self, server: FeedServer, path: str) -> None:
        self.accepted: list[dict[str, object]] = []  # alerts, in arrival order
        self.messages: list[dict[str, object]] = []
        self.fail_with: tuple[int, dict[str, str]] | None = None
        receiver = self

        def handle(request: BaseHTTPRequestHandler) -> None:
            body = request.request_body  # type: ignore[attr-defined]
            if receiver.fail_with is not None:
                status, headers = receiver.fail_with
                request.send_response(status)
                for key, value in headers.items():
                    request.send_header(key, value)
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
            message = json.loads(body)
            receiver.messages.append(message)
            receiver.accepted.extend(message["alerts"])
            request.send_response(200)
            request.send_header("Content-Length", "0")
            request.end_headers()

        self.url = server.add(path, handler=handle)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(f"sqlite:///{tmp_path}/rasd.db")
    ensure_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def add_alerts(
    sessions: sessionmaker[Session], n: int, channels: list[tuple[str, str]], due: datetime = T0
) -> list[int]:
    ids = []
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [FeedConfig(url="http://127.0.0.1/f.xml", name="F")], T0)
        feed_id = feed_repo.list_feeds(s)[0].id
        for i in range(n):
            title = f"هجوم في مالي رقم {i}"
            item = Item(f"g{i}", f"https://example.org/{i}", title, "", T0, "ar")
            item_id = item_repo.add_item(s, feed_id, item, T0, canonical_url=None)
            assert item_id is not None
            story = alert_repo.add_story(s, item, "F", T0)
            match = Match(
                "mali-attack",
                "Attack in Mali",
                "high",
                ("security",),
                1.0,
                (TermHit("هجوم", "title", 0, 4, "هجوم"),),
            )
            alert_id, _ = alert_repo.get_or_add_alert(
                s,
                match,
                story_id=story,
                item_id=item_id,
                item=item,
                feed="F",
                sources=["F"],
                now=T0,
            )
            delivery_repo.add_deliveries(
                s,
                alert_id,
                [delivery_repo.PlannedDelivery(c, mode, 0, due) for c, mode in channels],
                T0,
            )
            ids.append(alert_id)
    return ids


def make_dispatcher(
    sessions: sessionmaker[Session],
    client: httpx.AsyncClient,
    clock: Clock,
    channels: dict[str, dict[str, object]],
    **kw: object,
) -> Dispatcher:
    notifiers = {
        name: build_notifier(name, raw, client, RenderSettings()) for name, raw in channels.items()
    }
    return Dispatcher(
        sessions=sessions,
        notifiers=notifiers,
        clock=clock,
        owner="test",
        rng=random.Random(1),
        **kw,
    )  # type: ignore[arg-type]


def test_outage_then_recovery_delivers_everything_in_order_without_delaying_others(
    sessions: sessionmaker[Session], feed_server: FeedServer
) -> None:
    down = Receiver(feed_server, "/down")
    up = Receiver(feed_server, "/up")
    ids = add_alerts(sessions, 5, [("down", "immediate"), ("up", "immediate")])
    clock = Clock()

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            dispatcher = make_dispatcher(
                sessions,
                client,
                clock,
                {
                    "down": {"type": "webhook", "url": down.url},
                    "up": {"type": "webhook", "url": up.url},
                },
                backoff_base=timedelta(seconds=10),
                backoff_max=timedelta(minutes=2),
                max_attempts=50,
            )
            down.fail_with = (500, {})
            for _ in range(60):  # ten simulated minutes of a failing API, a tick every 10 s
                await dispatcher.dispatch_once()
                clock.now += timedelta(seconds=10)
            assert [a["id"] for a in up.accepted] == ids  # the healthy channel got all, at once
            assert down.accepted == []
            down.fail_with = None
            for _ in range(30):
                await dispatcher.dispatch_once()
                clock.now += timedelta(seconds=10)

    asyncio.run(scenario())
    assert [a["id"] for a in down.accepted] == ids  # every alert, in order, once
    assert [a["id"] for a in up.accepted] == ids
    with sessions.begin() as s:
        assert {d.status for d in delivery_repo.list_deliveries(s)} == {"sent"}


def test_retry_after_is_honoured(sessions: sessionmaker[Session], feed_server: FeedServer) -> None:
    hook = Receiver(feed_server, "/hook")
    hook.fail_with = (429, {"Retry-After": "120"})
    add_alerts(sessions, 1, [("hook", "immediate")])
    clock = Clock()

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            dispatcher = make_dispatcher(
                sessions,
                client,
                clock,
                {"hook": {"type": "webhook", "url": hook.url}},
                backoff_base=timedelta(seconds=1),
            )
            report = await dispatcher.dispatch_once()
            assert report.failed == 1

    asyncio.run(scenario())
    with sessions.begin() as s:
        (delivery,) = delivery_repo.list_deliveries(s)
    assert delivery.next_attempt_at >= T0 + timedelta(seconds=120)
    assert delivery.attempts == 1 and "429" in (delivery.last_error or "")


def test_rejected_goes_dead_and_can_be_retried(
    sessions: sessionmaker[Session], feed_server: FeedServer
) -> None:
    hook = Receiver(feed_server, "/hook")
    hook.fail_with = (404, {})
    add_alerts(sessions, 2, [("hook", "immediate")])
    clock = Clock()

    async def tick() -> None:
        async with httpx.AsyncClient() as client:
            dispatcher = make_dispatcher(
                sessions, client, clock, {"hook": {"type": "webhook", "url": hook.url}}
            )
            await dispatcher.dispatch_once()

    asyncio.run(tick())
    with sessions.begin() as s:
        dead = delivery_repo.list_deliveries(s, status="dead")
    assert len(dead) == 2  # a rejected message does not block the next one
    hook.fail_with = None
    with sessions.begin() as s:
        assert delivery_repo.requeue(s, dead[0].id, clock.now)
    asyncio.run(tick())
    assert len(hook.accepted) == 1


def test_gives_up_after_max_attempts(
    sessions: sessionmaker[Session], feed_server: FeedServer
) -> None:
    hook = Receiver(feed_server, "/hook")
    hook.fail_with = (503, {})
    add_alerts(sessions, 1, [("hook", "immediate")])
    clock = Clock()

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            dispatcher = make_dispatcher(
                sessions,
                client,
                clock,
                {"hook": {"type": "webhook", "url": hook.url}},
                max_attempts=3,
                backoff_base=timedelta(seconds=1),
                backoff_max=timedelta(seconds=5),
            )
            for _ in range(10):
                await dispatcher.dispatch_once()
                clock.now += timedelta(seconds=10)

    asyncio.run(scenario())
    with sessions.begin() as s:
        (delivery,) = delivery_repo.list_deliveries(s)
    assert (delivery.status, delivery.attempts) == ("dead", 3)


def test_burst_over_rate_limit_rolls_up(
    sessions: sessionmaker[Session], feed_server: FeedServer
) -> None:
    hook = Receiver(feed_server, "/hook")
    add_alerts(sessions, 12, [("hook", "immediate")])
    clock = Clock()

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            dispatcher = make_dispatcher(
                sessions,
                client,
                clock,
                {
                    "hook": {
                        "type": "webhook",
                        "url": hook.url,
                        "rate_limit": {"count": 3, "per": 60},
                    }
                },
            )
            await dispatcher.dispatch_once()

    asyncio.run(scenario())
    assert len(hook.messages) == 3  # two alone, then one "… and N more"
    with sessions.begin() as s:
        statuses = {d.status for d in delivery_repo.list_deliveries(s)}
    assert statuses == {"sent"}


def test_digest_waits_for_its_time_and_groups(
    sessions: sessionmaker[Session], feed_server: FeedServer
) -> None:
    hook = Receiver(feed_server, "/hook")
    add_alerts(sessions, 4, [("hook", "digest")], due=T0 + timedelta(hours=1))
    clock = Clock()

    async def tick() -> None:
        async with httpx.AsyncClient() as client:
            dispatcher = make_dispatcher(
                sessions, client, clock, {"hook": {"type": "webhook", "url": hook.url}}
            )
            await dispatcher.dispatch_once()

    asyncio.run(tick())
    assert hook.accepted == []
    clock.now = T0 + timedelta(hours=1)
    asyncio.run(tick())
    assert len(hook.messages) == 1  # one digest message for the four alerts
    assert hook.messages[0]["kind"] == "digest" and len(hook.accepted) == 4
    asyncio.run(tick())
    assert len(hook.messages) == 1


def test_retry_delay_is_bounded_and_honours_after() -> None:
    rng = random.Random(3)
    base, ceiling = timedelta(seconds=30), timedelta(hours=1)
    delays = [retry_delay(n, rng, base=base, ceiling=ceiling) for n in range(1, 30)]
    assert all(timedelta(0) < d <= ceiling for d in delays)
    assert retry_delay(1, rng, base=base, ceiling=ceiling, after=timedelta(minutes=5)) >= timedelta(
        minutes=5
    )
