"""Telegram: Bot API sendMessage with parse_mode=HTML, 4096 characters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import SecretStr, field_validator

from notifiers.base import ChannelConfig, Message, RateLimit, RenderSettings, http_url
from notifiers.compose import chat_text
from notifiers.limits import truncate_html, utf16_len
from notifiers.render import TELEGRAM
from notifiers.transport import HttpNotifier, clamp_after, raise_for_answer, request

__all__ = ["MAX_TEXT_CHARS", "TelegramConfig", "TelegramNotifier", "build_payload"]

MAX_TEXT_CHARS = 4096  # counted in UTF-16 code units


class TelegramConfig(ChannelConfig):
    type: Literal["telegram"] = "telegram"
    token: SecretStr
    chat_id: int | str
    api_url: str = "https://api.telegram.org"

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        http_url(value, field="api_url")
        return value.rstrip("/")

    @field_validator("chat_id")
    @classmethod
    def _check_chat_id(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not value.strip():
            raise ValueError("chat_id must not be empty")
        return value


def build_payload(message: Message, chat_id: int | str, render: RenderSettings) -> dict[str, Any]:
    text = chat_text(
        message,
        TELEGRAM,
        render,
        "telegram_alert.txt",
        limit=MAX_TEXT_CHARS,
        truncate=lambda t, n: truncate_html(t, n, measure=utf16_len),
        bold=lambda t: f"<b>{t}</b>",
        measure=utf16_len,
    )
    return {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": message.kind != "alert"},
    }


def _retry_after(response: httpx.Response) -> timedelta | None:
    try:
        body = response.json()
        seconds = body["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return clamp_after(float(seconds)) if isinstance(seconds, int | float) else None


def _description(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("description", "")) if isinstance(body, dict) else None


class TelegramNotifier(HttpNotifier):
    type: ClassVar[str] = "telegram"
    Config: ClassVar[type[TelegramConfig]] = TelegramConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=20, per=60)  # per group chat

    async def send(self, message: Message) -> None:
        token = self.config.token.get_secret_value()
        response = await request(
            self._client,
            self.name,
            "POST",
            f"{self.config.api_url}/bot{token}/sendMessage",
            json=build_payload(message, self.config.chat_id, self._render),
            secrets=(token,),
        )
        raise_for_answer(
            self.name,
            response,
            after=_retry_after(response),
            detail=_description(response),
            secrets=(token,),
        )
