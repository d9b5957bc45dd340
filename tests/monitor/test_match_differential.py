"""The Matcher against a slow reference that evaluates every rule on every text.

The reference reads the RuleSet as parsed (no index, no triggers, no compiled tests, no
chunk memos) and takes words and offsets from `normalize_words` and `word_spans` of the
whole text. Texts mix the shipped vocabularies' own terms (with clitics, case, accents and
punctuation), filler words and random Unicode, so that most of them hit something.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from monitor.domain import FIELDS, Document, Match, TermHit
from monitor.match import Matcher
from monitor.normalize import ARABIC_ARTICLE, arabic_forms, normalize_words, word_spans
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
    load_rules,
    parse_rule_text,
)

RULES = Path(__file__).resolve().parents[2] / "rules"
ENTITIES = ("place_", "actor_", "thing_")

# Global, rule-level and regex masks, 3-item near, field scopes, min_score, none-only
# rules, lang/feed/feed_tag scopes, phrases, prefixes, exact and proper terms.
CUSTOM = r"""
vocabularies:
  mali: {proper: true, terms: [Mali, مالي, "=Maliens", "Nord-Mali"]}
  fuel: {terms: [وقود, {term: محروقات, weight: 2}, "carburant*", "pénurie de carburant",
                 "prix du carburant*"]}
  attack: {terms: [attaque, "attaque*", هجوم, "هجوم مسلح", "/\\b[2-9][0-9] (morts|tues|قتيلا)/"]}
  place_gao: {proper: true, terms: [Gao, غاو, "½"]}
  actor_x: {terms: [JNIM, "نصرة الإسلام", "/wag+ner/"]}
  thing_drone: {terms: [drone, مسيرة]}
  sport: {terms: [football, "coupe du monde", مباراة]}
masks: [دعم مالي, "/coupe d[a-z]+ monde/", "Aigles du Mali"]
rules:
  - {id: a, title: A, match: {all: ["@mali", "@fuel"]}}
  - {id: b, title: B, match: {near: ["@mali", "@attack", "@fuel"], within: 6}}
  - {id: c, title: C, match: {near: ["@mali", "@attack"], within: 3},
     masks: ["attaque terroriste"]}
  - {id: d, title: D, match: {min_score: 3, terms: ["@fuel", "@attack", {term: crise, weight: 2}]}}
  - {id: e, title: E, match: {none: ["@sport"]}, lang: [fr]}
  - {id: f, title: F, match: {any: ["@attack"], fields: [title]}, feeds: [feed-3, feed-7]}
  - {id: g, title: G, match: {all: [Mali, {any: ["@attack"], fields: [summary]}],
                              none: ["@sport"]}}
  - {id: h, title: H, match: "/(morts|قتيلا)/", masks: ["/[0-9]+ morts/"]}
  - {id: i, title: I, match: {all: ["@actor_x", {none: [football]}]}, feed_tags: [sahel]}
  - {id: j, title: J, match: {any: ["@place_gao", "@thing_drone", "Gao Kidal"]},
     fields: [summary]}
  - {id: k, title: K, match: {none: ["@mali", "@fuel"]}}
  - {id: l, title: L, match: {near: ["@fuel", "@mali"]}, lang: [ar]}
  # `any` of branches that each need a place and an event, in different shapes: the
  # matcher evaluates such rules only where one term of each side occurs.
  - {id: m, title: M, match: {any: [{all: ["@mali", "@attack"], none: ["@sport"]},
                                     {near: ["@place_gao", "@fuel"], within: 4},
                                     {all: ["@actor_x", {any: ["@thing_drone", "@attack"]}]},
                                     {all: ["@mali", "@fuel", crise]}]}}
  - {id: n, title: N, match: {any: [{near: ["@mali", "@attack"], within: 5},
                                     {any: [{near: ["@place_gao", "@thing_drone"], within: 3},
                                            {all: ["@place_gao", "@fuel"]}]}]}}
"""

# Regex terms searched only in fields holding their literals (hints), next to regexes with
# none (case-insensitive, a literal-free branch) and a regex global mask (eager search).
REGEX = r"""
vocabularies:
  mali: {proper: true, terms: [Mali, مالي, Gao]}
  toll: {terms: ["/\\b([2-9][0-9]|[1-9][0-9]{2,}) (morts|tues|civils tues|قتيلا)\\b/",
                 "/(?i)MORTS/", "/(mort|x*)s/", "/(عشرات|ميات) (القتلي|الجنود)/"]}
  fuel: {terms: [وقود, "carburant*", "pénurie de carburant"]}
masks: ["/coupe d[a-z]+ monde/"]
rules:
  - {id: a, title: A, match: {all: ["@mali", "@toll"]}}
  - {id: b, title: B, match: {near: ["@fuel", "@toll"], within: 5}}
  - {id: c, title: C, match: "/\\b[0-9]+ (tues|قتيلا)/", masks: ["/[0-9]+ morts/"]}
  - {id: d, title: D, match: {any: ["/wag+ner/", "@fuel"], fields: [summary]}}
"""

FILLER_TEXT = (
    "le la les de du des et à au en un une dans pour sur par avec selon a été "
    "في من على إلى عن مع بعد قبل هذا التي الذي قال وقال حيث كما ثم "
    "gouvernement armée région nord ville jour samedi حكومة الجيش منطقة شمال مدينة يوم"
)
FILLER = tuple(FILLER_TEXT.split())
CLITICS = ("", "", "", "و", "ب", "ل", "ف", "ال", "وال", "بال", "لل", "وب")
SEPARATORS = (" ", " ", " ", ", ", " - ", "، ", ". ", " « ", "\u00a0", "  ", "\n", " (")
ODD = "½ﷺ٣ـً'’-،.«»\u200f\tÉÈÇœ0123456789"


# -- the reference ---------------------------------------------------------------------
Occ = tuple[int, int, int]  # (field, first word, end word)
Used = list[tuple[Term, list[Occ]]]


class Reference:
    """Brute force: every term searched in every field, every rule evaluated."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset

    def run(self, doc: Document) -> tuple[list[Match], dict[str, set[str]]]:
        texts = (doc.title, doc.summary)
        words = [normalize_words(t) for t in texts]
        occ = self._masked(words, self.ruleset.masks, _Found(words))
        vocabularies: dict[str, set[str]] = {}
        for name, vocab in self.ruleset.vocabularies.items():
            for term in vocab.terms:
                if occ(term):
                    vocabularies.setdefault(name, set()).add(term.text)
        matches = []
        for rule in self.ruleset.rules:
            if rule.enabled and _in_scope(rule, doc):
                rule_occ = self._masked(words, rule.masks, occ)
                ok, used = self._eval(rule.match, rule_occ, frozenset(rule.fields))
                if ok:
                    matches.append(_report(rule, texts, used))
        return matches, vocabularies

    @staticmethod
    def _masked(words: list[list[str]], masks: tuple[Term, ...], occ: _Found) -> _Found:
        spans = [o for mask in masks for o in occ(mask)]
        return _Found(words, occ, spans)

    def _terms(self, item: Condition) -> tuple[Term, ...]:
        if isinstance(item, VocabNode):
            return self.ruleset.vocabularies[item.name].terms
        assert isinstance(item, TermNode)
        return (item.term,)

    def _eval(self, node: Condition, occ: _Found, fields: frozenset[str]) -> tuple[bool, Used]:
        if isinstance(node, TermNode | VocabNode):
            used = [(t, found) for t in self._terms(node) if (found := occ(t, fields))]
            return bool(used), used
        if isinstance(node, ScopeNode):
            return self._eval(node.child, occ, fields & frozenset(node.fields))
        if isinstance(node, NoneNode):
            return not any(self._eval(c, occ, fields)[0] for c in node.children), []
        if isinstance(node, AnyNode | AllNode):
            results = [self._eval(c, occ, fields) for c in node.children]
            held = [ok for ok, _ in results]
            ok = all(held) if isinstance(node, AllNode) else any(held)
            return ok, [u for good, used in results if good for u in used] if ok else []
        if isinstance(node, ScoreNode):
            used = [(t, f) for i in node.items for t in self._terms(i) if (f := occ(t, fields))]
            weights: dict[tuple[object, ...], float] = {}
            for term, _ in used:
                weights[term.key] = max(weights.get(term.key, 0.0), term.weight)
            return bool(used) and sum(weights.values()) >= node.min_score, used
        assert isinstance(node, NearNode)
        return self._near(node, occ, fields)

    def _near(self, node: NearNode, occ: _Found, fields: frozenset[str]) -> tuple[bool, Used]:
        per_item = [[(t, o) for t in self._terms(i) for o in occ(t, fields)] for i in node.items]
        taking_part: dict[Term, set[Occ]] = {}
        for field in range(len(FIELDS)):
            lists = [[(t, o) for t, o in item if o[0] == field] for item in per_item]
            for combo in _product(lists):
                spans = [o for _, o in combo]
                if max(o[1] for o in spans) - min(o[2] for o in spans) <= node.within:
                    for term, o in combo:
                        taking_part.setdefault(term, set()).add(o)
        return bool(taking_part), [(t, sorted(o)) for t, o in taking_part.items()]


class _Found:
    """Occurrences of a term (memoised by its key), minus those inside mask spans."""

    def __init__(
        self, words: list[list[str]], base: _Found | None = None, spans: list[Occ] | None = None
    ) -> None:
        self.words = words
        self.base = base
        self.spans = spans or []
        self.memo: dict[tuple[object, ...], list[Occ]] = {}

    def __call__(self, term: Term, fields: frozenset[str] = frozenset(FIELDS)) -> list[Occ]:
        if term.key not in self.memo:
            found = self.base(term) if self.base else _occurrences(term, self.words)
            self.memo[term.key] = [
                o
                for o in found
                if not any(f == o[0] and s <= o[1] and o[2] <= e for f, s, e in self.spans)
            ]
        return [o for o in self.memo[term.key] if FIELDS[o[0]] in fields]


def _occurrences(term: Term, words: list[list[str]]) -> list[Occ]:
    found = []
    for field, field_words in enumerate(words):
        if term.regex is not None:
            found += _regex_occurrences(term.regex, field, field_words)
            continue
        for i in _starts(term, _readings(tuple(field_words))):
            if _rest_follows(term, field_words[i + 1 :]):
                found.append((field, i, i + len(term.words)))
    return found


@cache
def _readings(words: tuple[str, ...]) -> dict[str, list[tuple[int, bool, bool]]]:
    """Stem → (word index, has proclitic, has article) of each reading of each word."""
    readings: dict[str, list[tuple[int, bool, bool]]] = {}
    for i, word in enumerate(words):
        for stem, proclitic, article in arabic_forms(word):
            readings.setdefault(stem, []).append((i, proclitic, article))
    return readings


def _starts(term: Term, readings: dict[str, list[tuple[int, bool, bool]]]) -> list[int]:
    """Indices of the words that can be the term's first word, with the clitics it allows."""
    first = term.words[0]
    bare = first[len(ARABIC_ARTICLE) :]
    with_article = first.startswith(ARABIC_ARTICLE) and len(bare) >= 2
    want = bare if with_article and not term.exact else first
    if term.prefix and len(term.words) == 1:
        stems = [s for s in readings if s.startswith(want)]
    else:
        stems = [want]
    found = set()
    for stem in stems:
        for i, proclitic, article in readings.get(stem, ()):
            if term.exact:
                allowed = not (proclitic or article)
            elif term.proper:
                allowed = article if with_article else not article
            else:
                allowed = True
            if allowed:
                found.add(i)
    return sorted(found)


def _rest_follows(term: Term, following: list[str]) -> bool:
    rest = term.words[1:]
    if len(following) < len(rest):
        return False
    for k, want in enumerate(rest):
        last_prefix = term.prefix and k == len(rest) - 1
        if following[k] != want and not (last_prefix and following[k].startswith(want)):
            return False
    return True


def _regex_occurrences(pattern: str, field: int, words: list[str]) -> Iterator[Occ]:
    text = " ".join(words)
    owner = [i for i, w in enumerate(words) for _ in range(len(w) + 1)]  # char → word
    for found in re.finditer(pattern, text):
        start, end = found.span()
        if start == end:
            continue
        first = owner[start] + (text[start] == " ")
        last = owner[end - 1]
        if first <= last:
            yield field, first, last + 1


def _product(lists: list[list[tuple[Term, Occ]]]) -> Iterator[list[tuple[Term, Occ]]]:
    if not lists:
        yield []
        return
    for head in lists[0]:
        for tail in _product(lists[1:]):
            yield [head, *tail]


def _in_scope(rule: Rule, doc: Document) -> bool:
    lang = (doc.lang or "").split("-")[0].split("_")[0].lower()
    return (
        (not rule.lang or lang in rule.lang)
        and (not rule.feeds or doc.feed in rule.feeds)
        and (not rule.feed_tags or bool(set(rule.feed_tags) & set(doc.feed_tags)))
    )


def _report(rule: Rule, texts: tuple[str, str], used: Used) -> Match:
    spans = [word_spans(text) for text in texts]
    weights: dict[tuple[object, ...], float] = {}
    keys = set()
    for term, occurrences in used:
        weights[term.key] = max(weights.get(term.key, 0.0), term.weight)
        for field, first, end in occurrences:
            keys.add((field, spans[field][first][0], spans[field][end - 1][1], term.text))
    hits = tuple(
        TermHit(text, FIELDS[field], start, stop, texts[field][start:stop])  # type: ignore[arg-type]
        for field, start, stop, text in sorted(keys)
    )
    return Match(rule.id, rule.title, rule.severity, rule.tags, sum(weights.values()), hits)


# -- texts -----------------------------------------------------------------------------
@cache
def _surface_terms() -> tuple[str, ...]:
    """Every word or phrase term of the rule sets as written (the bait of the texts)."""
    written = set()
    for ruleset in (load_rules([RULES]), parse_rule_text(CUSTOM, "custom.yaml")):
        terms = [t for v in ruleset.vocabularies.values() for t in v.terms] + list(ruleset.masks)
        written.update(t.text.lstrip("=").rstrip("*") for t in terms if t.regex is None)
    return tuple(sorted(written))


def _word(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        term = rng.choice(_surface_terms())
        term = rng.choice(CLITICS) + term if "\u0600" <= term[:1] <= "\u06ff" else term
        return rng.choice((term, term.upper(), term.lower(), term + rng.choice(("s", "ات", ""))))
    if roll < 0.45:
        return str(rng.randint(2, 400)) + rng.choice((" morts", " قتيلا", " tués", ""))
    if roll < 0.5:
        return "".join(rng.choice(ODD) for _ in range(rng.randint(1, 4)))
    if roll < 0.53:
        return "".join(chr(rng.randint(0x21, 0x2FFF)) for _ in range(rng.randint(1, 6)))
    return rng.choice(FILLER)


def _text(rng: random.Random, words: int) -> str:
    out = ""
    for _ in range(words):
        out += _word(rng) + rng.choice(SEPARATORS)
    return out if rng.random() < 0.8 else out.strip()


def documents(count: int, seed: int) -> list[Document]:
    rng = random.Random(seed)
    return [
        Document(
            title=_text(rng, rng.randint(0, 14)),
            summary=_text(rng, rng.randint(0, 50)),
            lang=rng.choice(("fr", "ar", None, "fr-FR", "AR_ma")),
            feed=f"feed-{rng.randint(1, 9)}",
            feed_tags=rng.choice(((), ("sahel",), ("world", "sahel"))),
        )
        for _ in range(count)
    ]


# -- tests -----------------------------------------------------------------------------
RULESETS = {
    "custom": (lambda: parse_rule_text(CUSTOM, "custom.yaml"), 600),
    "shipped": (lambda: load_rules([RULES]), 250),
    "regex": (lambda: parse_rule_text(REGEX, "regex.yaml"), 400),
}


@pytest.mark.parametrize("name", sorted(RULESETS))
def test_matcher_agrees_with_the_reference(name: str) -> None:
    load, count = RULESETS[name]
    ruleset = load()
    reference = Reference(ruleset)
    separate, together, entities = (Matcher.compile(ruleset) for _ in range(3))
    docs = documents(count, seed=len(name))
    fired: set[str] = set()
    matched = 0
    for doc in docs:
        matches, vocabularies = reference.run(doc)
        assert separate.match(doc) == matches, doc
        assert separate.vocabulary_hits(doc) == vocabularies, doc
        assert together.match_with_vocabularies(doc) == (matches, vocabularies), doc
        wanted = {n: t for n, t in vocabularies.items() if n.startswith(ENTITIES)}
        assert entities.match_with_vocabularies(doc, prefixes=ENTITIES) == (matches, wanted)
        fired.update(m.rule_id for m in matches)
        matched += bool(matches)
    # The texts are not trivial: many fire a rule, and nearly every rule fires somewhere.
    assert matched > len(docs) / 4
    assert len(fired) >= len(ruleset.rules) - 2
