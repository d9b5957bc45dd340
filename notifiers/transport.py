"""The HTTP edge shared by the chat channels: send one request with a short timeout and
turn the answer into success, RetryLater or Rejected. httpx errors stop here."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message, RateLimit, RenderSettings, WebhookUrlConfig

__all__ = ["DEFAULT_TIMEOUT", "MAX_RETRY_AFTER", "parse_retry_after", "raise_for_answer", "request"]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_RETRY_AFTER = timedelta(hours=6)
_DETAIL_CHARS = 200


def parse_retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """`Retry-After` as delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return clamp_after(seconds)


def clamp_after(seconds: float) -> timedelta:
    return min(timedelta(seconds=max(0.0, seconds)), MAX_RETRY_AFTER)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def request(
    client: httpx.AsyncClient,
    channel: str,
    method: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> httpx.Response:
    """One request; network failures and timeouts become RetryLater (secrets scrubbed)."""
    try:
        return await client.request(
            method, url, json=json, content=content, headers=headers, timeout=timeout
        )
    except httpx.TimeoutException as exc:
        raise RetryLater(channel, f"timeout ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        detail = _scrub(str(exc), secrets)[:_DETAIL_CHARS]
        raise RetryLater(channel, f"{type(exc).__name__}: {detail}") from None


def raise_for_answer(
    channel: str,
    response: httpx.Response,
    *,
    after: timedelta | None = None,
    detail: str | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Return on 2xx; 429, 408 and 5xx → RetryLater (with `after`, else Retry-After);
    any other status → Rejected. `detail` replaces the body text in the message."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if detail is None:
        detail = " ".join(response.text.split())
    detail = _scrub(detail, secrets)[:_DETAIL_CHARS]
    message = f"{status} {detail}".strip()
    if status == 429 or status == 408 or status >= 500:
        if after is None:
            after = parse_retry_after(response.headers.get("retry-after"))
        raise RetryLater(channel, message, after=after)
    raise Rejected(channel, message)


class HttpNotifier:
    """Base of the channels that call an HTTP API through the app's shared client."""

    type: ClassVar[str]
    rate_limit: ClassVar[RateLimit | None] = None

    def __init__(
        self, name: str, config: Any, client: httpx.AsyncClient, render: RenderSettings
    ) -> None:
        self.name = name
        self.config = config
        self._client = client
        self._render = render

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared and owned by the app."""


class WebhookUrlNotifier(HttpNotifier):
    """Base of the chat channels configured by one secret incoming-webhook URL (Slack, Teams,
    Mattermost, Discord): POST the channel's JSON payload, map the answer."""

    Config: ClassVar[type[WebhookUrlConfig]]

    def payload(self, message: Message) -> dict[str, Any]:
        raise NotImplementedError

    def retry_after(self, response: httpx.Response) -> timedelta | None:
        """How long a 429 asks to wait, when the API says it in the body (else Retry-After)."""
        return None

    async def send(self, message: Message) -> None:
        url = self.config.webhook_url.get_secret_value()
        response = await request(
            self._client, self.name, "POST", url, json=self.payload(message), secrets=(url,)
        )
        after = self.retry_after(response) if response.status_code == 429 else None
        raise_for_answer(self.name, response, after=after, secrets=(url,))
