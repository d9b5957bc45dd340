"""Fit rendered text into a channel's length limit without breaking markup. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "HTML_ATOMS",
    "MARKDOWN_ATOMS",
    "SLACK_ATOMS",
    "Block",
    "fit_blocks",
    "truncate_html",
    "truncate_text",
    "utf16_len",
]

ELLIPSIS = "…"
Measure = Callable[[str], int]
Truncate = Callable[[str, int], str]

# Pieces that must stay whole when text is cut: links, entities, backslash escapes.
MARKDOWN_ATOMS = re.compile(r"\[(?:[^\]\\]|\\.)*\]\([^()\s]*\)|\\.|\*\*")
SLACK_ATOMS = re.compile(r"<[^<>]*>|&#?\w+;")
HTML_ATOMS = re.compile(r"<[^<>]*>|&#?\w+;")
_HTML_TOKEN = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^<>]*>|&#?\w+;|[^<&]+|[<&]")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def truncate_text(
    text: str, limit: int, *, atoms: re.Pattern[str] | None = None, measure: Measure = len
) -> str:
    """Cut `text` to at most `limit` (by `measure`) ending in "…", at a space when one is
    near, never inside one of `atoms` (a link, an entity, an escape)."""
    if measure(text) <= limit:
        return text
    budget = limit - measure(ELLIPSIS)
    if budget <= 0:
        return ELLIPSIS[: max(limit, 0)]
    cut = min(len(text), budget)
    while cut > 0 and measure(text[:cut]) > budget:
        cut -= 1
    if atoms is not None:
        for match in atoms.finditer(text, 0, len(text)):
            if match.start() < cut < match.end():
                cut = match.start()
                break
            if match.start() >= cut:
                break
    space = text.rfind(" ", max(0, cut - 80), cut)
    if space > 0:
        cut = space
    return text[:cut].rstrip() + ELLIPSIS


def truncate_html(text: str, limit: int, *, measure: Measure = len) -> str:
    """Cut HTML to at most `limit` without splitting a tag or an entity; tags left open
    are closed after the "…"."""
    if measure(text) <= limit:
        return text
    out: list[str] = []
    used = 0
    stack: list[str] = []

    def reserve(tags: Sequence[str]) -> int:
        return measure(ELLIPSIS) + sum(measure(f"</{t}>") for t in tags)

    for match in _HTML_TOKEN.finditer(text):
        token = match.group(0)
        closing, name = match.group(1), match.group(2)
        if name and not closing and token.endswith("/>"):
            if used + measure(token) + reserve(stack) > limit:
                break
        elif name and not closing:
            need = measure(token) + reserve([*stack, name])
            if used + need > limit:
                break
            stack.append(name.lower())
        elif name and closing:
            if stack and stack[-1] == name.lower():
                stack.pop()
        elif token[0] not in "<&" or len(token) == 1:
            room = limit - used - reserve(stack)
            if measure(token) > room:
                part = token
                while part and measure(part) > room:
                    part = part[: -max(1, measure(part) - room)]
                out.append(part)
                used += measure(part)
                break
        elif used + measure(token) + reserve(stack) > limit:
            break
        out.append(token)
        used += measure(token)
    closers = "".join(f"</{t}>" for t in reversed(stack))
    return "".join(out).rstrip() + ELLIPSIS + closers


@dataclass(frozen=True)
class Block:
    """A piece of a message: an alert (counted in "… and N more") or a heading."""

    text: str
    is_alert: bool = True


def fit_blocks(
    head: str,
    blocks: Sequence[Block],
    limit: int,
    *,
    more: Callable[[int], str],
    already_left_out: int = 0,
    sep: str = "\n\n",
    truncate: Truncate,
    measure: Measure = len,
) -> str:
    """Join `head` and as many whole blocks as fit in `limit`; name the alerts left out with
    `more(n)`; cut the first alert itself only when even it does not fit alone."""

    def join(kept: Sequence[Block], left_out: int) -> str:
        parts = [p for p in [head, *(b.text for b in kept)] if p]
        if left_out:
            parts.append(more(left_out))
        return sep.join(parts)

    alerts = sum(b.is_alert for b in blocks)
    if not alerts:
        return truncate(join(blocks, already_left_out), limit)
    for keep in range(len(blocks), 0, -1):
        kept = list(blocks[:keep])
        while kept and not kept[-1].is_alert:
            kept.pop()
        shown = sum(b.is_alert for b in kept)
        if not shown:
            break
        text = join(kept, already_left_out + alerts - shown)
        if measure(text) <= limit:
            return text
    first = next(b for b in blocks if b.is_alert)
    left_out = already_left_out + alerts - 1
    tail = sep + more(left_out) if left_out else ""
    prefix = head + sep if head else ""
    room = limit - measure(prefix) - measure(tail)
    if room < 40:
        return truncate(prefix + first.text, limit)
    return prefix + truncate(first.text, room) + tail
