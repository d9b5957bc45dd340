"""Compile a RuleSet once; documents in, Matches with hit positions out.

All terms of all rules go into ONE index, keyed by normalized first words:
- a dictionary of words (single-word terms and the first word of phrases), each entry with
  the clitic readings it accepts (exact, proper noun, common noun);
- a prefix table (`carburant*`): per prefix length, a dictionary of prefixes;
- compiled regexes only for `/regex/` terms, run over the normalized text.

Per document, in order of cost:
1. Each whitespace-separated chunk of text is looked up in a memo (chunk → the terms its
   words can start, usually none): one `split()` and one C-level `map()` per field. A chunk
   folding to exactly one word has the index of that word; `compress()` then visits only the
   chunks that start something (or fold to several words or none, which shift the word
   positions). Words are looked up once each (memoised per distinct word).
2. A phrase is verified on the words of the chunks after its first word; the field's word
   list is built only when a second chunk starts a phrase or a regex runs. Offsets are
   computed per needed word, for the Matches reported.
3. Only rules triggered by an entry found are evaluated (percolator style). A rule's trigger
   is one set of entries of which at least one must occur for the rule to hold (e.g. the
   vocabulary required by an `all`), so a `none: [@football]` never wakes a rule up. A regex
   in that set wakes the rule where a field holds the regex's literal hints (below). A rule
   whose `any` branches each need two things (a place and an event) also keeps the other
   side as a set it `requires`: a woken rule lacking an entry of it is not evaluated (a
   regex in such a set, as in the trigger, counts where a field holds its hints).
4. A rule is first tested by closures over sets of entry ids (which entries occur in the
   title, the summary, either); only a rule that holds runs its compiled collector, which
   gathers the hits of its positive part.
Regex terms are searched only when a triggered rule, `vocabulary_hits` or a vocabulary asked
for by `match_with_vocabularies` needs them (in every document only if a global mask holds a
regex, or a rule cannot be triggered without a regex that has no literal hints); and then
only in a field whose words hold the literals that any match of the regex must contain
(hints, found once per distinct word like the index entries).
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
import re._constants as sre
import re._parser as sre_parse
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat
from typing import TypeVar

from monitor.domain import FIELDS, Document, Match, TermHit
from monitor.normalize import (
    ARABIC_ARTICLE,
    arabic_forms,
    chunk_offsets,
    chunk_spans,
    chunk_words,
)
from monitor.rules import (
    AllNode,
    AnyNode,
    Condition,
    NearNode,
    NoneNode,
    Rule,
    RuleSet,
    ScopeNode,
    ScoreNode,
    Term,
    TermNode,
    VocabNode,
)

__all__ = ["Matcher"]

MAX_CACHED_WORDS = 200_000
_MAX_NEAR_CANDIDATES = 32  # occurrences per item and field tried by `near`
# Which clitic readings (has_proclitic, has_article) of a text word a term accepts.
_EXACT, _PROPER, _PROPER_ARTICLE, _COMMON = range(4)
_ALL_FIELDS = 0b11
# An index value: (entry, clitic readings accepted, rest words of a phrase, last is a prefix).
_Indexed = tuple[int, int, tuple[str, ...], bool]

# An occurrence of an entry: (field index, first word, end word) in that field's words.
Occurrence = tuple[int, int, int]
# What a compiled test sees of a document, indexed by a field bit set: [1] the entries that
# occur in the title, [2] in the summary, [3] the occurrences of every entry (keys = entries
# occurring anywhere), [0] nothing (a scope that excludes every field).
_View = tuple[Collection[int], Collection[int], Collection[int], dict[int, list[Occurrence]]]
_Test = Callable[[_View], bool]
# The (term use, occurrences) of the positive part of a condition that holds.
_Used = list[tuple["_Ref", list[Occurrence]]]
# A compiled condition: whether it holds on these occurrences, and what it used.
_Collect = Callable[[dict[int, list[Occurrence]]], tuple[bool, _Used]]
_Holds = Callable[[dict[int, list[Occurrence]]], bool]
_T = TypeVar("_T")
_NOTHING: frozenset[int] = frozenset()
_EMPTY_VIEW: _View = (_NOTHING, _NOTHING, _NOTHING, {})
_NO_SPANS: list[Occurrence] = []  # shared, never changed
_NO_CHUNKS: list[str] = []  # shared, never changed


@dataclass(frozen=True, slots=True)
class _Ref:
    """One use of an entry in a rule, with the weight and text written there."""

    entry: int
    weight: float
    text: str


@dataclass(frozen=True, slots=True)
class _Term:
    ref: _Ref


@dataclass(frozen=True, slots=True)
class _Terms:
    """Any of these terms (an inline list or a vocabulary), each hit counting."""

    refs: tuple[_Ref, ...]
    by_entry: dict[int, tuple[_Ref, ...]] = dataclasses.field(
        default_factory=dict, compare=False, hash=False
    )
    entries: frozenset[int] = dataclasses.field(default=_NOTHING, compare=False, hash=False)

    def __post_init__(self) -> None:
        for ref in self.refs:
            self.by_entry[ref.entry] = (*self.by_entry.get(ref.entry, ()), ref)
        object.__setattr__(self, "entries", frozenset(self.by_entry))

    def used(
        self, occ: dict[int, list[Occurrence]], fields: int
    ) -> list[tuple[_Ref, list[Occurrence]]]:
        """The (term use, occurrences in `fields`) of those terms that occur."""
        used = []
        for entry in self.entries.intersection(occ):
            found = occ[entry]
            if fields != _ALL_FIELDS:
                found = _in_fields(found, fields)
            if found:
                used.extend((ref, found) for ref in self.by_entry[entry])
        return used


@dataclass(frozen=True, slots=True)
class _Bool:
    op: str  # "any" | "all" | "none"
    children: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Near:
    items: tuple[_Terms, ...]
    within: int


@dataclass(frozen=True, slots=True)
class _Score:
    min_score: float
    terms: _Terms


@dataclass(frozen=True, slots=True)
class _Scope:
    fields: int  # bit set over FIELDS
    child: _Node


_Node = _Term | _Terms | _Bool | _Near | _Score | _Scope


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    node: _Node
    masks: frozenset[int]
    lang: frozenset[str]
    feeds: frozenset[str]
    feed_tags: frozenset[str]
    test: _Test = dataclasses.field(compare=False)
    collect: _Collect = dataclasses.field(compare=False)
    scoped: bool = False  # has a lang, feeds or feed_tags scope
    uses_regex: bool = False  # its condition or masks contain a regex term
    # Entry sets besides the trigger, each needing an entry present for the rule to hold,
    # checked before the condition: sets of word entries, then sets holding regexes as
    # (word entries, hint needs of the regexes) (a regex counts where its hints are).
    requires: tuple[frozenset[int], ...] = ()
    requires_hinted: tuple[tuple[frozenset[int], tuple[int, ...]], ...] = ()


class _Scan:
    """One document's occurrences, completed with regex terms only when needed.

    Per-field word lists and offsets are made only when a phrase, a regex or a Match
    needs them (most documents need none)."""

    __slots__ = (
        "chunks",
        "doc",
        "folded",
        "hints",
        "locations",
        "mask_spans",
        "occ",
        "regex_done",
        "view",
        "words",
    )

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.occ: dict[int, list[Occurrence]] = {}
        self.chunks: list[list[str]] = [_NO_CHUNKS, _NO_CHUNKS]  # text.split() per field
        self.folded = 0  # bit set of the fields with a chunk not folding to exactly one word
        self.hints = [0, 0]  # per field, the bits of the regex literal sets found in its words
        self.words: list[list[str] | None] | None = None
        self.locations: list[_Located | None] | None = None
        self.mask_spans: list[Occurrence] = _NO_SPANS
        self.regex_done = False
        self.view: _View = _EMPTY_VIEW

    def field_words(self, field: int) -> list[str]:
        """The normalized words of a field (built from its chunks on first use)."""
        if self.words is None:
            self.words = [None, None]
        words = self.words[field]
        if words is None:
            chunks = self.chunks[field]
            words = self.words[field] = list(chain.from_iterable(map(chunk_words, chunks)))
        return words

    def located(self, field: int) -> _Located:
        """The offsets of a field's normalized words (made on first use)."""
        if self.locations is None:
            self.locations = [None, None]
        located = self.locations[field]
        if located is None:
            text = self.doc.summary if field else self.doc.title
            located = self.locations[field] = _Located(
                text, self.chunks[field], one_word_chunks=not self.folded >> field & 1
            )
        return located


class _Located:
    """Offsets in one field's original text of its normalized words (memoised)."""

    __slots__ = ("chunks", "ends", "offsets", "spans")

    def __init__(self, text: str, chunks: list[str], *, one_word_chunks: bool) -> None:
        self.chunks = chunks
        self.offsets = chunk_offsets(text, chunks)
        # Words up to each chunk, when they differ from the chunk count.
        self.ends = (
            None if one_word_chunks else list(accumulate(map(len, map(chunk_words, chunks))))
        )
        self.spans: dict[int, tuple[int, int]] = {}

    def span(self, word: int) -> tuple[int, int]:
        span = self.spans.get(word)
        if span is None:
            index, within = word, 0
            if self.ends is not None:
                index = bisect.bisect_right(self.ends, word)
                within = word - (self.ends[index - 1] if index else 0)
            start, end = chunk_spans(self.chunks[index])[within]
            offset = self.offsets[index]
            span = self.spans[word] = (offset + start, offset + end)
        return span


# What a text word can start: (entry, rest words of a phrase, last word is a prefix).
_Start = tuple[int, tuple[str, ...], bool]


class _Folded:
    """Memo value of a chunk that does not fold to exactly one word: what each word starts.

    Always true, so that a scan meets every such chunk and counts its words."""

    __slots__ = ("starts",)

    def __init__(self, starts: tuple[tuple[_Start, ...], ...]) -> None:
        self.starts = starts


_NO_WORDS = _Folded(())  # the memo value of every chunk without words (punctuation)


class _ChunkMemo(dict[str, "tuple[_Start, ...] | _Folded"]):
    """Surface chunk of text → the terms its words can start (bounded).

    A chunk that folds to one word maps to that word's starts, an empty tuple for most
    chunks; any other chunk maps to a `_Folded`."""

    def __init__(self, matcher: Matcher) -> None:
        super().__init__()
        self.matcher = matcher

    def __missing__(self, chunk: str) -> tuple[_Start, ...] | _Folded:
        words = chunk_words(chunk)
        if len(words) == 1:
            value = self.matcher._cache.get(words[0])
            if value is None:
                value = self.matcher._analyze(words[0])
        elif words:
            value = _Folded(tuple(map(self.matcher._lookup, words)))
        else:
            value = _NO_WORDS
        if len(self) >= MAX_CACHED_WORDS:
            self.clear()
        self[chunk] = value
        return value


def _field_bits(fields: Iterable[str]) -> int:
    return sum(1 << FIELDS.index(f) for f in set(fields))


def _accepts(mode: int, proclitic: bool, article: bool) -> bool:
    if mode == _EXACT:
        return not (proclitic or article)
    if mode == _PROPER:
        return not article
    if mode == _PROPER_ARTICLE:
        return article
    return True


# _ACCEPTS[mode][has_proclitic][has_article] == _accepts(mode, has_proclitic, has_article)
_ACCEPTS = tuple(
    tuple(tuple(_accepts(mode, p, a) for a in (False, True)) for p in (False, True))
    for mode in range(4)
)


def _first_key(term: Term) -> tuple[str, int]:
    """Dictionary key of a term's first word and the clitic readings it accepts."""
    first = term.words[0]
    bare = first[len(ARABIC_ARTICLE) :]
    has_article = first.startswith(ARABIC_ARTICLE) and len(bare) >= 2
    if term.exact:
        return first, _EXACT
    if term.proper:
        return (bare, _PROPER_ARTICLE) if has_article else (first, _PROPER)
    return (bare if has_article else first), _COMMON


class Matcher:
    """A RuleSet compiled into one index. Immutable apart from memos of seen words."""

    def __init__(self) -> None:
        self.rule_count = 0
        self.term_count = 0
        self._terms: list[Term] = []
        self._words: dict[str, list[_Indexed]] = {}
        self._prefixes: dict[int, dict[str, list[_Indexed]]] = {}
        self._prefix_tables: tuple[tuple[int, dict[str, list[_Indexed]]], ...] = ()
        # The first letters (as many as the shortest prefix has) of every prefix: a word
        # starting otherwise skips the tables.
        self._prefix_head = 0
        self._prefix_heads: frozenset[str] = frozenset()
        # (entry, compiled, hint bits that must all be found in a field for it to match there)
        self._regexes: list[tuple[int, re.Pattern[str], int]] = []
        # (hint bit, literals one of which is in a word of every field where a regex matches)
        self._hints: list[tuple[int, tuple[str, ...]]] = []
        self._hint_search: Callable[[str], object] | None = None  # any literal in a word?
        self._eager_regex = False
        self._rules: list[_CompiledRule] = []
        self._rules_by_entry: dict[int, tuple[int, ...]] = {}
        # (hint bits of a regex, the rules it triggers): woken when a field holds all the bits
        self._rules_by_hint: tuple[tuple[int, frozenset[int]], ...] = ()
        self._always: frozenset[int] = frozenset()
        self._global_masks: frozenset[int] = frozenset()
        self._vocab_entries: dict[int, list[tuple[str, str]]] = {}
        self._vocab_entries_by_prefixes: dict[
            tuple[str, ...] | None, tuple[dict[int, list[tuple[str, str]]], bool]
        ] = {}  # memo of _vocab_entries_of
        self._cache: dict[str, tuple[tuple[int, tuple[str, ...], bool], ...]] = {}
        self._chunks = _ChunkMemo(self)
        self._last = threading.local()  # the scan of the last document, per thread

    # -- compiling -----------------------------------------------------------------------
    @classmethod
    def compile(cls, ruleset: RuleSet) -> Matcher:
        self = cls()
        entries: dict[tuple[object, ...], int] = {}

        def entry(term: Term) -> int:
            if term.key not in entries:
                entries[term.key] = len(self._terms)
                self._terms.append(term)
            return entries[term.key]

        def refs_of(item: TermNode | VocabNode) -> tuple[_Ref, ...]:
            terms = (
                ruleset.vocabularies[item.name].terms
                if isinstance(item, VocabNode)
                else (item.term,)
            )
            return tuple(_Ref(entry(t), t.weight, t.text) for t in terms)

        def build(node: Condition) -> _Node:
            if isinstance(node, TermNode):
                return _Term(refs_of(node)[0])
            if isinstance(node, VocabNode):
                return _Terms(refs_of(node))
            if isinstance(node, AnyNode | AllNode | NoneNode):
                op = {AnyNode: "any", AllNode: "all", NoneNode: "none"}[type(node)]
                if op != "all" and all(isinstance(c, TermNode | VocabNode) for c in node.children):
                    terms = _Terms(tuple(r for c in node.children for r in refs_of(c)))
                    return terms if op == "any" else _Bool("none", (terms,))
                return _Bool(op, tuple(build(c) for c in node.children))
            if isinstance(node, NearNode):
                return _Near(tuple(_Terms(refs_of(i)) for i in node.items), node.within)
            if isinstance(node, ScoreNode):
                refs = tuple(r for i in node.items for r in refs_of(i))
                return _Score(node.min_score, _Terms(refs))
            if isinstance(node, ScopeNode):
                return _Scope(_field_bits(node.fields), build(node.child))
            raise TypeError(f"match: unknown condition node {node!r}")

        for name, vocab in ruleset.vocabularies.items():
            for term in vocab.terms:
                self._vocab_entries.setdefault(entry(term), []).append((name, term.text))
        self._global_masks = frozenset(entry(m) for m in ruleset.masks)
        compiled_rules = [
            (
                rule,
                _Scope(_field_bits(rule.fields), build(rule.match)),
                frozenset(entry(m) for m in rule.masks),
            )
            for rule in ruleset.rules
            if rule.enabled
        ]
        regex_entries = frozenset(i for i, t in enumerate(self._terms) if t.regex is not None)
        self._eager_regex = not self._global_masks.isdisjoint(regex_entries)
        for index, term in enumerate(self._terms):
            self._index(index, term)
        # A regex with literal hints wakes its rules up when a field holds them; one without
        # would have to be searched in every document, so triggers avoid it.
        needs = {entry: need for entry, _, need in self._regexes}
        unhinted = frozenset(entry for entry, need in needs.items() if not need)
        by_entry: dict[int, list[int]] = {}
        by_hint: dict[int, list[int]] = {}
        always: list[int] = []
        for rule, node, masks in compiled_rules:
            index = len(self._rules)
            options = _necessary(node, unhinted)
            trigger = _trigger(options, unhinted)
            # The other sets, checked before the condition, none implied by the trigger. Regex
            # occurrences are found later: a regex counts as present where a field holds its
            # literal hints (as for the trigger), so a set with an unhinted regex is left out.
            required = [
                needed
                for needed in dict.fromkeys(options)
                if needed.isdisjoint(unhinted) and not (trigger is not None and trigger <= needed)
            ]
            self._rules.append(
                _CompiledRule(
                    rule,
                    node,
                    masks,
                    frozenset(rule.lang),
                    frozenset(rule.feeds),
                    frozenset(rule.feed_tags),
                    test=_compile_test(node, _ALL_FIELDS),
                    collect=_compile_collect(node, _ALL_FIELDS),
                    scoped=bool(rule.lang or rule.feeds or rule.feed_tags),
                    uses_regex=not regex_entries.isdisjoint(chain(_entries_of(node), masks)),
                    requires=tuple(n for n in required if n.isdisjoint(regex_entries)),
                    requires_hinted=tuple(
                        (n - regex_entries, tuple(needs[e] for e in n & regex_entries))
                        for n in required
                        if not n.isdisjoint(regex_entries)
                    ),
                )
            )
            if trigger is None:
                always.append(index)
                continue
            if not trigger.isdisjoint(unhinted):
                self._eager_regex = True
            for used in trigger:
                by_entry.setdefault(used, []).append(index)
                if used in needs:
                    by_hint.setdefault(needs[used], []).append(index)
        self._always = frozenset(always)
        self._rules_by_entry = {e: tuple(by_entry.get(e, ())) for e in range(len(self._terms))}
        self._rules_by_hint = tuple((need, frozenset(rules)) for need, rules in by_hint.items())
        self._prefix_tables = tuple(self._prefixes.items())
        self._prefix_head = min(self._prefixes, default=0)
        self._prefix_heads = frozenset(
            key[: self._prefix_head] for table in self._prefixes.values() for key in table
        )
        self.rule_count = len(self._rules)
        self.term_count = len(self._terms)
        return self

    def _index(self, entry: int, term: Term) -> None:
        if term.regex is not None:
            need = 0
            for literals in _regex_literals(term.regex):
                bit = 1 << len(self._hints)
                self._hints.append((bit, tuple(sorted(literals))))
                need |= bit
            self._regexes.append((entry, re.compile(term.regex), need))
            if self._hints:
                every = sorted({lit for _, lits in self._hints for lit in lits}, key=len)
                self._hint_search = re.compile("|".join(map(re.escape, every))).search
            return
        key, mode = _first_key(term)
        rest = term.words[1:]
        value = (entry, mode, rest, term.prefix)
        if term.prefix and not rest:
            self._prefixes.setdefault(len(key), {}).setdefault(key, []).append(value)
        else:
            self._words.setdefault(key, []).append(value)

    # -- scanning ------------------------------------------------------------------------
    def _lookup(self, word: str) -> tuple[tuple[int, tuple[str, ...], bool], ...]:
        found = self._cache.get(word)
        return self._analyze(word) if found is None else found

    def _analyze(self, word: str) -> tuple[tuple[int, tuple[str, ...], bool], ...]:
        """Entries whose first word this text word can be: (entry, rest words, last is prefix)."""
        found: dict[tuple[int, tuple[str, ...] | None, bool], None] = {}
        words_get = self._words.get
        tables = self._prefix_tables
        head, heads = self._prefix_head, self._prefix_heads
        for stem, proclitic, article in arabic_forms(word):
            group = words_get(stem)
            if group is not None:
                for entry, mode, rest, prefix in group:
                    if _ACCEPTS[mode][proclitic][article]:
                        found[(entry, rest, prefix)] = None
            if stem[:head] not in heads:
                continue
            size = len(stem)
            for length, table in tables:
                if size >= length:
                    group = table.get(stem[:length])
                    if group is not None:
                        for entry, mode, rest, prefix in group:
                            if _ACCEPTS[mode][proclitic][article]:
                                found[(entry, rest, prefix)] = None
        if self._hint_search is not None and self._hint_search(word):
            for bit, literals in self._hints:
                if any(literal in word for literal in literals):
                    found[(bit, None, False)] = None  # a hint: `rest` None, `entry` its bit
        if len(self._cache) >= MAX_CACHED_WORDS:
            self._cache.clear()
        result = tuple(found)
        self._cache[word] = result
        return result

    def _scan(self, doc: Document) -> _Scan:
        """The occurrences of every non-regex entry (and of regexes too, if eager)."""
        last = getattr(self._last, "scan", None)
        if last is not None and last.doc is doc:
            return last
        scan = _Scan(doc)
        occ = scan.occ
        memo = self._chunks.__getitem__
        seen: tuple[set[int], set[int]] = (set(), set())
        for field, text in enumerate((doc.title, doc.summary)):
            if not text:
                continue
            chunks = scan.chunks[field] = text.split()
            found = list(map(memo, chunks))
            count = len(found)
            in_field = seen[field]
            shift = 0  # words minus chunks before the current chunk
            # A phrase is checked on the words after its first chunk, or, once a second
            # chunk starts a phrase, on the field's word list (built once).
            phrase_chunk = -1
            words: list[str] | None = None
            for i in compress(range(count), found):
                starts = found[i]
                if starts.__class__ is _Folded:
                    if starts is _NO_WORDS:
                        shift -= 1
                        scan.folded |= 1 << field
                    else:
                        shift = self._scan_folded(scan, field, i, shift, starts, in_field)  # type: ignore[arg-type]
                    continue
                position = i + shift
                after: list[str] | None = None  # the words after this chunk's word
                following: tuple[str, ...] | None = None  # the next chunk's words
                for entry, rest, prefix in starts:  # type: ignore[union-attr]
                    if rest:
                        # Most phrase starts fail on the next word: the first word of the
                        # next chunk, when that chunk has words.
                        if following is None:
                            following = chunk_words(chunks[i + 1]) if i + 1 < count else ()
                        if following and following[0] != rest[0]:
                            if not (prefix and len(rest) == 1):
                                continue
                            if not following[0].startswith(rest[0]):
                                continue
                        if words is None and phrase_chunk in (-1, i):
                            phrase_chunk = i
                            if after is None or len(after) < len(rest):
                                after = _words_after(chunks, i, 1, len(rest))
                            if not _rest_matches(after, 0, rest, prefix):
                                continue
                        else:
                            if words is None:
                                words = scan.field_words(field)
                            if not _rest_matches(words, position + 1, rest, prefix):
                                continue
                    elif rest is None:
                        scan.hints[field] |= entry
                        continue
                    found_at = occ.get(entry)
                    if found_at is None:
                        occ[entry] = [(field, position, position + 1 + len(rest))]
                    else:
                        found_at.append((field, position, position + 1 + len(rest)))
                    in_field.add(entry)
        if self._eager_regex:
            self._add_regexes(scan)
        elif occ:
            if self._global_masks.isdisjoint(occ):
                scan.view = (_NOTHING, seen[0], seen[1], occ)
            else:
                scan.mask_spans = _mask_spans(occ, self._global_masks)
                _drop_masked(occ, scan.mask_spans)
                scan.view = _view_of(occ)
        self._last.scan = scan
        return scan

    def _scan_folded(
        self, scan: _Scan, field: int, index: int, shift: int, folded: _Folded, in_field: set[int]
    ) -> int:
        """Add the occurrences starting in chunk `index`, which does not fold to exactly one
        word; return the new word shift."""
        scan.folded |= 1 << field
        occ = scan.occ
        for k, word_starts in enumerate(folded.starts):
            position = index + shift + k
            for entry, rest, prefix in word_starts:
                if rest is None:
                    scan.hints[field] |= entry
                    continue
                if rest and not _rest_matches(scan.field_words(field), position + 1, rest, prefix):
                    continue
                occ.setdefault(entry, []).append((field, position, position + 1 + len(rest)))
                in_field.add(entry)
        return shift + len(folded.starts) - 1

    def _add_regexes(self, scan: _Scan) -> None:
        """Complete `scan` with the occurrences of regex terms, then apply global masks."""
        if scan.regex_done:
            return
        found: dict[int, list[Occurrence]] = {}
        for field, text in enumerate((scan.doc.title, scan.doc.summary)):
            if not text:
                continue
            hints = scan.hints[field]
            # A regex runs only in a field holding a literal of each of its literal sets.
            regexes = [(e, p) for e, p, need in self._regexes if need & hints == need]
            if regexes:
                self._regex_occurrences(field, scan.field_words(field), found, regexes)
        if found or (self._eager_regex and scan.occ):
            occ = {e: list(o) for e, o in scan.occ.items()}
            for entry, occurrences in found.items():
                occ.setdefault(entry, []).extend(occurrences)
            if self._global_masks and occ:
                spans = [*_mask_spans(occ, self._global_masks), *scan.mask_spans]
                _drop_masked(occ, spans)
                scan.mask_spans = spans
            scan.occ = occ
            scan.view = _view_of(occ)
        scan.regex_done = True

    @staticmethod
    def _regex_occurrences(
        field: int,
        words: list[str],
        occ: dict[int, list[Occurrence]],
        regexes: list[tuple[int, re.Pattern[str]]],
    ) -> None:
        if not words:
            return
        text = " ".join(words)
        starts: list[int] = []  # offset of each word in `text`, computed on the first match
        for entry, pattern in regexes:
            for found in pattern.finditer(text):
                if found.end() == found.start():
                    continue
                if not starts:
                    starts = [0, *itertools.accumulate(len(w) + 1 for w in words[:-1])]
                first = bisect.bisect_right(starts, found.start()) - 1
                last = bisect.bisect_right(starts, found.end() - 1) - 1
                if found.start() - starts[first] >= len(words[first]):
                    first += 1  # the match starts on the space after a word
                if first <= last:
                    occ.setdefault(entry, []).append((field, first, last + 1))

    # -- public --------------------------------------------------------------------------
    def match(self, doc: Document) -> list[Match]:
        """Every enabled rule in scope whose condition holds for `doc`, in rule order."""
        return self._match(self._scan(doc))

    def vocabulary_hits(self, doc: Document) -> dict[str, set[str]]:
        """Vocabulary name → the terms of it (as written) that occur in `doc`."""
        scan = self._scan(doc)
        self._add_regexes(scan)
        return self._vocabulary_hits(scan.occ, self._vocab_entries)

    def match_with_vocabularies(
        self, doc: Document, *, prefixes: tuple[str, ...] | None = None
    ) -> tuple[list[Match], dict[str, set[str]]]:
        """`match()` and `vocabulary_hits()` from one scan of the text.

        With `prefixes`, only vocabularies whose name starts with one of them are reported,
        and regex terms are searched only if a rule or one of those vocabularies needs them.
        """
        scan = self._scan(doc)
        matches = self._match(scan)
        vocab_entries, has_regex = self._vocab_entries_of(prefixes)
        if has_regex:
            self._add_regexes(scan)
        return matches, self._vocabulary_hits(scan.occ, vocab_entries)

    def _vocab_entries_of(
        self, prefixes: tuple[str, ...] | None
    ) -> tuple[dict[int, list[tuple[str, str]]], bool]:
        """Entry → (vocabulary, term text) for the vocabularies named with one of `prefixes`
        (all if None), and whether one of those entries is a regex term."""
        found = self._vocab_entries_by_prefixes.get(prefixes)
        if found is None:
            entries = self._vocab_entries
            if prefixes is not None:
                entries = {}
                for entry, uses in self._vocab_entries.items():
                    kept = [(name, text) for name, text in uses if name.startswith(prefixes)]
                    if kept:
                        entries[entry] = kept
            has_regex = any(self._terms[entry].regex is not None for entry in entries)
            found = self._vocab_entries_by_prefixes[prefixes] = (entries, has_regex)
        return found

    @staticmethod
    def _vocabulary_hits(
        occ: dict[int, list[Occurrence]], vocab_entries: dict[int, list[tuple[str, str]]]
    ) -> dict[str, set[str]]:
        hits: dict[str, set[str]] = {}
        for entry in occ:
            for name, text in vocab_entries.get(entry, ()):
                hits.setdefault(name, set()).add(text)
        return hits

    def _match(self, scan: _Scan) -> list[Match]:
        candidates = self._always
        if scan.occ:
            candidates = candidates.union(
                chain.from_iterable(map(self._rules_by_entry.__getitem__, scan.occ))
            )
        title, summary = scan.hints
        if title or summary:
            for need, rules in self._rules_by_hint:
                if need & title == need or need & summary == need:
                    candidates = candidates.union(rules)
        if not candidates:
            return []
        doc = scan.doc
        matches: list[Match] = []
        for index in sorted(candidates):
            compiled = self._rules[index]
            if compiled.requires and _lacks_one(compiled.requires, scan.occ):
                continue
            if compiled.requires_hinted and _lacks_hinted(
                compiled.requires_hinted, scan.occ, scan.hints
            ):
                continue
            if compiled.scoped and not _in_scope(compiled, doc):
                continue
            if compiled.uses_regex and not scan.regex_done:
                self._add_regexes(scan)
            occ, view = scan.occ, scan.view
            if compiled.masks and not compiled.masks.isdisjoint(occ):
                occ = {e: list(o) for e, o in occ.items()}
                _drop_masked(occ, _mask_spans(occ, compiled.masks))
                view = _view_of(occ)
            if not compiled.test(view):
                continue
            ok, used = compiled.collect(occ)
            if ok:
                matches.append(self._report(compiled.rule, scan, used))
        return matches

    def _report(self, rule: Rule, scan: _Scan, used: _Used) -> Match:
        weights: dict[int, float] = {}
        for ref, _ in used:
            weights[ref.entry] = max(weights.get(ref.entry, 0.0), ref.weight)
        spans: list[Callable[[int], tuple[int, int]] | None] = [None, None]
        keys = set()
        for ref, occurrences in used:
            text = ref.text
            for field, first, end in occurrences:
                span = spans[field]
                if span is None:
                    span = spans[field] = scan.located(field).span
                keys.add((field, span(first)[0], span(end - 1)[1], text))
        texts = (scan.doc.title, scan.doc.summary)
        ordered = [
            TermHit(term, FIELDS[field], start, stop, texts[field][start:stop])  # type: ignore[arg-type]
            for field, start, stop, term in sorted(keys)
        ]
        return Match(
            rule_id=rule.id,
            rule_title=rule.title,
            severity=rule.severity,
            tags=rule.tags,
            score=sum(weights.values()),
            hits=tuple(ordered),
        )


def _words_after(chunks: list[str], index: int, skip: int, count: int) -> list[str]:
    """Up to `count` (or a few more) normalized words that follow the first `skip` words
    of chunk `index`: a phrase is checked without building the field's word list."""
    words = list(chunk_words(chunks[index])[skip:])
    index += 1
    end = len(chunks)
    while len(words) < count and index < end:
        words += chunk_words(chunks[index])
        index += 1
    return words


def _rest_matches(words: list[str], start: int, rest: tuple[str, ...], prefix: bool) -> bool:
    if start + len(rest) > len(words):
        return False
    last = len(rest) - 1
    for k, want in enumerate(rest):
        word = words[start + k]
        if word != want and not (prefix and k == last and word.startswith(want)):
            return False
    return True


def _mask_spans(occ: dict[int, list[Occurrence]], masks: frozenset[int]) -> list[Occurrence]:
    return [span for mask in masks.intersection(occ) for span in occ[mask]]


def _drop_masked(occ: dict[int, list[Occurrence]], spans: list[Occurrence]) -> None:
    """Drop every occurrence lying inside one of the mask `spans` (in place)."""
    if not spans:
        return
    for entry in list(occ):
        kept = [
            o
            for o in occ[entry]
            if not any(f == o[0] and s <= o[1] and o[2] <= e for f, s, e in spans)
        ]
        if kept:
            occ[entry] = kept
        else:
            del occ[entry]


def _view_of(occ: dict[int, list[Occurrence]]) -> _View:
    if not occ:
        return _EMPTY_VIEW
    title: set[int] = set()
    summary: set[int] = set()
    for entry, occurrences in occ.items():
        for occurrence in occurrences:
            (summary if occurrence[0] else title).add(entry)
    return (_NOTHING, title, summary, occ)


def _in_scope(compiled: _CompiledRule, doc: Document) -> bool:
    if compiled.lang:
        lang = (doc.lang or "").split("-")[0].split("_")[0].lower()
        if lang not in compiled.lang:
            return False
    if compiled.feeds and doc.feed not in compiled.feeds:
        return False
    return not (compiled.feed_tags and compiled.feed_tags.isdisjoint(doc.feed_tags))


def _entries_of(node: _Node) -> Iterator[int]:
    if isinstance(node, _Term):
        yield node.ref.entry
    elif isinstance(node, _Terms):
        yield from (r.entry for r in node.refs)
    elif isinstance(node, _Bool):
        for child in node.children:
            yield from _entries_of(child)
    elif isinstance(node, _Near):
        yield from (r.entry for terms in node.items for r in terms.refs)
    elif isinstance(node, _Score):
        yield from (r.entry for r in node.terms.refs)
    else:
        yield from _entries_of(node.child)


def _in_fields(occurrences: list[Occurrence], fields: int) -> list[Occurrence]:
    if fields == _ALL_FIELDS:
        return occurrences
    return [o for o in occurrences if fields >> o[0] & 1]


def _compile_collect(node: _Node, fields: int) -> _Collect:
    """`node` as a closure over occurrences, `fields` applied: whether it holds, and the
    (term use, occurrences) of its positive part, in the order of the condition."""
    if isinstance(node, _Scope):
        return _compile_collect(node.child, fields & node.fields)
    if isinstance(node, _Terms):
        return _collect_terms(node, fields)
    if isinstance(node, _Term):
        return _collect_term(node.ref, fields)
    if isinstance(node, _Bool):
        if node.op == "none":
            return _collect_none(tuple(_compile_holds(c, fields) for c in node.children))
        children = tuple(_compile_collect(c, fields) for c in node.children)
        return _collect_all(children) if node.op == "all" else _collect_any(children)
    if isinstance(node, _Score):
        return _collect_score(node, fields)

    def near(occ: dict[int, list[Occurrence]]) -> tuple[bool, _Used]:
        return _evaluate_near(node, occ, fields)

    return near


def _compile_holds(node: _Node, fields: int) -> _Holds:
    """Only whether `node` holds (what `_compile_collect` answers first)."""
    if fields == _ALL_FIELDS and isinstance(node, _Terms | _Term):
        # Every entry of `occ` has at least one occurrence.
        entries = node.entries if isinstance(node, _Terms) else frozenset((node.ref.entry,))
        return lambda occ: not entries.isdisjoint(occ)
    collect = _compile_collect(node, fields)
    return lambda occ: collect(occ)[0]


def _collect_terms(node: _Terms, fields: int) -> _Collect:
    if fields != _ALL_FIELDS:
        return lambda occ: _held(node.used(occ, fields))
    entries, by_entry = node.entries, node.by_entry

    def terms(occ: dict[int, list[Occurrence]]) -> tuple[bool, _Used]:
        used = []
        for entry in entries.intersection(occ):
            found = occ[entry]
            for ref in by_entry[entry]:
                used.append((ref, found))
        return bool(used), used

    return terms


def _held(used: _Used) -> tuple[bool, _Used]:
    return bool(used), used


def _collect_term(ref: _Ref, fields: int) -> _Collect:
    entry = ref.entry

    def term(occ: dict[int, list[Occurrence]]) -> tuple[bool, _Used]:
        found = _in_fields(occ.get(entry, []), fields)
        return (True, [(ref, found)]) if found else (False, [])

    return term


def _collect_none(holds: tuple[_Holds, ...]) -> _Collect:
    def none(occ: dict[int, list[Occurrence]]) -> tuple[bool, _Used]:
        return not any(h(occ) for h in holds), []

    return none


def _collect_all(children: tuple[_Collect, ...]) -> _Collect:
    def all_of(occ: dict[int, list[Occurrence]]) -> tuple[bool, _Used]:
        used: _Used = []
        for child in children:
            ok, child_used = child(occ)
            if not ok:
                return False, []
            used.extend(child_used)
        return True, used

    return all_of


def _collect_any(children: tuple[_Collect, ...]) -> _Collect:
    def any_of(occ: dict[int, list[Occurrence]]) -> tuple[bool, _Used]:
        used: _Used = []
        held = False
        for child in children:
            ok, child_used = child(occ)
            if ok:
                held = True
                used.extend(child_used)
        return held, used

    return any_of


def _collect_score(node: _Score, fields: int) -> _Collect:
    collect = _collect_terms(node.terms, fields)
    minimum = node.min_score

    def score(occ: dict[int, list[Occurrence]]) -> tuple[bool, _Used]:
        used = collect(occ)[1]
        weights: dict[int, float] = {}
        for ref, _ in used:
            weights[ref.entry] = max(weights.get(ref.entry, 0.0), ref.weight)
        return (sum(weights.values()) >= minimum and bool(used)), used

    return score


def _evaluate_near(
    node: _Near, occ: dict[int, list[Occurrence]], fields: int
) -> tuple[bool, list[tuple[_Ref, list[Occurrence]]]]:
    """True if one occurrence of each item lies within `within` words of the others.

    The distance is the number of words between the end of the earliest-ending and the
    start of the latest-starting of the chosen occurrences, in one field.
    """
    per_item: list[list[tuple[_Ref, Occurrence]]] = []
    for terms in node.items:
        found = [(ref, o) for ref, occurrences in terms.used(occ, fields) for o in occurrences]
        if not found:
            return False, []
        per_item.append(found)
    best: dict[tuple[_Ref, Occurrence], None] = {}
    for field in {o[0] for _, o in per_item[0]}:
        lists = [[(r, o) for r, o in item if o[0] == field] for item in per_item]
        for combo in _near_combos(lists, _second, node.within):
            best.update(dict.fromkeys(combo))
    if not best:
        return False, []
    grouped: dict[_Ref, list[Occurrence]] = {}
    for ref, o in best:
        grouped.setdefault(ref, []).append(o)
    return True, list(grouped.items())


def _second(pair: tuple[_Ref, Occurrence]) -> Occurrence:
    return pair[1]


def _same(occurrence: Occurrence) -> Occurrence:
    return occurrence


def _near_combos(
    lists: Sequence[Sequence[_T]], key: Callable[[_T], Occurrence], within: int
) -> Iterator[tuple[_T, ...]]:
    """The choices of one element per list whose occurrences (all in one field) lie within
    `within` words. Exhaustive for two lists; with more, each list is cut to its first
    _MAX_NEAR_CANDIDATES elements to bound the product."""
    if len(lists) == 2:
        yield from _near_pairs(lists[0], lists[1], key, within)
        return
    if len(lists) > 2:
        lists = [items[:_MAX_NEAR_CANDIDATES] for items in lists]
    for combo in itertools.product(*lists):
        occurrences = [key(c) for c in combo]
        if max(o[1] for o in occurrences) - min(o[2] for o in occurrences) <= within:
            yield combo


def _near_pairs(
    first: Sequence[_T], second: Sequence[_T], key: Callable[[_T], Occurrence], within: int
) -> Iterator[tuple[_T, _T]]:
    """`_near_combos` of two lists, in the same order, without building each combination."""
    for a in first:
        _, a_start, a_end = key(a)
        for b in second:
            _, b_start, b_end = key(b)
            if max(a_start, b_start) - min(a_end, b_end) <= within:
                yield a, b


# -- compiled tests: the same truth as _compile_collect, over sets of entry ids, no hit lists -----
def _compile_test(node: _Node, fields: int) -> _Test:
    if isinstance(node, _Scope):
        return _compile_test(node.child, fields & node.fields)
    if isinstance(node, _Term):
        entry = node.ref.entry
        return lambda view: entry in view[fields]
    if isinstance(node, _Terms):
        entries = frozenset(node.by_entry)
        return lambda view: not entries.isdisjoint(view[fields])
    if isinstance(node, _Bool):
        # Cheap set tests first: the order of the children does not change the truth.
        children = sorted(node.children, key=lambda c: isinstance(c, _Near | _Score | _Bool))
        tests = tuple(_compile_test(c, fields) for c in children)
        if node.op == "all":
            return _all_of(tests)
        either = _any_of(tests)
        return either if node.op == "any" else lambda view: not either(view)
    if isinstance(node, _Score):
        weights: dict[int, float] = {}
        for ref in node.terms.refs:
            weights[ref.entry] = max(weights.get(ref.entry, 0.0), ref.weight)
        scored = frozenset(weights)
        minimum = node.min_score

        def score(view: _View) -> bool:
            found = scored.intersection(view[fields])
            return bool(found) and sum(map(weights.__getitem__, found)) >= minimum

        return score
    return _compile_near(node, fields)


def _any_of(tests: tuple[_Test, ...]) -> _Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda view: first(view) or second(view)
    return lambda view: any(test(view) for test in tests)


def _all_of(tests: tuple[_Test, ...]) -> _Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda view: first(view) and second(view)
    return lambda view: all(test(view) for test in tests)


def _compile_near(node: _Near, fields: int) -> _Test:
    items = tuple(frozenset(terms.by_entry) for terms in node.items)
    field_ids = [f for f in range(len(FIELDS)) if fields >> f & 1]
    within = node.within

    def near(view: _View) -> bool:
        present = view[fields]
        found = []
        for entries in items:
            hit = entries.intersection(present)
            if not hit:
                return False
            found.append(hit)
        occ = view[3]
        for field in field_ids:
            lists = [[o for e in hit for o in occ[e] if o[0] == field] for hit in found]
            if all(lists) and next(_near_combos(lists, _same, within), None) is not None:
                return True
        return False

    return near


def _lacks_one(
    requires: tuple[frozenset[int], ...], occurring: dict[int, list[Occurrence]]
) -> bool:
    """Some set of `requires` has no entry in `occurring`."""
    return any(map(frozenset.isdisjoint, requires, repeat(occurring)))


def _lacks_hinted(
    requires: tuple[tuple[frozenset[int], tuple[int, ...]], ...],
    occurring: dict[int, list[Occurrence]],
    hints: list[int],
) -> bool:
    """Some (word entries, regex hint needs) of `requires` has neither a word entry in
    `occurring` nor a regex whose hints one field holds."""
    title, summary = hints
    return any(
        words.isdisjoint(occurring)
        and not any(need & title == need or need & summary == need for need in needs)
        for words, needs in requires
    )


_MAX_UNIONS = 4  # necessary sets an `any` offers: its rule checks each before evaluating


def _trigger(options: list[frozenset[int]], avoid: frozenset[int]) -> frozenset[int] | None:
    """Of a node's necessary sets (`_necessary`), the one that wakes its rule up (None: no
    such set), preferring sets without the entries to `avoid` (regexes without hints), then
    small sets."""
    if not options:
        return None
    return min(options, key=lambda s: (not s.isdisjoint(avoid), len(s)))


def _necessary(node: _Node, avoid: frozenset[int]) -> list[frozenset[int]]:
    """Sets of entries such that `node` holds only if each set has an entry that occurs."""
    if isinstance(node, _Term):
        return [frozenset((node.ref.entry,))]
    if isinstance(node, _Terms):
        return [frozenset(node.by_entry)]
    if isinstance(node, _Score):
        return [frozenset(node.terms.by_entry)]  # min_score also needs one matched term
    if isinstance(node, _Near):
        return [frozenset(terms.by_entry) for terms in node.items]
    if isinstance(node, _Scope):
        return _necessary(node.child, avoid)
    if node.op == "none":
        return []
    per_child = [_necessary(child, avoid) for child in node.children]
    if node.op == "all":
        return [s for sets in per_child for s in sets]
    if not all(per_child):
        return []
    # Several unions of one set per child. A child with several sets (`all: [@mali, @fuel,
    # @fuel_crisis]`) puts a different one in each union, and each union takes the set of
    # the next child that shares the most entries with what it holds and the fewest with
    # the other unions: the place sides of the branches end up together, the event sides
    # together, and a rule whose branches all name a place and an event is evaluated only
    # where both occur (the trigger is one union, the rule's `requires` the others).
    ranked = [sorted(sets, key=lambda s: (not s.isdisjoint(avoid), len(s))) for sets in per_child]
    unions: list[frozenset[int]] = [frozenset()] * min(max(map(len, ranked)), _MAX_UNIONS)
    for sets in ranked:
        for k, union in enumerate(unions):
            others = frozenset().union(*unions[:k], *unions[k + 1 :])
            default = sets[min(k, len(sets) - 1)]
            best = max(sets, key=lambda s: (len(s & union) - len(s & others), s is default))
            unions[k] = union | best
    return list(dict.fromkeys(unions))


# -- regex literals: a necessary condition checked per distinct word ------------------------
_Literals = frozenset[str]
_MAX_LITERAL_SETS = 2  # per regex: the most selective set, and one more if it is selective


def _regex_literals(pattern: str) -> list[_Literals]:
    """Sets of space-free literals such that, wherever `pattern` matches in words joined
    by single spaces, one literal of each set lies inside one of those words.

    `re` cannot skip ahead on a pattern that starts with `\\b` or a class: it tries every
    position of the text. A word-level hint, found once per distinct word by the chunk
    memo, lets a field without the literals skip the search. Empty: nothing is known (the
    regex always runs); case-insensitive patterns are not analysed."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return []
    if parsed.state.flags & re.IGNORECASE:
        return []
    ranked = sorted(set(_factors(list(parsed))), key=lambda f: (_selectivity(f), sorted(f)))[::-1]
    kept = ranked[:1] + [f for f in ranked[1:_MAX_LITERAL_SETS] if min(map(len, f)) >= 4]
    return kept


def _selectivity(literals: _Literals) -> tuple[int, int]:
    return min(map(len, literals)), -len(literals)


def _factors(items: list[tuple[object, object]]) -> list[_Literals]:
    """Literal sets each of which a match of this sequence of `re` parser items contains."""
    factors: list[_Literals] = []
    run: list[str] = []

    def flush() -> None:
        factors.extend(frozenset((piece,)) for piece in "".join(run).split(" ") if piece)
        run.clear()

    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av))  # type: ignore[arg-type]
            continue
        flush()
        if op is sre.SUBPATTERN:
            _, add_flags, _, sub = av  # type: ignore[misc]
            if not add_flags & re.IGNORECASE:
                factors += _factors(list(sub))
        elif op is sre.ATOMIC_GROUP:
            factors += _factors(list(av))  # type: ignore[call-overload]
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, _, sub = av  # type: ignore[misc]
            if low >= 1:
                factors += _factors(list(sub))
        elif op is sre.BRANCH:
            union = _branch_literals([_factors(list(alt)) for alt in av[1]])  # type: ignore[index]
            if union:
                factors.append(union)
        # Anything else (classes, anchors, lookarounds, back-references) adds nothing.
    flush()
    return factors


def _branch_literals(alternatives: list[list[_Literals]]) -> _Literals | None:
    """One set covering every alternative (None if one alternative has no literal)."""
    if not all(alternatives):
        return None
    union: set[str] = set()
    for factors in sorted(alternatives, key=len):
        covered = any(all(any(u in lit for u in union) for lit in f) for f in factors)
        if not covered:
            union.update(max(factors, key=_selectivity))
    # A literal containing another of the set is implied by it.
    return frozenset(a for a in union if not any(b != a and b in a for b in union))
