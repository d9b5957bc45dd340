"""Measure a compiled rule set against labelled items: per-tag precision, recall and F1.

Pure: the caller reads the corpus and hands in the records and the matcher. A record is a
mapping with `title`, `text` and `labels` (the tags it should raise), and optionally `lang`,
`id`, `feed`. An item's predicted tags are the union of the tags of every rule that fired.

Undefined ratios are reported as 0.0, never NaN: precision is 0.0 when nothing was
predicted for a tag (tp + fp = 0), recall is 0.0 when no item carries the tag (tp + fn = 0),
F1 is 0.0 when precision + recall = 0. The counts always travel with the ratios, so a reader
can tell "0.0 because nothing to find" from "0.0 because everything was missed".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.domain import Document, Match

__all__ = [
    "EvalReport",
    "Miss",
    "TagScore",
    "evaluate",
    "format_report",
]

_RATIO_DIGITS = 4
_TITLE_CHARS = 120
# C0/C1 control characters (terminal escapes) are dropped from titles before printing.
_CONTROL = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)], " ")


class _Matcher(Protocol):
    def match(self, doc: Document) -> list[Match]: ...


@dataclass(frozen=True, slots=True)
class Miss:
    """One wrongly tagged item: a false positive or a false negative for one tag."""

    id: str
    title: str
    rules: tuple[str, ...]  # ids of every rule that fired on the item (any tag)


@dataclass(slots=True)
class TagScore:
    tag: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_positives: list[Miss] = field(default_factory=list)
    false_negatives: list[Miss] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class EvalReport:
    scores: Mapping[str, TagScore]  # by tag, sorted by tag name
    items: int  # records evaluated

    def to_json(self) -> dict[str, dict[str, float | int]]:
        """`{tag: {precision, recall, f1, tp, fp, fn}}`, ratios rounded to 4 digits."""
        return {
            tag: {
                "precision": round(s.precision, _RATIO_DIGITS),
                "recall": round(s.recall, _RATIO_DIGITS),
                "f1": round(s.f1, _RATIO_DIGITS),
                "tp": s.tp,
                "fp": s.fp,
                "fn": s.fn,
            }
            for tag, s in self.scores.items()
        }


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def _names(record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list of names (`labels`, `feed_tags`), a single string taken as a list of one."""
    value = record.get(key) or ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _labels(record: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(_names(record, "labels"))


def evaluate(
    matcher: _Matcher, records: Iterable[Mapping[str, Any]], *, tags: Iterable[str] = ()
) -> EvalReport:
    """Run `matcher` over `records` and count, per tag, hits and misses.

    The tags reported are `tags` (pass the rule set's tags so a tag no item carries and no
    rule raised still shows up) plus every tag seen in the labels or the predictions.
    """
    scores: dict[str, TagScore] = {tag: TagScore(tag) for tag in tags}
    count = 0
    for index, record in enumerate(records):
        count += 1
        title = _text(record, "title")
        doc = Document(
            title=title,
            summary=_text(record, "text"),
            lang=record.get("lang") or None,
            feed=record.get("feed") or None,
            feed_tags=_names(record, "feed_tags"),  # for rules scoped by feed tag
        )
        matches = matcher.match(doc)
        predicted = {tag for m in matches for tag in m.tags}
        gold = _labels(record)
        fired: tuple[str, ...] = ()
        for tag in predicted | gold:
            score = scores.get(tag)
            if score is None:
                score = scores[tag] = TagScore(tag)
            if tag in predicted and tag in gold:
                score.tp += 1
                continue
            fired = fired or tuple(dict.fromkeys(m.rule_id for m in matches))
            miss = Miss(str(record.get("id", index)), title, fired)
            if tag in predicted:
                score.fp += 1
                score.false_positives.append(miss)
            else:
                score.fn += 1
                score.false_negatives.append(miss)
    return EvalReport({tag: scores[tag] for tag in sorted(scores)}, count)


def _clean(title: str) -> str:
    flat = " ".join(title.translate(_CONTROL).split())
    return flat if len(flat) <= _TITLE_CHARS else flat[: _TITLE_CHARS - 1] + "…"


def _miss_lines(kind: str, misses: Sequence[Miss]) -> list[str]:
    lines = [f"  {kind} ({len(misses)}):"] if misses else []
    for miss in misses:
        rules = ", ".join(miss.rules) if miss.rules else "no rule fired"
        lines.append(f"    {_clean(miss.id)}  {_clean(miss.title)}  [{rules}]")
    return lines


def format_report(report: EvalReport, *, details: bool = True) -> str:
    """A table of per-tag scores, then (with `details`) every false positive and negative."""
    lines = [
        f"{report.items} items",
        f"{'tag':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>5} {'fp':>5} {'fn':>5}",
    ]
    for tag, s in report.scores.items():
        lines.append(
            f"{_clean(tag):<12} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}"
            f" {s.tp:>5} {s.fp:>5} {s.fn:>5}"
        )
    if details:
        for tag, s in report.scores.items():
            body = _miss_lines("false positives", s.false_positives)
            body += _miss_lines("false negatives", s.false_negatives)
            if body:
                lines.append("")
                lines.append(f"{_clean(tag)}:")
                lines.extend(body)
    return "\n".join(lines)
