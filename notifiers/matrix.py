"""Matrix: PUT an m.room.message with txnId = idempotency key, so a retried send after a
lost answer does not post twice (the homeserver remembers the transaction)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import SecretStr, field_validator

from notifiers.base import ChannelConfig, Message, RateLimit, RenderSettings, http_url
from notifiers.compose import chat_text
from notifiers.limits import truncate_html, truncate_text
from notifiers.render import MATRIX_HTML, PLAIN
from notifiers.transport import HttpNotifier, clamp_after, raise_for_answer, request

__all__ = ["MAX_BODY_CHARS", "MatrixConfig", "MatrixNotifier", "build_payload", "send_path"]

# An event is at most 65536 bytes of JSON; body and formatted_body share it (Arabic is 2
# bytes a character in UTF-8, and JSON may escape more), so each gets a safe share.
MAX_BODY_CHARS = 8000


class MatrixConfig(ChannelConfig):
    type: Literal["matrix"] = "matrix"
    homeserver: str
    access_token: SecretStr
    room_id: str

    @field_validator("homeserver")
    @classmethod
    def _check_homeserver(cls, value: str) -> str:
        http_url(value, field="homeserver")
        return value.rstrip("/")

    @field_validator("room_id")
    @classmethod
    def _check_room(cls, value: str) -> str:
        # Room version 12 ids are "!opaque" with no server part; older ones "!opaque:server".
        if value.startswith("!") and len(value) > 1 and not any(c.isspace() for c in value):
            return value
        if value.startswith("#") and ":" in value:
            return value
        raise ValueError("room_id must look like !opaque, !opaque:server or #alias:server")


def send_path(room_id: str, txn_id: str) -> str:
    room, txn = quote(room_id, safe=""), quote(txn_id, safe="")
    return f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"


def build_payload(message: Message, render: RenderSettings) -> dict[str, Any]:
    body = chat_text(
        message,
        PLAIN,
        render,
        "plain_alert.txt",
        limit=MAX_BODY_CHARS,
        truncate=lambda t, n: truncate_text(t, n),
        bold=lambda t: t,
    )
    formatted = chat_text(
        message,
        MATRIX_HTML,
        render,
        "matrix_alert.html",
        limit=MAX_BODY_CHARS,
        truncate=lambda t, n: truncate_html(t, n),
        bold=lambda t: f"<b>{t}</b>",
    )
    return {
        "msgtype": "m.text",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
    }


def _retry_after(response: httpx.Response) -> timedelta | None:
    try:
        millis = response.json().get("retry_after_ms")
    except (ValueError, AttributeError):
        return None
    return clamp_after(millis / 1000) if isinstance(millis, int | float) else None


def _error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    return f"{body.get('errcode', '')} {body.get('error', '')}".strip()


class MatrixNotifier(HttpNotifier):
    type: ClassVar[str] = "matrix"
    Config: ClassVar[type[MatrixConfig]] = MatrixConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=10, per=10)

    async def send(self, message: Message) -> None:
        token = self.config.access_token.get_secret_value()
        url = self.config.homeserver + send_path(self.config.room_id, message.idempotency_key)
        response = await request(
            self._client,
            self.name,
            "PUT",
            url,
            json=build_payload(message, self._render),
            headers={"Authorization": f"Bearer {token}"},
            secrets=(token,),
        )
        after = _retry_after(response) if response.status_code == 429 else None
        raise_for_answer(
            self.name, response, after=after, detail=_error(response), secrets=(token,)
        )
