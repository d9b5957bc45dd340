from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message
from notifiers.webhook import build_request, sign
from tests.notifiers.alerts import arabic_alert, french_alert
from tests.notifiers.chatservers import Answer, WebhookReceiver
from tests.notifiers.support import alert_message, deliver, deliver_error


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server  # type: ignore[misc]


def config(receiver: WebhookReceiver, **changes: object) -> dict[str, object]:
    return {
        "type": "webhook",
        "url": receiver.base_url + receiver.path,
        "secret": receiver.secret,
        **changes,
    }


def test_signed_json_body_verified_by_receiver(receiver: WebhookReceiver) -> None:
    message = Message("digest", (arabic_alert(), french_alert()), "digest-2025-03-04")
    deliver(config(receiver), message)
    (body,) = receiver.accepted
    assert body["kind"] == "digest" and body["idempotency_key"] == "digest-2025-03-04"
    assert [a["id"] for a in body["alerts"]] == [101, 202]
    assert body["alerts"][0]["title"] == arabic_alert().title  # UTF-8, not mangled
    (request,) = receiver.requests
    assert request.headers["idempotency-key"] == "digest-2025-03-04"
    assert "\\u" not in request.body.decode()


def test_wrong_secret_rejected(receiver: WebhookReceiver) -> None:
    error = deliver_error(config(receiver, secret="other"), alert_message(french_alert()))
    assert isinstance(error, Rejected) and "401" in str(error)
    assert receiver.refusals == ["signature"]


def test_no_secret_no_signature() -> None:
    body, headers = build_request(alert_message(french_alert()), None)
    assert "X-Rasd-Signature" not in headers and json.loads(body)["alerts"][0]["id"] == 202


def test_signature_is_over_the_raw_body() -> None:
    body, headers = build_request(alert_message(french_alert()), "k")
    assert headers["X-Rasd-Signature"] == sign(body, "k")
    assert sign(body, "k").startswith("sha256=") and len(sign(body, "k")) == 7 + 64


def test_retry_is_deduplicated_by_key(receiver: WebhookReceiver) -> None:
    message = alert_message(arabic_alert(), key="k-1")
    receiver.force(Answer.text(503, "busy", {"Retry-After": "5"}))
    assert isinstance(deliver_error(config(receiver), message), RetryLater)
    deliver(config(receiver), message)
    deliver(config(receiver), message)
    assert len(receiver.accepted) == 1


@pytest.mark.parametrize("status", [400, 404, 410])
def test_4xx_rejected(receiver: WebhookReceiver, status: int) -> None:
    receiver.force(Answer.text(status, "no"))
    assert isinstance(deliver_error(config(receiver), alert_message(french_alert())), Rejected)


def test_429_retry_after(receiver: WebhookReceiver) -> None:
    receiver.force(Answer.text(429, "slow", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    error = deliver_error(config(receiver), alert_message(french_alert()))
    assert (
        isinstance(error, RetryLater)
        and error.after is not None
        and error.after.total_seconds() == 0
    )
