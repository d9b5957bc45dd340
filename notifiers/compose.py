"""Assemble one chat message from its alerts: heading, topic groups (digests), one templated
block per alert, "… and N more", all inside the channel's length limit. Pure apart from
reading templates."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monitor.domain import Alert
from notifiers.base import Message, RenderSettings
from notifiers.limits import MARKDOWN_ATOMS, Block, Measure, Truncate, fit_blocks, truncate_text
from notifiers.render import MARKDOWN, AlertView, Flavor, group_by_topic, view
from notifiers.templating import render_template

__all__ = ["alert_blocks", "chat_text", "grouped_views", "heading", "markdown_text", "more_text"]


def heading(message: Message) -> str | None:
    """The raw (unescaped) heading of a digest or rollup; None for a single alert."""
    if message.kind == "alert":
        return None
    if message.kind == "update":  # a story already alerted, now carried by more outlets
        return message.title or "Update"
    if message.title:
        return message.title
    total = len(message.alerts) + message.more_count
    noun = "alert" if total == 1 else "alerts"
    if message.kind == "digest":
        return f"Rasd digest: {total} {noun}"
    return f"Rasd: {total} {noun} in a burst"


def more_text(count: int) -> str:
    return f"… and {count} more"


def grouped_views(
    message: Message, flavor: Flavor, settings: RenderSettings
) -> list[tuple[str, list[AlertView]]]:
    """Digests grouped by topic; alerts and rollups as one group in message order."""

    def make(alert_list: Sequence[Alert]) -> list[AlertView]:
        return [
            view(a, flavor, timezone=settings.timezone, snippet_chars=settings.snippet_chars)
            for a in alert_list
        ]

    if message.kind == "digest":
        return [(topic, make(alerts)) for topic, alerts in group_by_topic(message.alerts)]
    return [("", make(message.alerts))]


def alert_blocks(
    message: Message,
    flavor: Flavor,
    settings: RenderSettings,
    template: str,
    topic_line: Callable[[str], str],
) -> list[Block]:
    blocks: list[Block] = []
    for topic, views in grouped_views(message, flavor, settings):
        if message.kind == "digest":
            blocks.append(Block(topic_line(flavor.escape(topic)), is_alert=False))
        blocks.extend(Block(render_template(settings, template, a=v)) for v in views)
    return blocks


def chat_text(
    message: Message,
    flavor: Flavor,
    settings: RenderSettings,
    template: str,
    *,
    limit: int,
    truncate: Truncate,
    bold: Callable[[str], str],
    measure: Measure = len,
) -> str:
    """The whole message as one text in `flavor`, at most `limit` long by `measure`."""
    title = heading(message)
    head = bold(flavor.escape(title)) if title else ""
    return fit_blocks(
        head,
        alert_blocks(message, flavor, settings, template, lambda t: bold(f"#{t}")),
        limit,
        more=lambda n: flavor.escape(more_text(n)),
        already_left_out=message.more_count,
        truncate=truncate,
        measure=measure,
    )


def markdown_text(
    message: Message, settings: RenderSettings, *, limit: int, flavor: Flavor = MARKDOWN
) -> str:
    """The message as Markdown (Mattermost, Discord, Apprise): `**bold**` hits, escaped text."""
    return chat_text(
        message,
        flavor,
        settings,
        "markdown_alert.txt",
        limit=limit,
        truncate=lambda t, n: truncate_text(t, n, atoms=MARKDOWN_ATOMS),
        bold=lambda t: f"**{t}**",
    )
