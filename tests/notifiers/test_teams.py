from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message, RenderSettings
from notifiers.teams import MAX_PAYLOAD_BYTES, build_payload
from tests.notifiers.alerts import arabic_alert, french_alert, hostile_alert
from tests.notifiers.chatservers import Answer, FakeTeams
from tests.notifiers.support import alert_message, deliver, deliver_error


@pytest.fixture
def api() -> Iterator[FakeTeams]:
    with FakeTeams() as server:
        yield server  # type: ignore[misc]


def config(api: FakeTeams, sig: str | None = None) -> dict[str, object]:
    return {"type": "teams", "webhook_url": f"{api.base_url}{api.path}?sig={sig or api.sig}"}


def card(body: dict) -> dict:  # type: ignore[type-arg]
    return body["attachments"][0]["content"]  # type: ignore[no-any-return]


def test_adaptive_card_with_rtl_container(api: FakeTeams) -> None:
    deliver(config(api), alert_message(arabic_alert()))
    content = card(api.accepted[0])
    (container,) = content["body"]
    assert container["type"] == "Container" and container["rtl"] is True
    title = container["items"][0]["text"]
    assert "**الوقود**" in title and "](https://www.example-ar.ml/news/123" in title
    facts = {f["title"]: f["value"] for f in container["items"][-1]["facts"]}
    assert facts["Published"] == "2025-03-04 09:30 GMT"
    assert "Mali Actu" in facts["Also reported by"]


def test_french_is_ltr_and_hostile_escaped(api: FakeTeams) -> None:
    deliver(config(api), Message("rollup", (french_alert(), hostile_alert()), "r", more_count=3))
    body = card(api.accepted[0])["body"]
    assert body[1]["rtl"] is False
    raw = json.dumps(body, ensure_ascii=False)
    assert "<script>" not in raw and "javascript" not in raw and "@everyone" not in raw
    assert body[-1]["text"] == "… and 3 more"


def test_big_digest_stays_under_size(api: FakeTeams) -> None:
    alerts = tuple(arabic_alert(id=i) for i in range(200))
    payload = build_payload(Message("digest", alerts, "d"), RenderSettings())
    assert len(json.dumps(payload, ensure_ascii=False).encode()) <= MAX_PAYLOAD_BYTES
    assert card(payload)["body"][-1]["text"].startswith("… and ")
    deliver(config(api), Message("digest", alerts, "d"))
    assert len(api.accepted) == 1


def test_429_and_500_retry(api: FakeTeams) -> None:
    api.force(Answer.text(429, "", {"Retry-After": "12"}))
    error = deliver_error(config(api), alert_message(french_alert()))
    assert isinstance(error, RetryLater) and error.after == timedelta(seconds=12)
    api.force(Answer.text(500, ""))
    assert isinstance(deliver_error(config(api), alert_message(french_alert())), RetryLater)


def test_bad_signature_rejected(api: FakeTeams) -> None:
    error = deliver_error(config(api, sig="wrong"), alert_message(french_alert()))
    assert isinstance(error, Rejected) and "401" in str(error) and "wrong" not in str(error)


def test_400_rejected(api: FakeTeams) -> None:
    api.force(Answer.of_json(400, {"error": {"code": "InvalidRequestContent"}}))
    assert isinstance(deliver_error(config(api), alert_message(french_alert())), Rejected)
