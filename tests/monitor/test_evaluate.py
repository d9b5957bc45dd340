"""monitor.evaluate: exact counts and ratios on a tiny hand-made corpus and rule set."""

from __future__ import annotations

import time

import pytest

from monitor.domain import Document, Match
from monitor.evaluate import EvalReport, evaluate, format_report
from monitor.match import Matcher
from monitor.rules import parse_rule_text

RULES = """
vocabularies:
  mali:
    proper: true
    terms: [Mali, مالي, Bamako, باماكو]
rules:
  - id: attack
    title: Attack in Mali
    tags: [security]
    match:
      all: ["@mali", {any: [attaque*, هجوم]}]
  - id: fuel
    title: Fuel in Mali
    tags: [fuel]
    match:
      all: ["@mali", {any: [carburant, وقود]}]
  - id: never
    title: A tag no item carries
    tags: [russia]
    match: {all: [Moscou, Mali, "=zzzz"]}
"""

CORPUS = [
    # security: tp, tp, fp (football), fn (no Mali word)
    {"id": "s1", "title": "Attaque près de Bamako", "text": "", "labels": ["security"]},
    {"id": "s2", "title": "هجوم في مالي", "text": "", "labels": ["security"], "lang": "ar"},
    {"id": "s3", "title": "Mali : l'attaque des Aigles brille", "text": "", "labels": []},
    {
        "id": "s4",
        "title": "Embuscade meurtrière",
        "text": "au centre du pays",
        "labels": ["security"],
    },
    # fuel: tp (in text), fn (no Mali word); one item carries two labels
    {"id": "f1", "title": "Bamako", "text": "le carburant manque", "labels": ["fuel"]},
    {"id": "f2", "title": "Pénurie d'essence", "text": "", "labels": ["fuel"]},
    {"title": "Attaque et carburant au Mali", "text": "", "labels": ["security", "fuel"]},
    # a true negative
    {"id": "n1", "title": "Prix du carburant en France", "text": "", "labels": []},
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.compile(parse_rule_text(RULES, "tiny.yaml"))


@pytest.fixture(scope="module")
def report(matcher: Matcher) -> EvalReport:
    return evaluate(matcher, CORPUS, tags=["russia"])


def test_counts_and_ratios_per_tag(report: EvalReport) -> None:
    assert report.items == 8
    assert report.to_json() == {
        "fuel": {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "tp": 2, "fp": 0, "fn": 1},
        "russia": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0},
        "security": {
            "precision": 0.75,
            "recall": 0.75,
            "f1": 0.75,
            "tp": 3,
            "fp": 1,
            "fn": 1,
        },
    }


def test_misses_name_the_item_and_the_rules_that_fired(report: EvalReport) -> None:
    security = report.scores["security"]
    assert [(m.id, m.rules) for m in security.false_positives] == [("s3", ("attack",))]
    assert [(m.id, m.rules) for m in security.false_negatives] == [("s4", ())]
    fuel = report.scores["fuel"]
    assert [(m.id, m.title, m.rules) for m in fuel.false_negatives] == [
        ("f2", "Pénurie d'essence", ())
    ]
    assert fuel.false_positives == []


def test_record_without_id_is_named_by_its_position(matcher: Matcher) -> None:
    records = [{"title": "Mali", "text": "", "labels": ["security"]}]
    assert evaluate(matcher, records).scores["security"].false_negatives[0].id == "0"


def test_tags_come_from_labels_predictions_and_the_caller(matcher: Matcher) -> None:
    only_labels = evaluate(matcher, [{"title": "x", "text": "", "labels": ["other"]}])
    assert list(only_labels.to_json()) == ["other"]
    assert only_labels.to_json()["other"]["fn"] == 1
    predicted = evaluate(matcher, [{"title": "Attaque au Mali", "text": "", "labels": []}])
    assert predicted.to_json()["security"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 1,
        "fn": 0,
    }


def test_an_item_may_name_its_feed_and_feed_tags() -> None:
    scoped = parse_rule_text(
        "rules:\n  - {id: press, title: P, tags: [fuel], feed_tags: [mali], match: carburant}\n",
        "scoped.yaml",
    )
    records = [
        {"id": "a", "title": "Pénurie de carburant", "labels": ["fuel"], "feed_tags": ["mali"]},
        {"id": "b", "title": "Pénurie de carburant", "labels": [], "feed_tags": "world"},
        {"id": "c", "title": "Pénurie de carburant", "labels": []},
    ]
    scores = evaluate(Matcher.compile(scoped), records).to_json()["fuel"]
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 0, 0)


def test_missing_or_odd_fields_are_tolerated(matcher: Matcher) -> None:
    records = [
        {"id": 7, "text": "هجوم في مالي", "labels": "security"},  # no title, labels a string
        {"id": "b", "title": None, "text": None},  # no labels at all
    ]
    report = evaluate(matcher, records)
    assert report.to_json()["security"]["tp"] == 1
    assert report.items == 2


def test_format_report_has_the_table_and_the_misses(report: EvalReport) -> None:
    text = format_report(report)
    lines = text.splitlines()
    assert lines[0] == "8 items"
    assert lines[2].split() == ["fuel", "1.000", "0.667", "0.800", "2", "0", "1"]
    assert lines[4].split() == ["security", "0.750", "0.750", "0.750", "3", "1", "1"]
    assert "s3  Mali : l'attaque des Aigles brille  [attack]" in text
    assert "s4  Embuscade meurtrière  [no rule fired]" in text
    assert "s3" not in format_report(report, details=False)


def test_format_report_strips_terminal_escapes(matcher: Matcher) -> None:
    records = [
        {"id": "x\x1b[2J", "title": "Mali\x1b[31m rouge\x07", "text": "", "labels": ["fuel"]}
    ]
    text = format_report(evaluate(matcher, records))
    assert "\x1b" not in text and "\x07" not in text
    assert "Mali [31m rouge" in text


class _CountingMatcher:
    """A matcher with a fixed answer: measures evaluate's own overhead, not matching."""

    def __init__(self) -> None:
        self.calls = 0
        self._match = Match("r", "R", "high", ("security",), 1.0, ())

    def match(self, doc: Document) -> list[Match]:
        self.calls += 1
        return [self._match] if "Mali" in doc.title else []


def test_twenty_thousand_items_cost_little_beyond_matching() -> None:
    fake = _CountingMatcher()
    records = [
        {"id": str(i), "title": "Mali" if i % 2 else "France", "text": "", "labels": ["security"]}
        for i in range(20_000)
    ]
    started = time.perf_counter()
    report = evaluate(fake, records)
    assert time.perf_counter() - started < 2.0
    assert fake.calls == 20_000
    assert report.to_json()["security"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.6667,
        "tp": 10_000,
        "fp": 0,
        "fn": 10_000,
    }
