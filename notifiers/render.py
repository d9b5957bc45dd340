"""Alert → channel-neutral pieces: JSON payload, highlighted and escaped text per markup,
bidi isolation for Arabic, local time, safe links. Pure: no I/O, no clock, no globals."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from markupsafe import Markup

from monitor.domain import Alert, TermHit, severity_rank

__all__ = [
    "ANSI",
    "DISCORD",
    "EMAIL_HTML",
    "MARKDOWN",
    "MATRIX_HTML",
    "PLAIN",
    "SLACK",
    "TELEGRAM",
    "AlertView",
    "Flavor",
    "alert_payload",
    "clean_text",
    "clip",
    "escape_html",
    "escape_markdown",
    "escape_slack",
    "format_published",
    "group_by_topic",
    "highlight",
    "is_rtl",
    "isolate",
    "neutralise_mentions",
    "other_sources",
    "safe_url",
    "view",
]

RLI, PDI = "\u2067", "\u2069"
ELLIPSIS = "…"
MAX_TITLE_CHARS = 300
SEVERITY_ICONS = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "⚪"}

# C0/C1 controls (but not tab/newline, folded to spaces later) and explicit bidi controls:
# feed text must not reach a terminal as escape sequences, nor break our own isolation.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")
_MENTION = re.compile(r"@(?=[\w])")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~|<>\[\]()#!])")
_LANG_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")
_URL_SAFE = ":/?#[]@!$&*+,;=%~-._"


def clean_text(text: str) -> str:
    """Drop control and bidi-override characters; fold runs of whitespace into one space."""
    return _SPACES.sub(" ", _UNSAFE_CHARS.sub("", text))


def escape_html(text: str) -> str:
    return html.escape(clean_text(text), quote=True)


def escape_telegram(text: str) -> str:
    return html.escape(clean_text(text), quote=False)


def escape_slack(text: str) -> str:
    """Slack mrkdwn: only &, < and > are control characters."""
    return clean_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise_mentions(text: str) -> str:
    """`@everyone`, `@here`, `@channel`, `@user` → a zero-width space after the @."""
    return _MENTION.sub("@\u200b", text)


def escape_markdown(text: str) -> str:
    """Markdown (Mattermost, Discord, Teams): backslash the syntax characters, defuse @."""
    return neutralise_mentions(_MARKDOWN_SPECIAL.sub(r"\\\1", clean_text(text)))


def _plain(text: str) -> str:
    return clean_text(text)


@dataclass(frozen=True)
class Flavor:
    """How one markup escapes untrusted text, marks a hit and shows a link."""

    name: str
    escape: Callable[[str], str]
    open: str
    close: str
    isolate: bool  # wrap right-to-left runs in RLI … PDI
    html: bool = False  # values become markupsafe.Markup for autoescaping templates
    escape_url: Callable[[str], str] = str


EMAIL_HTML = Flavor("email", escape_html, "<mark>", "</mark>", False, html=True)
MATRIX_HTML = Flavor("matrix", escape_html, "<b>", "</b>", True, html=True)
TELEGRAM = Flavor(
    "telegram", escape_telegram, "<b>", "</b>", True, escape_url=lambda u: html.escape(u)
)
SLACK = Flavor("slack", escape_slack, "*", "*", True, escape_url=lambda u: u.replace("&", "&amp;"))
MARKDOWN = Flavor("markdown", escape_markdown, "**", "**", True)
DISCORD = MARKDOWN
PLAIN = Flavor("plain", _plain, "", "", True)
CONSOLE = Flavor("console", _plain, "", "", False)
ANSI = Flavor("ansi", _plain, "\x1b[1m", "\x1b[22m", False)


def is_rtl(text: str) -> bool:
    """True when the first strongly directional character is right-to-left."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def isolate(text: str) -> str:
    """Wrap text containing right-to-left script in RLI … PDI so a mixed line reads right."""
    return f"{RLI}{text}{PDI}" if _has_rtl(text) else text


def _spans(text: str, hits: Iterable[TermHit], field: str) -> list[tuple[int, int]]:
    """Valid hit spans of `field`, sorted and merged. Stale offsets are ignored."""
    spans = sorted(
        (h.start, h.end)
        for h in hits
        if h.field == field
        and 0 <= h.start < h.end <= len(text)
        and (not h.text or text[h.start : h.end] == h.text)
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(
    text: str,
    hits: Iterable[TermHit],
    field: str,
    open: str,
    close: str,
    escape: Callable[[str], str],
) -> str:
    """Escape `text` piece by piece and wrap each hit of `field` in `open` … `close`."""
    out: list[str] = []
    pos = 0
    for start, end in _spans(text, hits, field):
        out.append(escape(text[pos:start]))
        out.append(f"{open}{escape(text[start:end])}{close}")
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def clip(
    text: str, hits: Sequence[TermHit], field: str, limit: int
) -> tuple[str, tuple[TermHit, ...]]:
    """At most about `limit` characters of `text`, around its first hit, cut at a word
    boundary, with "…" where text was left out; hits are shifted to the new offsets."""
    own = [h for h in hits if h.field == field]
    if len(text) <= limit:
        return text, tuple(own)
    if limit <= 0:
        return "", ()
    spans = _spans(text, own, field)
    start = 0
    if spans and spans[0][1] > limit - 1:
        start = max(0, spans[0][0] - limit // 3)
        space = text.find(" ", start, spans[0][0])
        start = space + 1 if space != -1 else start
    end = min(len(text), start + limit)
    if end < len(text):
        space = text.rfind(" ", start + limit // 2, end)
        end = space if space != -1 else end
    window = text[start:end]
    first = start + len(window) - len(window.lstrip())
    last = start + len(window.rstrip())
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(text) else ""
    shift = len(prefix) - first
    kept = tuple(
        replace(h, start=h.start + shift, end=h.end + shift)
        for h in own
        if h.start >= first and h.end <= last
    )
    return f"{prefix}{text[first:last]}{suffix}", kept


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s) with a host, with characters that break markup encoded."""
    if not url:
        return None
    url = url.strip()
    if _UNSAFE_CHARS.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=_URL_SAFE)


def format_published(published: datetime | None, timezone: str) -> str | None:
    """'2024-05-03 14:05 GMT' in `timezone`; naive datetimes are taken as UTC."""
    if published is None:
        return None
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    local = published.astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M %Z").strip()


def _iso_utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def other_sources(alert: Alert) -> tuple[str, ...]:
    """Outlets that also carried the story, without the alert's own feed, in order."""
    seen: dict[str, None] = {}
    for source in alert.sources:
        if source and source != alert.feed:
            seen.setdefault(source, None)
    return tuple(seen)


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The JSON shape of an alert: JSONL lines, webhook bodies, `rasd alerts --json`."""
    return {
        "id": alert.id,
        "rule": alert.rule_id,
        "rule_title": alert.rule_title,
        "rules": list(alert.rules or (alert.rule_id,)),
        "tags": list(alert.tags),
        "severity": alert.severity,
        "title": alert.title,
        "url": alert.url if safe_url(alert.url) else None,
        "feed": alert.feed,
        "published": _iso_utc(alert.published),
        "lang": alert.lang,
        "matched_terms": list(alert.matched_terms),
        "hits": [
            {"term": h.term, "field": h.field, "start": h.start, "end": h.end, "text": h.text}
            for h in alert.hits
        ],
        "story_id": alert.story_id,
        "sources": list(alert.sources),
        "summary": alert.summary,
        "created_at": _iso_utc(alert.created_at),
    }


@dataclass(frozen=True)
class AlertView:
    """One alert's pieces, escaped and highlighted for one markup, ready for a template."""

    id: int
    title: str
    snippet: str
    feed: str
    published: str | None
    rule_id: str
    rule_title: str
    severity: str
    severity_icon: str
    tags: tuple[str, ...]
    url: str | None
    also: tuple[str, ...]
    matched: tuple[str, ...]
    rtl: bool
    lang: str

    @property
    def dir(self) -> str:
        return "rtl" if self.rtl else "ltr"

    @property
    def also_text(self) -> str:
        return ", ".join(self.also)


def view(alert: Alert, flavor: Flavor, *, timezone: str, snippet_chars: int) -> AlertView:
    title_text, title_hits = clip(alert.title, alert.hits, "title", MAX_TITLE_CHARS)
    summary_text, summary_hits = clip(alert.summary, alert.hits, "summary", snippet_chars)
    rtl = (alert.lang or "").lower().startswith("ar") or is_rtl(alert.title)

    def text(value: str, hits: Sequence[TermHit] = (), field: str = "") -> str:
        rendered = highlight(value, hits, field, flavor.open, flavor.close, flavor.escape)
        if flavor.isolate:
            rendered = isolate(rendered)
        return Markup(rendered) if flavor.html else rendered

    url = safe_url(alert.url)
    lang = alert.lang if alert.lang and _LANG_TAG.match(alert.lang) else ("ar" if rtl else "")
    return AlertView(
        id=alert.id,
        title=text(title_text, title_hits, "title"),
        snippet=text(summary_text, summary_hits, "summary"),
        feed=text(alert.feed),
        published=format_published(alert.published, timezone),
        rule_id=text(alert.rule_id),
        rule_title=text(alert.rule_title),
        severity=text(alert.severity),
        severity_icon=SEVERITY_ICONS.get(alert.severity, "•"),
        tags=tuple(text(t) for t in alert.tags),
        url=None if url is None else flavor.escape_url(url),
        also=tuple(text(s) for s in other_sources(alert)),
        matched=tuple(text(t) for t in alert.matched_terms),
        rtl=rtl,
        lang=lang,
    )


def group_by_topic(alerts: Iterable[Alert]) -> list[tuple[str, list[Alert]]]:
    """Alerts grouped by their first tag ('other' without one); groups with the most severe
    alert first, alerts by severity then newest first."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(alert.tags[0] if alert.tags else "other", []).append(alert)

    def alert_key(a: Alert) -> tuple[int, float]:
        when = a.published.timestamp() if a.published and a.published.tzinfo else 0.0
        return (-severity_rank(a.severity), -when)

    ordered = [(topic, sorted(items, key=alert_key)) for topic, items in groups.items()]
    ordered.sort(key=lambda g: (-max(severity_rank(a.severity) for a in g[1]), g[0]))
    return ordered
