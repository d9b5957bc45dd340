"""Discord: a webhook with Markdown content (2000 characters); mentions never ping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

import httpx

from notifiers.base import Message, RateLimit, RenderSettings, WebhookUrlConfig
from notifiers.compose import markdown_text
from notifiers.render import DISCORD
from notifiers.transport import WebhookUrlNotifier, clamp_after

__all__ = ["MAX_CONTENT_CHARS", "DiscordConfig", "DiscordNotifier", "build_payload"]

MAX_CONTENT_CHARS = 2000


class DiscordConfig(WebhookUrlConfig):
    type: Literal["discord"] = "discord"


def build_payload(message: Message, render: RenderSettings) -> dict[str, Any]:
    content = markdown_text(message, render, limit=MAX_CONTENT_CHARS, flavor=DISCORD)
    return {"content": content, "allowed_mentions": {"parse": []}}


def _retry_after(response: httpx.Response) -> timedelta | None:
    """Discord's JSON `retry_after` (seconds, fractional) is finer than its header."""
    try:
        seconds = response.json().get("retry_after")
    except (ValueError, AttributeError):
        return None
    return clamp_after(float(seconds)) if isinstance(seconds, int | float) else None


class DiscordNotifier(WebhookUrlNotifier):
    type: ClassVar[str] = "discord"
    Config: ClassVar[type[DiscordConfig]] = DiscordConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=5, per=2)

    def payload(self, message: Message) -> dict[str, Any]:
        return build_payload(message, self._render)

    def retry_after(self, response: httpx.Response) -> timedelta | None:
        return _retry_after(response)
