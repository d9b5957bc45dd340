from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message, RenderSettings
from notifiers.slack import build_payload
from tests.notifiers.alerts import arabic_alert, french_alert, hostile_alert
from tests.notifiers.chatservers import Answer, FakeSlack, slack_markup_problem
from tests.notifiers.support import alert_message, deliver, deliver_error


@pytest.fixture
def api() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server  # type: ignore[misc]


def config(api: FakeSlack, path: str | None = None) -> dict[str, object]:
    return {"type": "slack", "webhook_url": api.base_url + (path or api.path)}


def sections(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]


def test_alert_is_a_mrkdwn_section(api: FakeSlack) -> None:
    deliver(config(api), alert_message(french_alert()))
    (body,) = api.accepted
    (text,) = sections(body)
    assert "*Wagner*" in text and "*Africa Corps*" in text
    assert "<https://www.example.fr/afrique/mali-kidal|" in text
    assert "2025-03-04 23:50 GMT" in text
    assert body["text"]  # notification fallback


def test_arabic_is_isolated(api: FakeSlack) -> None:
    deliver(config(api), alert_message(arabic_alert()))
    (text,) = sections(api.accepted[0])
    assert "\u2067" in text and "*الوقود*" in text
    assert "&amp;a=b" in text  # & in the link escaped for Slack


def test_hostile_text_is_escaped(api: FakeSlack) -> None:
    deliver(config(api), alert_message(hostile_alert()))
    (text,) = sections(api.accepted[0])
    assert "&lt;script&gt;*alert*(1)&lt;/script&gt; &amp; @everyone &lt;b&gt;" in text
    assert slack_markup_problem(text) is None and "javascript" not in text


def test_digest_groups_by_topic_within_block_limits(api: FakeSlack) -> None:
    alerts = tuple(arabic_alert(id=i, summary="نص " * 3000, hits=()) for i in range(40)) + tuple(
        french_alert(id=100 + i) for i in range(40)
    )
    deliver(
        config(api),
        Message("digest", alerts, "d-1", title="Digest"),
        RenderSettings(snippet_chars=4000),
    )
    (body,) = api.accepted
    assert len(body["blocks"]) <= 50
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Digest"}}
    contexts = [b["elements"][0]["text"] for b in body["blocks"] if b["type"] == "context"]
    assert contexts[0] == "*#russia*"
    assert contexts[-1].startswith("… and ") and contexts[-1].endswith(" more")
    assert all(len(t) <= 3000 for t in sections(body))


def test_snippet_setting_bounds_section(api: FakeSlack) -> None:
    payload = build_payload(
        alert_message(arabic_alert(summary="كلمة " * 2000, hits=())),
        RenderSettings(snippet_chars=9000),
    )
    (text,) = sections(payload)
    assert len(text) <= 3000 and text.endswith("…")


def test_429_reads_retry_after_header(api: FakeSlack) -> None:
    api.force(Answer.text(429, "rate_limited", {"Retry-After": "30"}))
    error = deliver_error(config(api), alert_message(french_alert()))
    assert isinstance(error, RetryLater) and error.after == timedelta(seconds=30)


def test_500_is_retried(api: FakeSlack) -> None:
    api.force(Answer.text(500, "internal_error"))
    assert isinstance(deliver_error(config(api), alert_message(french_alert())), RetryLater)


@pytest.mark.parametrize(("status", "text"), [(400, "invalid_payload"), (404, "no_service")])
def test_refusals_are_rejected(api: FakeSlack, status: int, text: str) -> None:
    api.force(Answer.text(status, text))
    error = deliver_error(config(api), alert_message(french_alert()))
    assert isinstance(error, Rejected) and f"{status} {text}" in str(error)


def test_wrong_token_is_rejected_without_leaking_url(api: FakeSlack) -> None:
    error = deliver_error(config(api, "/services/T0001/B0001/wrong"), alert_message(french_alert()))
    assert isinstance(error, Rejected) and "403" in str(error) and "wrong" not in str(error)
