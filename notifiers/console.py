"""Console: a readable block per alert on stdout (bold hits when stdout is a terminal)."""

from __future__ import annotations

import sys
from typing import ClassVar, Literal, TextIO

import httpx

from notifiers.base import ChannelConfig, Message, RateLimit, RenderSettings
from notifiers.compose import chat_text
from notifiers.limits import truncate_text
from notifiers.render import ANSI, CONSOLE

__all__ = ["ConsoleConfig", "ConsoleNotifier", "render_console"]

_RULE = "─" * 60


class ConsoleConfig(ChannelConfig):
    type: Literal["console"] = "console"


def render_console(message: Message, render: RenderSettings, *, tty: bool) -> str:
    text = chat_text(
        message,
        ANSI if tty else CONSOLE,
        render,
        "plain_alert.txt",
        limit=1_000_000,
        truncate=lambda t, n: truncate_text(t, n),
        bold=(lambda t: f"\x1b[1m{t}\x1b[22m") if tty else (lambda t: t),
    )
    return f"{_RULE}\n{text}\n"


class ConsoleNotifier:
    type: ClassVar[str] = "console"
    Config: ClassVar[type[ConsoleConfig]] = ConsoleConfig
    rate_limit: ClassVar[RateLimit | None] = None

    def __init__(
        self, name: str, config: ConsoleConfig, client: httpx.AsyncClient, render: RenderSettings
    ) -> None:
        self.name = name
        self.config = config
        self._render = render

    @property
    def _stream(self) -> TextIO:
        return sys.stdout  # looked up on each send, so redirection (and tests) work

    async def send(self, message: Message) -> None:
        stream = self._stream
        stream.write(render_console(message, self._render, tty=stream.isatty()))
        stream.flush()

    async def aclose(self) -> None:
        """Nothing to release: stdout belongs to the process."""
