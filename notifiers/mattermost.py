"""Mattermost: an incoming webhook with Markdown text (16383 characters)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from notifiers.base import Message, RateLimit, RenderSettings, WebhookUrlConfig
from notifiers.compose import markdown_text
from notifiers.transport import WebhookUrlNotifier

__all__ = ["MAX_TEXT_CHARS", "MattermostConfig", "MattermostNotifier", "build_payload"]

MAX_TEXT_CHARS = 16383


class MattermostConfig(WebhookUrlConfig):
    type: Literal["mattermost"] = "mattermost"


def build_payload(message: Message, render: RenderSettings) -> dict[str, Any]:
    text = markdown_text(message, render, limit=MAX_TEXT_CHARS)
    return {"text": text}


class MattermostNotifier(WebhookUrlNotifier):
    type: ClassVar[str] = "mattermost"
    Config: ClassVar[type[MattermostConfig]] = MattermostConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=10, per=1)

    def payload(self, message: Message) -> dict[str, Any]:
        return build_payload(message, self._render)
