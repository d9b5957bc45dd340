"""Discord: a webhook with Markdown content (2000 characters); mentions never ping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

import httpx

from notifiers.base import Message, RateLimit, RenderSettings, WebhookUrlConfig
from notifiers.compose import chat_text
from notifiers.limits import MARKDOWN_ATOMS, truncate_text
from notifiers.render import DISCORD
from notifiers.transport import clamp_after, raise_for_answer, request

__all__ = ["MAX_CONTENT_CHARS", "DiscordConfig", "DiscordNotifier", "build_payload"]

MAX_CONTENT_CHARS = 2000


class DiscordConfig(WebhookUrlConfig):
    type: Literal["discord"] = "discord"


def build_payload(message: Message, render: RenderSettings) -> dict[str, Any]:
    content = chat_text(
        message,
        DISCORD,
        render,
        "markdown_alert.txt",
        limit=MAX_CONTENT_CHARS,
        truncate=lambda t, n: truncate_text(t, n, atoms=MARKDOWN_ATOMS),
        bold=lambda t: f"**{t}**",
    )
    return {"content": content, "allowed_mentions": {"parse": []}}


def _retry_after(response: httpx.Response) -> timedelta | None:
    """Discord's JSON `retry_after` (seconds, fractional) is finer than its header."""
    try:
        seconds = response.json().get("retry_after")
    except (ValueError, AttributeError):
        return None
    return clamp_after(float(seconds)) if isinstance(seconds, int | float) else None


class DiscordNotifier:
    type: ClassVar[str] = "discord"
    Config: ClassVar[type[DiscordConfig]] = DiscordConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=5, per=2)

    def __init__(
        self, name: str, config: DiscordConfig, client: httpx.AsyncClient, render: RenderSettings
    ) -> None:
        self.name = name
        self.config = config
        self._client = client
        self._render = render

    async def send(self, message: Message) -> None:
        url = self.config.webhook_url.get_secret_value()
        response = await request(
            self._client,
            self.name,
            "POST",
            url,
            json=build_payload(message, self._render),
            secrets=(url,),
        )
        after = _retry_after(response) if response.status_code == 429 else None
        raise_for_answer(self.name, response, after=after, secrets=(url,))

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared and owned by the app."""
