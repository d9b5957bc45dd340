"""JSON Lines: append one line per alert to a file (for scripts, audits, `jq`)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx

from monitor.errors import Rejected, RetryLater
from notifiers.base import ChannelConfig, Message, RateLimit, RenderSettings
from notifiers.render import alert_payload

__all__ = ["JsonlConfig", "JsonlNotifier", "append_lines", "build_lines"]


class JsonlConfig(ChannelConfig):
    type: Literal["jsonl"] = "jsonl"
    path: Path


def build_lines(message: Message) -> bytes:
    """One JSON object per alert (the alert payload plus how it was delivered)."""
    lines = []
    for alert in message.alerts:
        record: dict[str, Any] = alert_payload(alert)
        record["delivery"] = {
            "kind": message.kind,
            "idempotency_key": message.idempotency_key,
            "more_count": message.more_count,
        }
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def append_lines(path: Path, data: bytes) -> None:
    """Append with one O_APPEND write and fsync, so concurrent writers never interleave
    inside a line and a crash loses at most what was not yet acknowledged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlNotifier:
    type: ClassVar[str] = "jsonl"
    Config: ClassVar[type[JsonlConfig]] = JsonlConfig
    rate_limit: ClassVar[RateLimit | None] = None

    def __init__(
        self, name: str, config: JsonlConfig, client: httpx.AsyncClient, render: RenderSettings
    ) -> None:
        self.name = name
        self.config = config

    async def send(self, message: Message) -> None:
        try:
            await asyncio.to_thread(append_lines, self.config.path, build_lines(message))
        except (IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            raise Rejected(self.name, f"cannot write {self.config.path}: {exc.strerror}") from None
        except OSError as exc:  # disk full, I/O error: may pass
            raise RetryLater(
                self.name, f"cannot write {self.config.path}: {exc.strerror}"
            ) from None

    async def aclose(self) -> None:
        """Nothing to release: the file is opened and closed on every send."""
