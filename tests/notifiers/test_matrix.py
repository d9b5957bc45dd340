from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import ValidationError

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message
from notifiers.matrix import send_path
from notifiers.registry import validate_channel
from tests.notifiers.alerts import arabic_alert, french_alert, hostile_alert
from tests.notifiers.chatservers import Answer, FakeMatrix
from tests.notifiers.support import alert_message, deliver, deliver_error


@pytest.fixture
def api() -> Iterator[FakeMatrix]:
    with FakeMatrix() as server:
        yield server  # type: ignore[misc]


def config(api: FakeMatrix, **changes: object) -> dict[str, object]:
    return {
        "type": "matrix",
        "homeserver": api.base_url,
        "access_token": api.token,
        "room_id": api.room_id,
        **changes,
    }


def test_put_with_txn_id_is_idempotent(api: FakeMatrix) -> None:
    message = alert_message(arabic_alert(), key="delivery:42/1")
    deliver(config(api), message)
    deliver(config(api), message)  # a retry after a lost answer
    assert len(api.requests) == 2 and len(api.accepted) == 1
    assert list(api.events) == ["delivery:42/1"]
    assert api.requests[0].path == send_path(api.room_id, "delivery:42/1")
    assert "%21room%3Aexample.org" in api.requests[0].path


def test_body_and_formatted_body(api: FakeMatrix) -> None:
    deliver(config(api), alert_message(arabic_alert()))
    (event,) = api.accepted
    assert event["msgtype"] == "m.text"
    assert event["format"] == "org.matrix.custom.html"
    assert "<b>الوقود</b>" in event["formatted_body"]
    assert "الوقود" in event["body"] and "<b>" not in event["body"]
    assert "\u2067" in event["body"]


def test_hostile_html_escaped(api: FakeMatrix) -> None:
    deliver(config(api), alert_message(hostile_alert()))
    html = api.accepted[0]["formatted_body"]
    assert "<script>" not in html and "&lt;script&gt;<b>alert</b>" in html
    assert "<img" not in html and "javascript" not in html


def test_digest_groups(api: FakeMatrix) -> None:
    message = Message("digest", (arabic_alert(), french_alert()), "d-1", title="Digest")
    deliver(config(api), message)
    html = api.accepted[0]["formatted_body"]
    assert html.index("#russia") < html.index("#fuel")


def test_429_reads_retry_after_ms(api: FakeMatrix) -> None:
    api.force(FakeMatrix.error(429, "M_LIMIT_EXCEEDED", "Too many", retry_after_ms=2500))
    error = deliver_error(config(api), alert_message(french_alert()))
    assert isinstance(error, RetryLater) and error.after == timedelta(seconds=2.5)


def test_500_retried(api: FakeMatrix) -> None:
    api.force(Answer.text(500, "boom"))
    assert isinstance(deliver_error(config(api), alert_message(french_alert())), RetryLater)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"access_token": "syt_wrong"}, "M_UNKNOWN_TOKEN"),
        ({"room_id": "!other:example.org"}, "M_FORBIDDEN"),
    ],
)
def test_refusals(api: FakeMatrix, changes: dict[str, object], code: str) -> None:
    error = deliver_error(config(api, **changes), alert_message(french_alert()))
    assert isinstance(error, Rejected) and code in str(error) and "syt_wrong" not in str(error)


def test_room_id_validated() -> None:
    with pytest.raises(ValidationError) as info:
        validate_channel(
            "m",
            {"type": "matrix", "homeserver": "https://m.org", "access_token": "t", "room_id": "x"},
        )
    assert info.value.errors()[0]["loc"] == ("room_id",)


@pytest.mark.parametrize(
    ("room", "ok"),
    [
        ("!abc:example.org", True),
        ("!sdbSJWMkER2X9Uk", True),
        ("#desk:example.org", True),
        ("#desk", False),
        ("desk", False),
        ("!", False),
        ("!a b", False),
    ],
)
def test_room_ids_of_every_room_version(room: str, ok: bool) -> None:
    from pydantic import ValidationError

    from notifiers.registry import validate_channel

    raw = {
        "type": "matrix",
        "homeserver": "https://m.example.org",
        "access_token": "t",
        "room_id": room,
    }
    if ok:
        validate_channel("m", raw)
    else:
        with pytest.raises(ValidationError):
            validate_channel("m", raw)
