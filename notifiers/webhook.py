"""Generic webhook: POST the message as JSON, signed with HMAC-SHA256 when a secret is set.

Headers: `Idempotency-Key` (the delivery's key, stable across retries) and
`X-Rasd-Signature: sha256=<hex HMAC-SHA256 of the raw body>`."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar, Literal

from pydantic import SecretStr, field_validator

from notifiers.base import ChannelConfig, Message, RateLimit, http_url
from notifiers.render import alert_payload
from notifiers.transport import HttpNotifier, raise_for_answer, request

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookConfig",
    "WebhookNotifier",
    "build_payload",
    "build_request",
    "sign",
]

SIGNATURE_HEADER = "X-Rasd-Signature"


class WebhookConfig(ChannelConfig):
    type: Literal["webhook"] = "webhook"
    url: str
    secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        http_url(value)
        return value


def build_payload(message: Message) -> dict[str, Any]:
    return {
        "kind": message.kind,
        "idempotency_key": message.idempotency_key,
        "title": message.title,
        "more_count": message.more_count,
        "alerts": [alert_payload(a) for a in message.alerts],
    }


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build_request(message: Message, secret: str | None) -> tuple[bytes, dict[str, str]]:
    """The exact body bytes and headers; the signature covers exactly these bytes."""
    body = json.dumps(build_payload(message), ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": message.idempotency_key,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    return body, headers


class WebhookNotifier(HttpNotifier):
    type: ClassVar[str] = "webhook"
    Config: ClassVar[type[WebhookConfig]] = WebhookConfig
    rate_limit: ClassVar[RateLimit | None] = None

    async def send(self, message: Message) -> None:
        secret = self.config.secret.get_secret_value() if self.config.secret else None
        body, headers = build_request(message, secret)
        response = await request(
            self._client, self.name, "POST", self.config.url, content=body, headers=headers
        )
        raise_for_answer(self.name, response)
