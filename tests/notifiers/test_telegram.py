from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message, RenderSettings
from notifiers.telegram import build_payload
from tests.notifiers.alerts import arabic_alert, french_alert, hostile_alert
from tests.notifiers.chatservers import Answer, FakeTelegram, telegram_visible_text, utf16_len
from tests.notifiers.support import alert_message, deliver, deliver_error


@pytest.fixture
def api() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server  # type: ignore[misc]


def config(api: FakeTelegram, **changes: object) -> dict[str, object]:
    return {
        "type": "telegram",
        "token": api.token,
        "chat_id": api.chat_id,
        "api_url": api.base_url,
        **changes,
    }


def test_sends_html_with_highlights_and_rtl(api: FakeTelegram) -> None:
    deliver(config(api), alert_message(arabic_alert()))
    (body,) = api.accepted
    assert body["parse_mode"] == "HTML" and body["chat_id"] == api.chat_id
    text = body["text"]
    assert "<b>الوقود</b>" in text and "<b>باماكو</b>" in text
    assert "\u2067" in text and "\u2069" in text  # Arabic runs isolated
    assert "2025-03-04 09:30 GMT" in text
    assert "Also reported by: Mali Actu" in text
    assert 'href="https://www.example-ar.ml/news/123?utm_source=x&amp;a=b"' in text


def test_hostile_text_is_escaped(api: FakeTelegram) -> None:
    deliver(config(api), alert_message(hostile_alert()))
    (body,) = api.accepted
    visible = telegram_visible_text(body["text"])
    assert "<script>alert(1)</script> & @everyone <b>" in visible
    assert "<script>" not in body["text"] and "javascript:" not in body["text"]


def test_long_digest_fits_4096_and_counts_the_rest(api: FakeTelegram) -> None:
    long = "كلمة " * 2000
    alerts = tuple(arabic_alert(id=i, summary=long, hits=()) for i in range(60)) + tuple(
        french_alert(id=100 + i) for i in range(60)
    )
    message = Message("digest", alerts, "digest-1", title="Morning digest")
    deliver(config(api), message, RenderSettings(snippet_chars=2000))
    (body,) = api.accepted
    visible = telegram_visible_text(body["text"])
    assert utf16_len(visible) <= 4096
    assert "… and " in visible and "more" in visible
    assert "#fuel" in visible or "#russia" in visible


def test_single_huge_alert_is_cut_safely() -> None:
    title = "<b>&" * 3000
    payload = build_payload(alert_message(hostile_alert(title=title, hits=())), 1, RenderSettings())
    assert utf16_len(payload["text"]) <= 4096
    telegram_visible_text(payload["text"])


def test_rollup_says_how_many_more(api: FakeTelegram) -> None:
    deliver(config(api), Message("rollup", (french_alert(),), "r-1", more_count=41))
    assert "… and 41 more" in api.accepted[0]["text"]


def test_429_reads_parameters_retry_after(api: FakeTelegram) -> None:
    api.force(FakeTelegram.too_many(17))
    error = deliver_error(config(api), alert_message(french_alert()))
    assert isinstance(error, RetryLater) and error.after == timedelta(seconds=17)
    assert api.token not in str(error)


def test_500_is_retried(api: FakeTelegram) -> None:
    api.force(Answer.of_json(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}))
    error = deliver_error(config(api), alert_message(french_alert()))
    assert isinstance(error, RetryLater) and error.after is None


@pytest.mark.parametrize(
    ("changes", "status"),
    [({"token": "123456:wrong"}, "401"), ({"chat_id": 42}, "400 Bad Request: chat not found")],
)
def test_refusals_are_rejected(api: FakeTelegram, changes: dict[str, object], status: str) -> None:
    error = deliver_error(config(api, **changes), alert_message(french_alert()))
    assert isinstance(error, Rejected) and str(error).startswith(f"test: {status}")
    assert "123456:wrong" not in str(error)


def test_unreachable_api_is_retried() -> None:
    error = deliver_error(
        {"type": "telegram", "token": "t", "chat_id": 1, "api_url": "http://127.0.0.1:9"},
        alert_message(french_alert()),
    )
    assert isinstance(error, RetryLater)
