"""Regex terms: the word-level literal hints that let a field skip a regex search.

A regex runs in a field only if, for each of its literal sets, one literal lies inside a
word of that field. These tests check that the sets are necessary (a match always carries
them) and that the Matcher with hints gives what the brute-force reference gives."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain import Document
from monitor.match import Matcher, _regex_literals
from monitor.rules import parse_rule_text
from tests.monitor.test_match_differential import Reference

CASUALTIES = r"\b([2-9][0-9]|[1-9][0-9]{2,}) (morts|tues|victimes|civils tues|soldats tues|dead)\b"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (CASUALTIES, [{"morts", "tues", "victimes", "dead"}]),
        (
            r"\b(dizaines|centaines) de (morts|tues)\b",
            [{"dizaines", "centaines"}, {"morts", "tues"}],
        ),
        ("wag+ner", [{"ner"}]),
        ("coupe d[a-z]+ monde", [{"monde"}, {"coupe"}]),
        ("[0-9]+ morts", [{"morts"}]),
        ("x?(foo)+bar{0}", [{"foo"}]),
        ("(?:tue|tues|tuees)", [{"tue"}]),  # a literal holding another is implied by it
        ("(?i)morts", []),  # case-insensitive: not analysed
        ("(?i:abc)de", [{"de"}]),
        ("a(b|c*)d", [{"d"}]),  # the branch with c* has no literal
        (r"\d+", []),
        ("(?=morts)m", [{"m"}]),  # lookarounds add nothing
        ("(a|b)", []),  # a class after parsing
        ("(mort|x*)s", [{"s"}]),
    ],
)
def test_literal_sets(pattern: str, expected: list[set[str]]) -> None:
    assert [set(s) for s in _regex_literals(pattern)] == expected


PATTERNS = (
    CASUALTIES,
    r"\b(dizaines|centaines) de (morts|tues)\b",
    "wag+ner",
    "coupe d[a-z]+ monde",
    "(mort|x*)s",
    "a(b|c*)d",
    "(?:tue|tues|tuees)s?",
    r"(عشرات|مئات) (القتلي|الجنود)",
    "de (morts|x)",
    "s m",
)
WORDS = (
    "12", "40", "300", "morts", "tues", "tuees", "de", "dizaines", "centaines", "wagner",
    "waggner", "coupe", "du", "monde", "x", "xs", "abd", "acccd", "ad", "s", "m", "ms",
    "sm", "عشرات", "مئات", "القتلي", "الجنود", "dead", "civils", "mort", "mortes",
)  # fmt: skip


@given(st.lists(st.sampled_from(WORDS), max_size=12), st.sampled_from(PATTERNS))
def test_a_match_carries_a_literal_of_each_set(words: list[str], pattern: str) -> None:
    text = " ".join(words)
    if any(m.end() > m.start() for m in re.finditer(pattern, text)):
        for literals in _regex_literals(pattern):
            assert any(lit in word for lit in literals for word in words)


RULES = r"""
vocabularies:
  casualties: {terms: ["/\\b([2-9][0-9]|[1-9][0-9]{2,}) (morts|tues|civils tues|dead)\\b/",
                       "/(عشرات|ميات) (القتلي|الجنود)/", "/wag+ner/", "/(?i)COUPE/"]}
  odd: {terms: ["/a(b|c*)d/", "/(mort|x*)s/", "/de (morts|x)/", "/s m/"]}
  mali: {proper: true, terms: [Mali, مالي, Gao]}
masks: ["/coupe d[a-z]+ monde/"]
rules:
  - {id: a, title: A, match: {all: ["@mali", "@casualties"]}}
  - {id: b, title: B, match: {near: ["@mali", "@odd"], within: 3}}
  - {id: c, title: C, match: "/\\b(dizaines|centaines) de (morts|tues)\\b/",
     masks: ["/[0-9]+ dead/"]}
  - {id: d, title: D, match: {any: ["@odd"], fields: [summary]}}
"""
SURFACE = (
    "12", "40", "300", "morts", "tués", "Tues", "de", "dizaines", "centaines", "Wagner",
    "waggner", "coupe", "du", "monde", "x", "xs", "abd", "acccd", "ad", "s", "m", "mort-s",
    "عشرات", "مئات", "القتلى", "الجنود", "dead", "civils", "mort", "Mali", "مالي", "Gao",
    "COUPE", "l'ad", "«", "-", "40-morts", "½",
)  # fmt: skip


def _documents(count: int, seed: int) -> list[Document]:
    rng = random.Random(seed)

    def text() -> str:
        words = [rng.choice(SURFACE) for _ in range(rng.randint(0, 12))]
        return rng.choice((" ", "  ", ", ")).join(words)

    return [Document(title=text(), summary=text(), lang="fr", feed="f") for _ in range(count)]


def test_matcher_with_hints_agrees_with_the_reference() -> None:
    ruleset = parse_rule_text(RULES, "regex.yaml")
    reference = Reference(ruleset)
    separate, together = Matcher.compile(ruleset), Matcher.compile(ruleset)
    fired: set[str] = set()
    for doc in _documents(1500, seed=3):
        matches, vocabularies = reference.run(doc)
        assert separate.match(doc) == matches, doc
        assert separate.vocabulary_hits(doc) == vocabularies, doc
        assert together.match_with_vocabularies(doc) == (matches, vocabularies), doc
        fired.update(m.rule_id for m in matches)
    assert fired == {"a", "b", "c", "d"}


def test_a_field_without_the_literals_is_not_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    pattern = CASUALTIES.replace("\\", "\\\\")
    rules = f"""
vocabularies:
  casualties: {{terms: ["/{pattern}/"]}}
rules:
  - {{id: a, title: A, match: {{all: [Mali, "@casualties"]}}}}
"""
    matcher = Matcher.compile(parse_rule_text(rules, "regex.yaml"))
    searched: list[tuple[int, list[str]]] = []
    original = Matcher._regex_occurrences

    def spy(field: int, words: list[str], occ: dict, regexes: list) -> None:  # type: ignore[type-arg]
        searched.append((field, words))
        original(field, words, occ, regexes)

    monkeypatch.setattr(Matcher, "_regex_occurrences", staticmethod(spy))
    doc = Document(title="Mali: 40 blessés", summary="Mali : 40 morts à Gao", lang="fr", feed="f")
    assert [m.rule_id for m in matcher.match(doc)] == ["a"]
    assert searched == [(1, ["mali", "40", "morts", "a", "gao"])]  # not the title
    searched.clear()
    assert matcher.match(Document(title="Mali", summary="40 blessés", lang="fr", feed="f")) == []
    assert searched == []


def test_a_rule_is_woken_by_the_literals_of_its_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule whose smallest necessary term set holds a regex is triggered by the regex's
    literals: not by its other terms, and with no regex search in every document."""
    pattern = CASUALTIES.replace("\\", "\\\\")
    rules = f"""
vocabularies:
  casualties: {{terms: ["/{pattern}/"]}}
  places: {{terms: [Gao, Kidal, Mopti, Bamako]}}
rules:
  - {{id: toll, title: T, match: {{all: ["@places", "@casualties"]}}}}
  - {{id: any-toll, title: A, match: "@casualties"}}
"""
    matcher = Matcher.compile(parse_rule_text(rules, "regex.yaml"))
    assert not matcher._eager_regex
    searched: list[int] = []
    original = Matcher._regex_occurrences

    def spy(field: int, words: list[str], occ: dict, regexes: list) -> None:  # type: ignore[type-arg]
        searched.append(field)
        original(field, words, occ, regexes)

    monkeypatch.setattr(Matcher, "_regex_occurrences", staticmethod(spy))
    quiet = Document(title="Gao, Kidal et Mopti", summary="40 blessés à Bamako", lang="fr")
    assert matcher.match(quiet) == [] and searched == []
    toll = Document(title="Attaque", summary="40 morts à Gao", lang="fr")
    assert [m.rule_id for m in matcher.match(toll)] == ["toll", "any-toll"]
    assert searched == [1]
    alone = Document(title="Bilan : 40 morts", summary="", lang="fr")
    assert [m.rule_id for m in matcher.match(alone)] == ["any-toll"]
