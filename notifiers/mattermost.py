"""Mattermost: an incoming webhook with Markdown text (16383 characters)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx

from notifiers.base import Message, RateLimit, RenderSettings, WebhookUrlConfig
from notifiers.compose import chat_text
from notifiers.limits import MARKDOWN_ATOMS, truncate_text
from notifiers.render import MARKDOWN
from notifiers.transport import raise_for_answer, request

__all__ = ["MAX_TEXT_CHARS", "MattermostConfig", "MattermostNotifier", "build_payload"]

MAX_TEXT_CHARS = 16383


class MattermostConfig(WebhookUrlConfig):
    type: Literal["mattermost"] = "mattermost"


def build_payload(message: Message, render: RenderSettings) -> dict[str, Any]:
    text = chat_text(
        message,
        MARKDOWN,
        render,
        "markdown_alert.txt",
        limit=MAX_TEXT_CHARS,
        truncate=lambda t, n: truncate_text(t, n, atoms=MARKDOWN_ATOMS),
        bold=lambda t: f"**{t}**",
    )
    return {"text": text}


class MattermostNotifier:
    type: ClassVar[str] = "mattermost"
    Config: ClassVar[type[MattermostConfig]] = MattermostConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=10, per=1)

    def __init__(
        self, name: str, config: MattermostConfig, client: httpx.AsyncClient, render: RenderSettings
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
        raise_for_answer(self.name, response, secrets=(url,))

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared and owned by the app."""
