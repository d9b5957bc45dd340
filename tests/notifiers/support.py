"""Helpers for the notifier tests: build a channel from raw config and send through it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from monitor.domain import Alert
from monitor.errors import DeliveryError
from notifiers.base import Message, RenderSettings
from notifiers.registry import build_notifier


def alert_message(alert: Alert, key: str = "delivery-1") -> Message:
    return Message("alert", (alert,), key)


async def _send(name: str, raw: Mapping[str, Any], message: Message, render: RenderSettings):
    async with httpx.AsyncClient() as client:
        notifier = build_notifier(name, raw, client, render)
        try:
            await notifier.send(message)
        finally:
            await notifier.aclose()


def deliver(raw: Mapping[str, Any], message: Message, render: RenderSettings | None = None) -> None:
    asyncio.run(_send("test", raw, message, render or RenderSettings()))


def deliver_error(
    raw: Mapping[str, Any], message: Message, render: RenderSettings | None = None
) -> DeliveryError:
    """The DeliveryError the send raised (fails the test when it succeeded)."""
    try:
        deliver(raw, message, render)
    except DeliveryError as exc:
        return exc
    raise AssertionError("send succeeded but an error was expected")
