"""Slack: an incoming webhook with Block Kit sections in mrkdwn (3000 characters each)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from notifiers.base import Message, RateLimit, RenderSettings, WebhookUrlConfig
from notifiers.compose import grouped_views, heading, more_text
from notifiers.limits import SLACK_ATOMS, truncate_text
from notifiers.render import SLACK, clean_text, escape_slack
from notifiers.templating import render_template
from notifiers.transport import WebhookUrlNotifier

__all__ = [
    "MAX_BLOCKS",
    "MAX_HEADER_CHARS",
    "MAX_SECTION_CHARS",
    "SlackConfig",
    "SlackNotifier",
    "build_payload",
]

MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_BLOCKS = 50


class SlackConfig(WebhookUrlConfig):
    type: Literal["slack"] = "slack"


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def build_payload(message: Message, render: RenderSettings) -> dict[str, Any]:
    blocks: list[tuple[dict[str, Any], bool]] = []  # (block, is an alert)
    first_line = ""
    for topic, views in grouped_views(message, SLACK, render):
        if message.kind == "digest":
            blocks.append((_context(f"*#{escape_slack(topic)}*"), False))
        for v in views:
            text = render_template(render, "slack_alert.txt", a=v)
            section = {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate_text(text, MAX_SECTION_CHARS, atoms=SLACK_ATOMS),
                },
            }
            blocks.append((section, True))
            first_line = first_line or f"{v.severity_icon} {v.title}"
    title = heading(message)
    head = []
    if title:
        plain = truncate_text(clean_text(title), MAX_HEADER_CHARS)
        head.append({"type": "header", "text": {"type": "plain_text", "text": plain}})
    room = MAX_BLOCKS - len(head)
    left_out = message.more_count
    if len(blocks) + (1 if left_out else 0) > room:
        kept = blocks[: room - 1]
        while kept and not kept[-1][1]:
            kept.pop()
        left_out += sum(is_alert for _, is_alert in blocks[len(kept) :])
        blocks = kept
    body = head + [block for block, _ in blocks]
    if left_out:
        body.append(_context(escape_slack(more_text(left_out))))
    fallback = escape_slack(title) if title else first_line
    return {
        "text": truncate_text(fallback, MAX_SECTION_CHARS, atoms=SLACK_ATOMS),
        "blocks": body,
        "unfurl_links": False,
        "unfurl_media": False,
    }


class SlackNotifier(WebhookUrlNotifier):
    type: ClassVar[str] = "slack"
    Config: ClassVar[type[SlackConfig]] = SlackConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=1, per=1)

    def payload(self, message: Message) -> dict[str, Any]:
        return build_payload(message, self._render)
