"""What every channel shares: the message handed to it, render settings, the config base
and the Notifier protocol the dispatcher calls."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt, SecretStr, field_validator

from monitor.domain import Alert

__all__ = [
    "ChannelConfig",
    "Message",
    "MessageKind",
    "Notifier",
    "RateLimit",
    "RenderSettings",
    "WebhookUrlConfig",
    "effective_rate_limit",
    "http_url",
    "is_loopback_host",
]

MessageKind = Literal["alert", "digest", "rollup", "update"]


@dataclass(frozen=True)
class Message:
    """One delivery: a single alert, a digest of many, or a rollup of a burst.

    A rollup carries the first alert(s) and `more_count`, the number left out ("… and N more").
    """

    kind: MessageKind
    alerts: tuple[Alert, ...]
    idempotency_key: str
    more_count: int = 0
    title: str | None = None

    def __post_init__(self) -> None:
        if not self.alerts:
            raise ValueError("message: needs at least one alert")
        if self.kind in ("alert", "update") and len(self.alerts) != 1:
            raise ValueError("message: kind 'alert' carries exactly one alert")
        if self.more_count < 0:
            raise ValueError("message: more_count must not be negative")
        if not self.idempotency_key:
            raise ValueError("message: idempotency_key must not be empty")


@dataclass(frozen=True)
class RenderSettings:
    timezone: str = "Africa/Bamako"
    templates_dir: Path | None = None  # a file here overrides the built-in template of that name
    snippet_chars: int = 280


class RateLimit(BaseModel):
    """At most `count` messages per `per` seconds (the dispatcher enforces it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: PositiveInt
    per: PositiveFloat

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=self.per)


class ChannelConfig(BaseModel):
    """Keys every channel accepts; each channel adds its own and a `type` literal."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    type: str
    rate_limit: RateLimit | None = None


def http_url(value: str | SecretStr, *, field: str = "url") -> None:
    """Raise ValueError unless `value` is an absolute http(s) URL with a host."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"{field} is not a valid URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{field} must be an http:// or https:// URL with a host")


def is_loopback_host(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@runtime_checkable
class Notifier(Protocol):
    """One configured channel. `send` returns on success, else raises
    monitor.errors.RetryLater (transient) or monitor.errors.Rejected (permanent)."""

    type: ClassVar[str]
    Config: ClassVar[type[ChannelConfig]]
    rate_limit: ClassVar[RateLimit | None]  # the channel's default; config may override

    name: str
    config: Any

    def __init__(
        self, name: str, config: Any, client: httpx.AsyncClient, render: RenderSettings
    ) -> None: ...

    async def send(self, message: Message) -> None: ...

    async def aclose(self) -> None: ...


def effective_rate_limit(notifier: Notifier) -> RateLimit | None:
    """The configured `rate_limit`, else the channel's default (None: unlimited)."""
    configured: RateLimit | None = getattr(notifier.config, "rate_limit", None)
    return configured if configured is not None else type(notifier).rate_limit


class WebhookUrlConfig(ChannelConfig):
    """Base of the chat channels configured by one secret incoming-webhook URL."""

    webhook_url: SecretStr

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        http_url(value, field="webhook_url")
        return value
