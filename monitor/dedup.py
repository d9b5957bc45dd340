"""Dedup: canonical URLs, and which stored story a new item belongs to. Pure, in memory.

`canonical_url` maps the many spellings of one article's address (tracking parameters,
fragments, http/https, www., AMP variants, trailing slashes, percent-escape case) to one
string; the text signatures live in `monitor.stories`.

A `StoryIndex` holds the items of the last `window` (loaded at start-up, then one `add` per
stored item) and answers `find` in three steps, first hit wins:

1. **url**: the same canonical URL was already seen;
2. **near-duplicate**: MinHash similarity of title + summary ≥ `threshold`, same language
   preferred, within `window`; candidates come from LSH band buckets, not a scan;
3. **entities**: ≥ `cross_lang_min_entities` shared specific entities (names such as
   ``place:segou``, ``actor:jnim``, one per entity with its Arabic and French spellings)
   and an entity-set Jaccard ≥ `min_entity_jaccard`, within the shorter `entity_window`;
   this is what groups an Arabic and a French report of one event. Defaults (3, 0.6, 24 h,
   any language pair) were chosen on tests/fixtures/stories/pairs.jsonl, see
   bench/results/dedup.md: two shared entities, or overlap without the Jaccard floor, merged
   different JNIM convoy attacks near Bamako. Whole-vocabulary names ("mali_places") are far
   too coarse for this step (precision 0.57-0.74 there): hand in one name per entity.

Story ids belong to the caller (storage): the index only finds and registers.
"""

from __future__ import annotations

import heapq
import itertools
import operator
import re
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from monitor import stories
from monitor.stories import Fingerprint, fingerprint

__all__ = [
    "LSH_ROWS",
    "TRACKING_PARAMS",
    "Fingerprint",
    "MatchReason",
    "StoryIndex",
    "StoryMatch",
    "canonical_url",
    "fingerprint",
]


TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "ttclid", "igshid",
        "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "ocid", "cmpid",
        "xtor", "xtref", "at_medium", "at_campaign", "at_format", "ns_campaign", "ns_mchannel",
        "ns_source", "ns_linkname", "traffic_source", "wt.mc_id", "s_cid", "ito", "spm",
        "soc_src", "soc_trk", "vero_id", "oly_anon_id", "oly_enc_id", "ref_src", "amp",
    }
)  # fmt: skip
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_")
_HOST_PREFIXES: tuple[str, ...] = ("www.", "amp.")  # removed: one site, one spelling
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/%")
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A character outside each safe set (one C-level search instead of a per-character loop).
_UNSAFE: dict[frozenset[str], re.Pattern[str]] = {
    safe: re.compile("[^" + "".join(re.escape(c) for c in sorted(safe)) + "]")
    for safe in (_PATH_SAFE, _QUERY_SAFE)
}


# The shape of nearly every article link: lower-case http(s) scheme and host, no port or
# user, a path of characters _escape leaves alone. urlsplit, its hostname and port
# properties and urlunsplit cost three quarters of canonical_url on such links; for these the
# parts can be read off the match (urlsplit would also drop tabs and newlines: none allowed).
_PLAIN_LINK = re.compile(
    r"https?://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?"
    r"(?:\?([^#\t\n\r]*))?(?:#[^\t\n\r]*)?"
)


def canonical_url(url: str) -> str:
    """One spelling per article: https, lower-case host without `www.`/`amp.`, no default
    port, no fragment, no tracking or AMP parameters, no `/amp` segment, no trailing slash,
    upper-case percent escapes (non-ASCII escaped), remaining parameters sorted.

    Idempotent. Anything that is not an http(s) URL with a host comes back stripped only.
    """
    text = url.strip()
    plain = _PLAIN_LINK.fullmatch(text)
    if plain is None:
        return _canonical_url_parsed(text)
    host, path, query = plain.groups()
    while host.startswith(_HOST_PREFIXES) and host.count(".") > 1:
        host = host.split(".", 1)[1]
    if not path or path[-1] == "/" or "amp" in path.lower():
        path = _canonical_path(path or "")
    kept = _canonical_query(query) if query else ""
    return f"https://{host}{path}?{kept}" if kept else f"https://{host}{path}"


def _canonical_url_parsed(text: str) -> str:
    """canonical_url of any text, through urlsplit."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return text
    host = parts.hostname.rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    while host.startswith(_HOST_PREFIXES) and host.count(".") > 1:
        host = host.split(".", 1)[1]
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return urlunsplit(
        ("https", netloc, _canonical_path(parts.path), _canonical_query(parts.query), "")
    )


def _canonical_path(path: str) -> str:
    segments = _escape(path, _PATH_SAFE).split("/")
    while True:  # "/x.amp/amp/" → "/x": repeat until no AMP spelling is left
        segments = [s for s in segments if s.lower() != "amp"]
        while segments and not segments[-1]:
            segments.pop()
        if not segments or not segments[-1].lower().endswith(".amp"):
            break
        segments[-1] = segments[-1][:-4]
    return "/".join(segments) or "/"


def _canonical_query(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        key = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name).replace("+", " ").lower()
        if key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES):
            continue
        if key == "outputtype" and value.lower() == "amp":
            continue
        kept.append(_escape(pair, _QUERY_SAFE))
    return "&".join(sorted(kept))


def _escape(text: str, safe: frozenset[str]) -> str:
    """RFC 3986 normalisation: upper-case escapes, decode unreserved ones, escape the rest."""

    def fold(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    if "%" in text:
        text = _ESCAPE.sub(fold, _BAD_PERCENT.sub("%25", text))
    if not _UNSAFE[safe].search(text):
        return text
    return "".join(
        c if c in safe else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in text
    )


# --- story index --------------------------------------------------------------------------

_K = TypeVar("_K")
MatchReason = Literal["url", "near-duplicate", "entities"]
LSH_ROWS = 4  # 64 values / 4 rows = 16 bands: candidate at Jaccard 0.5 with p ≈ 0.64, 0.7 ≈ 0.99


@dataclass(frozen=True, slots=True)
class StoryMatch:
    story_id: int
    reason: MatchReason
    similarity: float  # MinHash Jaccard estimate, or Jaccard of the entity sets; 1.0 for url
    key: str  # the indexed item that matched


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    story_id: int
    lang: str | None
    published: datetime
    entities: frozenset[str]
    signature: array[int]  # Fingerprint.values, 4 bytes a value instead of a 32-byte int
    url: str | None
    bands: tuple[int, ...]


class StoryIndex:
    """Items of the last `window`, indexed by canonical URL, LSH band and entity."""

    def __init__(
        self,
        *,
        window: timedelta = timedelta(hours=48),
        threshold: float = 0.5,
        cross_lang_min_entities: int = 3,
        min_entity_jaccard: float = 0.6,
        entity_window: timedelta = timedelta(hours=24),
        entities_across_languages_only: bool = False,
        generic_entities: frozenset[str] = frozenset(),
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("stories: threshold must be in (0, 1]")
        if cross_lang_min_entities < 1:
            raise ValueError("stories: cross_lang_min_entities must be at least 1")
        self.window = window
        self.threshold = threshold
        self.cross_lang_min_entities = cross_lang_min_entities
        self.min_entity_jaccard = min_entity_jaccard
        self.entity_window = min(entity_window, window)
        self.entities_across_languages_only = entities_across_languages_only
        self.generic_entities = generic_entities
        self._entries: dict[str, _Entry] = {}
        self._by_url: dict[str, str] = {}
        self._by_band: dict[int, list[str]] = defaultdict(list)  # mostly one key
        self._by_entity: dict[str, set[str]] = defaultdict(set)
        self._expiry: list[tuple[datetime, int, str]] = []  # heap of (published, seq, key)
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def add(
        self,
        *,
        key: str,
        story_id: int | None,
        lang: str | None,
        title: str,
        summary: str,
        published: datetime,
        entities: frozenset[str] = frozenset(),
        fingerprint: Fingerprint | None = None,
        url: str | None = None,
    ) -> None:
        """Register one stored item under its story; re-adding a key replaces it. Items
        without a story id are not indexed (nothing could join them)."""
        self._remove(key)
        if story_id is None:
            return
        fp = fingerprint if fingerprint is not None else stories.fingerprint(title, summary)
        entry = _Entry(
            key=key,
            story_id=story_id,
            lang=lang,
            published=published,
            entities=self._specific(entities),
            signature=array("I", fp.values),
            url=canonical_url(url) if url else None,
            bands=_band_keys(fp),
        )
        self._entries[key] = entry
        if entry.url:
            self._by_url[entry.url] = key
        for band in entry.bands:
            self._by_band[band].append(key)
        for entity in entry.entities:
            self._by_entity[entity].add(key)
        heapq.heappush(self._expiry, (published, next(self._seq), key))

    def find(
        self,
        *,
        lang: str | None,
        title: str,
        summary: str,
        published: datetime,
        entities: frozenset[str] = frozenset(),
        url: str | None = None,
        fingerprint: Fingerprint | None = None,
    ) -> StoryMatch | None:
        """The story this item belongs to, or None for a new story."""
        if url:
            key = self._by_url.get(canonical_url(url))
            if key is not None:
                return StoryMatch(self._entries[key].story_id, "url", 1.0, key)
        fp = fingerprint if fingerprint is not None else stories.fingerprint(title, summary)
        return self._near_duplicate(fp, lang, published) or self._shared_entities(
            self._specific(entities), lang, published
        )

    def evict(self, now: datetime) -> int:
        """Drop items published before `now - window`; returns how many went."""
        horizon = now - self.window
        dropped = 0
        while self._expiry and self._expiry[0][0] < horizon:
            _, _, key = heapq.heappop(self._expiry)
            entry = self._entries.get(key)
            if entry is not None and entry.published < horizon:
                self._remove(key)
                dropped += 1
        return dropped

    def _near_duplicate(
        self, fp: Fingerprint, lang: str | None, published: datetime
    ) -> StoryMatch | None:
        keys: set[str] = set()
        for band in _band_keys(fp):
            keys.update(self._by_band.get(band, ()))
        best: tuple[bool, float, datetime] | None = None
        found: StoryMatch | None = None
        for key in keys:
            entry = self._entries[key]
            if abs(entry.published - published) > self.window:
                continue
            sim = _similarity(fp, entry.signature)
            if sim < self.threshold:
                continue
            rank = (entry.lang == lang, sim, entry.published)
            if best is None or rank > best:
                best, found = rank, StoryMatch(entry.story_id, "near-duplicate", sim, key)
        return found

    def _shared_entities(
        self, entities: frozenset[str], lang: str | None, published: datetime
    ) -> StoryMatch | None:
        if len(entities) < self.cross_lang_min_entities:
            return None
        # A candidate sharing at least k of the n entities appears in one of the n - k + 1
        # rarest posting lists (pigeonhole), so common entities (a capital city in every
        # item) never have to be walked: the cost follows the rare ones.
        need = self.cross_lang_min_entities
        postings = sorted((self._by_entity.get(e, set()) for e in entities), key=len)
        candidates: set[str] = set().union(*postings[: len(entities) - need + 1])
        # Shared entities per candidate, counted by set operations and Counter (C loops),
        # so the Python loop below only sees the candidates that share enough of them.
        shared: Counter[str] = Counter()
        for posting in postings:
            shared.update(posting & candidates)
        best: tuple[float, int, timedelta] | None = None
        found: StoryMatch | None = None
        for key in [key for key in candidates if shared[key] >= need]:
            entry = self._entries[key]
            count = shared[key]  # == len(entities & entry.entities)
            gap = abs(entry.published - published)
            if gap > self.entity_window:
                continue
            if self.entities_across_languages_only and entry.lang == lang:
                continue
            jaccard = count / (len(entities) + len(entry.entities) - count)
            if jaccard < self.min_entity_jaccard:
                continue
            rank = (jaccard, count, -gap)
            if best is None or rank > best:
                best, found = rank, StoryMatch(entry.story_id, "entities", jaccard, key)
        return found

    def _specific(self, entities: frozenset[str]) -> frozenset[str]:
        return entities - self.generic_entities if self.generic_entities else entities

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        if entry.url and self._by_url.get(entry.url) == key:
            del self._by_url[entry.url]
        for band in entry.bands:
            keys = self._by_band[band]
            keys.remove(key)
            if not keys:
                del self._by_band[band]
        for entity in entry.entities:
            _discard(self._by_entity, entity, key)


def _similarity(fp: Fingerprint, signature: array[int]) -> float:
    if not fp.values or len(fp.values) != len(signature):
        return 0.0
    return sum(map(operator.eq, fp.values, signature)) / len(signature)


def _band_keys(fp: Fingerprint) -> tuple[int, ...]:
    # The built-in (salted) hash is fine here: band keys live in this process only, and a
    # rare collision only adds a candidate that the similarity check then rejects.
    return tuple(hash((i, band)) for i, band in enumerate(fp.bands(LSH_ROWS)))


def _discard(index: dict[_K, set[str]], name: _K, key: str) -> None:
    bucket = index.get(name)
    if bucket is not None:
        bucket.discard(key)
        if not bucket:
            del index[name]
