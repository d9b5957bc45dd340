from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message, RenderSettings
from tests.notifiers.alerts import arabic_alert, french_alert, hostile_alert
from tests.notifiers.chatservers import Answer, FakeMattermost
from tests.notifiers.support import alert_message, deliver, deliver_error


@pytest.fixture
def api() -> Iterator[FakeMattermost]:
    with FakeMattermost() as server:
        yield server  # type: ignore[misc]


def config(api: FakeMattermost, path: str | None = None) -> dict[str, object]:
    return {"type": "mattermost", "webhook_url": api.base_url + (path or api.path)}


def test_markdown_with_highlights_and_link(api: FakeMattermost) -> None:
    deliver(config(api), alert_message(french_alert()))
    text = api.accepted[0]["text"]
    assert "**Wagner**" in text
    assert "](https://www.example.fr/afrique/mali-kidal)" in text
    assert "Le Sahel Info · 2025-03-04 23:50 GMT" in text


def test_arabic_isolated(api: FakeMattermost) -> None:
    deliver(config(api), alert_message(arabic_alert()))
    text = api.accepted[0]["text"]
    assert "\u2067" in text and "**الوقود**" in text


def test_hostile_text_escaped_and_mentions_defused(api: FakeMattermost) -> None:
    deliver(config(api), alert_message(hostile_alert(sources=("@channel", "@all"))))
    text = api.accepted[0]["text"]
    assert r"\<script\>**alert**\(1\)\</script\> & @" in text
    assert r"\*stars\* \_under\_ \`tick\` \[x\]\(y\)" in text
    assert "javascript" not in text


def test_long_digest_fits(api: FakeMattermost) -> None:
    alerts = tuple(arabic_alert(id=i, summary="كلمة " * 1000, hits=()) for i in range(80))
    deliver(config(api), Message("digest", alerts, "d"), RenderSettings(snippet_chars=3000))
    text = api.accepted[0]["text"]
    assert len(text) <= 16383 and text.rstrip().endswith("more")


@pytest.mark.parametrize(
    ("answer", "error_type"),
    [
        (Answer.text(429, "slow down", {"Retry-After": "3"}), RetryLater),
        (Answer.text(503, "down"), RetryLater),
        (Answer.of_json(400, {"message": "Invalid webhook"}), Rejected),
        (Answer.of_json(401, {"message": "no"}), Rejected),
    ],
)
def test_answers(api: FakeMattermost, answer: Answer, error_type: type) -> None:
    api.force(answer)
    assert isinstance(deliver_error(config(api), alert_message(french_alert())), error_type)


def test_wrong_hook_rejected(api: FakeMattermost) -> None:
    error = deliver_error(config(api, "/hooks/nope"), alert_message(french_alert()))
    assert isinstance(error, Rejected)
