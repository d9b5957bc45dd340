"""An Atom feed of recent alerts, for any feed reader. Pure: alerts in, XML bytes out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from monitor.domain import Alert
from notifiers.render import escape_html, highlight, is_rtl, safe_url

__all__ = ["render_atom"]


def _when(moment: datetime | None, fallback: datetime) -> str:
    return (moment or fallback).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(alert: Alert, now: datetime) -> str:
    rtl = is_rtl(alert.title)
    direction = ' dir="rtl"' if rtl else ""
    title_html = highlight(alert.title, alert.hits, "title", "<b>", "</b>", escape_html)
    summary_html = highlight(alert.summary, alert.hits, "summary", "<b>", "</b>", escape_html)
    sources = ", ".join(s for s in alert.sources if s != alert.feed)
    content = (
        f"<div{direction}><p><strong>{title_html}</strong></p><p>{summary_html}</p>"
        f"<p>{escape_html(alert.rule_title)} · {escape_html(alert.severity)} · "
        f"{escape_html(alert.feed)}"
        + (f" · also reported by {escape_html(sources)}" if sources else "")
        + "</p></div>"
    )
    link = safe_url(alert.url)
    lang = f" xml:lang={quoteattr(alert.lang)}" if alert.lang else ""
    parts = [
        f"  <entry{lang}>",
        f"    <id>tag:rasd,2025:alert:{alert.id}</id>",
        f"    <title>[{escape(alert.severity)}] {escape(alert.title)}</title>",
        f"    <updated>{_when(alert.created_at, now)}</updated>",
        f"    <published>{_when(alert.published, now)}</published>",
        f"    <author><name>{escape(alert.feed)}</name></author>",
        *(f"    <category term={quoteattr(tag)}/>" for tag in alert.tags),
        f'    <content type="html">{escape(content)}</content>',
    ]
    if link:
        parts.append(f'    <link rel="alternate" href={quoteattr(link)}/>')
    parts.append("  </entry>")
    return "\n".join(parts)


def render_atom(alerts: Sequence[Alert], self_url: str, now: datetime) -> bytes:
    head = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        "  <title>Rasd alerts</title>",
        f"  <id>{escape(self_url)}</id>",
        f'  <link rel="self" href={quoteattr(self_url)}/>',
        f"  <updated>{_when(alerts[0].created_at if alerts else None, now)}</updated>",
    ]
    body = [_entry(alert, now) for alert in alerts]
    return "\n".join([*head, *body, "</feed>", ""]).encode("utf-8")
