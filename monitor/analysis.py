"""What the pipeline learns about a new item before storing it: which rules fired, the
story entities it names, its canonical URL and (if a rule fired) its story fingerprint.

Pure and picklable both ways, so it runs in the parse workers (monitor/workers.py) on the
other core, or in the daemon's own process when no worker can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.dedup import Fingerprint, canonical_url, fingerprint
from monitor.domain import Document, Item, Match, pickled_by_fields

__all__ = [
    "ENTITY_PREFIXES",
    "Analysed",
    "FeedContext",
    "Finding",
    "MatcherLike",
    "analyse_items",
    "findings",
    "join",
]

# Vocabularies whose names start so are entities for story grouping (rules/entities.yaml).
ENTITY_PREFIXES = ("place_", "actor_", "thing_")


class MatcherLike(Protocol):
    """What analysis needs from the rule engine (monitor.match.Matcher)."""

    def match_with_vocabularies(
        self, doc: Document, *, prefixes: tuple[str, ...] | None = None
    ) -> tuple[list[Match], dict[str, set[str]]]: ...


@dataclass(frozen=True, slots=True)
class FeedContext:
    """The feed facts rules can be scoped by."""

    name: str
    lang: str | None
    tags: tuple[str, ...] = ()


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Finding:
    """The analysis of one item, without the item (what a worker sends back)."""

    matches: list[Match]
    entities: tuple[str, ...]
    canonical: str | None
    fingerprint: Fingerprint | None  # None: no rule fired, the item joins no story


@dataclass(slots=True)
class Analysed:
    item: Item
    matches: list[Match]
    entities: tuple[str, ...]
    canonical: str | None
    fingerprint: Fingerprint | None  # None: no rule fired, the item joins no story

    @classmethod
    def of(cls, item: Item, found: Finding) -> Analysed:
        return cls(item, found.matches, found.entities, found.canonical, found.fingerprint)


def findings(matcher: MatcherLike, feed: FeedContext, items: Sequence[Item]) -> list[Finding]:
    out = []
    for item in items:
        doc = Document(
            title=item.title,
            summary=item.summary,
            lang=item.lang or feed.lang,
            feed=feed.name,
            feed_tags=feed.tags,
        )
        matches, vocabularies = matcher.match_with_vocabularies(doc, prefixes=ENTITY_PREFIXES)
        entities = tuple(sorted(vocabularies))
        # Only items that fired a rule take part in stories: the rest never alert, and
        # leaving them out keeps the story index and the writes small.
        out.append(
            Finding(
                matches,
                entities,
                canonical_url(item.url) if item.url else None,
                fingerprint(item.title, item.summary) if matches else None,
            )
        )
    return out


def analyse_items(matcher: MatcherLike, feed: FeedContext, items: Sequence[Item]) -> list[Analysed]:
    return join(items, findings(matcher, feed, items))


def join(items: Sequence[Item], found: Sequence[Finding]) -> list[Analysed]:
    return [Analysed.of(item, f) for item, f in zip(items, found, strict=True)]
