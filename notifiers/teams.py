"""Microsoft Teams: a Workflows (Power Automate) webhook carrying an Adaptive Card.

Workflows answer 202 Accepted before the flow runs, so success means "accepted", not
"posted"; Office 365 connector URLs are retired and not supported."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from notifiers.base import Message, RateLimit, RenderSettings, WebhookUrlConfig
from notifiers.compose import grouped_views, heading, more_text
from notifiers.render import MARKDOWN, AlertView, escape_markdown
from notifiers.transport import WebhookUrlNotifier

__all__ = ["CARD_VERSION", "MAX_PAYLOAD_BYTES", "TeamsConfig", "TeamsNotifier", "build_payload"]

CARD_VERSION = "1.5"  # `rtl` on containers needs 1.5
MAX_PAYLOAD_BYTES = 26_000  # Teams refuses messages over about 28 KB
_STYLE = {"critical": "attention", "high": "warning", "medium": "accent", "low": "default"}


class TeamsConfig(WebhookUrlConfig):
    type: Literal["teams"] = "teams"


def _text(text: str, **options: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **options}


def _container(v: AlertView, severity: str) -> dict[str, Any]:
    title = f"{v.severity_icon} [{v.title}]({v.url})" if v.url else f"{v.severity_icon} {v.title}"
    facts = [{"title": "Source", "value": v.feed}]
    if v.published:
        facts.append({"title": "Published", "value": v.published})
    facts.append({"title": "Rule", "value": f"{v.rule_title} ({v.severity})"})
    if v.matched:
        facts.append({"title": "Matched", "value": ", ".join(v.matched)})
    if v.also:
        facts.append({"title": "Also reported by", "value": v.also_text})
    items: list[dict[str, Any]] = [_text(title, weight="Bolder", size="Medium")]
    if v.snippet:
        items.append(_text(v.snippet))
    items.append({"type": "FactSet", "facts": facts})
    return {
        "type": "Container",
        "rtl": v.rtl,
        "style": _STYLE.get(severity, "default"),
        "separator": True,
        "items": items,
    }


def _envelope(body: list[dict[str, Any]]) -> dict[str, Any]:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def build_payload(message: Message, render: RenderSettings) -> dict[str, Any]:
    title = heading(message)
    body: list[dict[str, Any]] = []
    if title:
        body.append(_text(escape_markdown(title), size="Large", weight="Bolder"))
    pieces: list[tuple[dict[str, Any], bool]] = []
    by_id = {a.id: a.severity for a in message.alerts}
    for topic, views in grouped_views(message, MARKDOWN, render):
        if message.kind == "digest":
            pieces.append((_text(f"**#{escape_markdown(topic)}**", spacing="Large"), False))
        for v in views:
            pieces.append((_container(v, by_id.get(v.id, "low")), True))
    sizes = [_size(piece) + 1 for piece, _ in pieces]  # +1: the comma between elements
    alerts = sum(is_alert for _, is_alert in pieces)
    keep = len(pieces)
    while True:
        shown = pieces[:keep]
        while shown and not shown[-1][1]:
            shown.pop()
        left_out = message.more_count + alerts - sum(is_alert for _, is_alert in shown)
        tail = [_text(escape_markdown(more_text(left_out)))] if left_out else []
        estimate = _size(_envelope(body + tail)) + sum(sizes[: len(shown)])
        if estimate <= MAX_PAYLOAD_BYTES or sum(a for _, a in shown) <= 1:
            payload = _envelope(body + [piece for piece, _ in shown] + tail)
            if _size(payload) <= MAX_PAYLOAD_BYTES or sum(a for _, a in shown) <= 1:
                return payload
        keep = len(shown) - 1


class TeamsNotifier(WebhookUrlNotifier):
    type: ClassVar[str] = "teams"
    Config: ClassVar[type[TeamsConfig]] = TeamsConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=4, per=1)

    def payload(self, message: Message) -> dict[str, Any]:
        return build_payload(message, self._render)
