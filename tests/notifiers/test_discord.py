from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message, RenderSettings
from tests.notifiers.alerts import HOSTILE_TITLE, arabic_alert, french_alert, hostile_alert
from tests.notifiers.chatservers import Answer, FakeDiscord
from tests.notifiers.support import alert_message, deliver, deliver_error


@pytest.fixture
def api() -> Iterator[FakeDiscord]:
    with FakeDiscord() as server:
        yield server  # type: ignore[misc]


def config(api: FakeDiscord, path: str | None = None) -> dict[str, object]:
    return {"type": "discord", "webhook_url": api.base_url + (path or api.path)}


def test_content_and_no_mentions(api: FakeDiscord) -> None:
    deliver(config(api), alert_message(french_alert()))
    (body,) = api.accepted
    assert body["allowed_mentions"] == {"parse": []}
    assert "**Wagner**" in body["content"]


def test_hostile_title(api: FakeDiscord) -> None:
    deliver(config(api), alert_message(hostile_alert()))
    content = api.accepted[0]["content"]
    assert HOSTILE_TITLE not in content and "@\u200beveryone" in content
    assert "@\u200bhere" in content


def test_digest_fits_2000(api: FakeDiscord) -> None:
    alerts = (*(arabic_alert(id=i) for i in range(30)), french_alert())
    deliver(config(api), Message("digest", alerts, "d"), RenderSettings())
    content = api.accepted[0]["content"]
    assert len(content) <= 2000 and "more" in content.splitlines()[-1]


def test_429_prefers_body_retry_after(api: FakeDiscord) -> None:
    api.force(FakeDiscord.too_many(1.5))
    error = deliver_error(config(api), alert_message(arabic_alert()))
    assert isinstance(error, RetryLater) and error.after == timedelta(seconds=1.5)


def test_429_header_only(api: FakeDiscord) -> None:
    api.force(Answer.text(429, "slow", {"Retry-After": "4"}))
    error = deliver_error(config(api), alert_message(arabic_alert()))
    assert isinstance(error, RetryLater) and error.after == timedelta(seconds=4)


def test_500_retried(api: FakeDiscord) -> None:
    api.force(Answer.of_json(500, {"message": "oops"}))
    assert isinstance(deliver_error(config(api), alert_message(arabic_alert())), RetryLater)


@pytest.mark.parametrize("path", ["/api/webhooks/111222333/wrongtoken", "/api/webhooks/unknown/x"])
def test_bad_webhook_rejected(api: FakeDiscord, path: str) -> None:
    error = deliver_error(config(api, path), alert_message(arabic_alert()))
    assert isinstance(error, Rejected) and "wrongtoken" not in str(error)


def test_400_rejected(api: FakeDiscord) -> None:
    api.force(Answer.of_json(400, {"content": ["Must be 2000 or fewer in length."]}))
    assert isinstance(deliver_error(config(api), alert_message(arabic_alert())), Rejected)
