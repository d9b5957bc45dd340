"""Frozen dataclasses passed between stages. Pure: no I/O, no clock, no globals."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

__all__ = [
    "FIELDS",
    "SEVERITIES",
    "Alert",
    "Document",
    "FeedState",
    "FetchResult",
    "Item",
    "Match",
    "ParsedFeed",
    "TermHit",
    "matched_words",
    "pickled_by_fields",
    "severity_rank",
]

_D = TypeVar("_D")

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
FIELDS: tuple[str, ...] = ("title", "summary")
Field = Literal["title", "summary"]


def pickled_by_fields(cls: type[_D]) -> type[_D]:
    """Pickle a frozen, slotted dataclass as its constructor and field values.

    The default for such classes goes through Python-level __getstate__/__setstate__ per
    object; items and matches cross the pipe to the parse workers by the thousand per feed,
    and this halves their pickling cost."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values = (
        operator.attrgetter(*names) if len(names) > 1 else (lambda obj: (getattr(obj, names[0]),))
    )

    def reduce(self: Any) -> tuple[type[_D], tuple[Any, ...]]:
        return cls, values(self)

    cls.__reduce__ = reduce  # type: ignore[assignment,method-assign]
    return cls


def severity_rank(severity: str) -> int:
    """0 for low … 3 for critical; unknown severities rank lowest."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the fetch stage needs to know about one stored feed."""

    id: int
    url: str
    name: str
    lang: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    encoding: str | None = None  # per-feed override for mislabelled feeds
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP exchange. `body` is None on 304 (not modified)."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    body: bytes | None
    headers: dict[str, str]  # lower-case keys, content-encoding removed
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # set only when every hop was 301/308
    retry_after: timedelta | None = None
    elapsed: timedelta = timedelta(0)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Item:
    """One feed entry as plain, sanitised text."""

    guid: str
    url: str | None  # http/https only, else None
    title: str
    summary: str  # plain text, no markup
    published: datetime | None  # aware, UTC
    lang: str | None = None
    author: str | None = None


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    items: tuple[Item, ...]
    warnings: tuple[str, ...] = ()
    ttl: timedelta | None = None  # RSS <ttl>, a floor on the next poll
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """What the matcher sees: the text of one item plus its scope."""

    title: str
    summary: str = ""
    lang: str | None = None
    feed: str | None = None  # feed name
    feed_tags: tuple[str, ...] = ()


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class TermHit:
    """One rule term found in the original text: `text[start:end]` of `field`."""

    term: str  # the term as the admin wrote it (vocabulary entry or inline term)
    field: Field
    start: int
    end: int
    text: str  # the original characters that matched


def matched_words(hits: tuple[TermHit, ...]) -> tuple[str, ...]:
    """Distinct original words that matched, title first, in order of appearance."""
    ordered = sorted(hits, key=lambda h: (h.field != "title", h.start))
    return tuple(dict.fromkeys(hit.text for hit in ordered))


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Match:
    rule_id: str
    rule_title: str
    severity: str
    tags: tuple[str, ...]
    score: float
    hits: tuple[TermHit, ...]

    @property
    def matched_terms(self) -> tuple[str, ...]:
        return matched_words(self.hits)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert per (rule, story), ready to render on any channel."""

    id: int
    rule_id: str
    rule_title: str
    severity: str
    tags: tuple[str, ...]
    title: str
    summary: str
    url: str | None
    feed: str
    published: datetime | None
    lang: str | None
    hits: tuple[TermHit, ...] = ()
    story_id: int | None = None
    sources: tuple[str, ...] = ()  # outlets that carried the story so far
    created_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
    rules: tuple[str, ...] = ()  # every rule that fired; rule_id is the primary one

    @property
    def matched_terms(self) -> tuple[str, ...]:
        return matched_words(self.hits)
