"""Apprise: the long tail of services (ntfy, Gotify, Pushover, SMS gateways, …) through the
optional `apprise` package (`pip install 'rasd[apprise]'`).

Apprise sends with blocking calls and answers only True/False, without Retry-After or the
reason, so it is a convenience channel: the core channels talk to their APIs directly."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

import httpx
from pydantic import SecretStr, field_validator

from monitor.errors import Rejected, RetryLater
from notifiers.base import ChannelConfig, Message, RateLimit, RenderSettings
from notifiers.compose import heading, markdown_text

__all__ = ["AppriseConfig", "AppriseNotifier", "build_body"]

MAX_BODY_CHARS = 4000  # the smallest limit among the common targets (Telegram-like)


class AppriseConfig(ChannelConfig):
    type: Literal["apprise"] = "apprise"
    urls: tuple[SecretStr, ...]  # Apprise URLs; they usually carry tokens: keep them in ${ENV}

    @field_validator("urls")
    @classmethod
    def _some(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if not value:
            raise ValueError("urls: give at least one Apprise URL")
        return value


def build_body(message: Message, render: RenderSettings) -> tuple[str, str]:
    """(title, markdown body) of the notification."""
    body = markdown_text(message, render, limit=MAX_BODY_CHARS)
    first = message.alerts[0]
    title = heading(message) or f"[{first.severity.upper()}] {first.rule_title}"
    return title, body


class AppriseNotifier:
    type: ClassVar[str] = "apprise"
    Config: ClassVar[type[AppriseConfig]] = AppriseConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=10, per=60)

    def __init__(
        self, name: str, config: AppriseConfig, client: httpx.AsyncClient, render: RenderSettings
    ) -> None:
        self.name = name
        self.config = config
        self._render = render

    def _notify(self, title: str, body: str) -> bool:
        try:
            import apprise
        except ImportError as exc:
            raise Rejected(
                self.name, "apprise is not installed (pip install 'rasd[apprise]')"
            ) from exc
        sender: Any = apprise.Apprise()
        for url in self.config.urls:
            if not sender.add(url.get_secret_value()):
                raise Rejected(self.name, "apprise does not understand one of the configured URLs")
        return bool(
            sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
        )

    async def send(self, message: Message) -> None:
        title, body = build_body(message, self._render)
        if not await asyncio.to_thread(self._notify, title, body):
            raise RetryLater(self.name, "apprise reported a failed notification")

    async def aclose(self) -> None:
        """Nothing to release."""
