"""Measure StoryIndex on the labelled pairs in tests/fixtures/stories/pairs.jsonl.

Entities are found the way the pipeline hands them in: names of vocabularies (rule-file
language, parsed by monitor.rules) whose terms hit the item. The term lookup here is a small
stand-in for the matcher (words in order, Arabic proclitics and article allowed, `prefix*`).

    .venv/bin/python -m tests.monitor.story_eval    # prints the table in bench/results/dedup.md
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.dedup import StoryIndex
from monitor.normalize import arabic_forms, normalize_words
from monitor.rules import Vocabulary, load_rules

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "tests/fixtures/stories/pairs.jsonl"
ENTITY_VOCABULARIES = ROOT / "tests/fixtures/stories/entities.yaml"
RULE_VOCABULARIES = ROOT / "rules/vocabularies.yaml"


def load_pairs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line]


def load_vocabularies(path: Path) -> dict[str, Vocabulary]:
    return dict(load_rules([path]).vocabularies)


def _word_matches(term_word: str, forms: set[str], prefix: bool) -> bool:
    if prefix:
        return any(f.startswith(term_word) for f in forms)
    return term_word in forms


def vocabulary_hits(text: str, vocabularies: dict[str, Vocabulary]) -> frozenset[str]:
    words = normalize_words(text)
    forms = [{stem for stem, _, _ in arabic_forms(w)} | {w} for w in words]
    hits = set()
    for name, vocab in vocabularies.items():
        for term in vocab.terms:
            n = len(term.words)
            if n == 0:
                continue
            for i in range(len(words) - n + 1):
                if all(
                    _word_matches(tw, forms[i + j], term.prefix and j == n - 1)
                    for j, tw in enumerate(term.words)
                ):
                    hits.add(name)
                    break
            if name in hits:
                break
    return frozenset(hits)


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int
    tn: int
    by_kind: dict[str, tuple[int, int]]  # kind -> (correct, total)
    reasons: Counter[str]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def with_entities(
    pairs: list[dict[str, Any]], vocabularies: dict[str, Vocabulary]
) -> list[dict[str, Any]]:
    """The pairs with each side's vocabulary hits under "entities"."""
    out = []
    for row in pairs:
        sides = {
            side: {
                **row[side],
                "entities": vocabulary_hits(
                    f"{row[side]['title']}\n{row[side]['summary']}", vocabularies
                ),
            }
            for side in ("a", "b")
        }
        out.append({**row, **sides})
    return out


def evaluate(pairs: list[dict[str, Any]], **index_options: Any) -> Score:
    """Index side a alone, ask for side b: predicted "same" iff find() answers a's story.
    `pairs` come from with_entities()."""
    tp = fp = fn = tn = 0
    kinds: dict[str, list[int]] = {}
    reasons: Counter[str] = Counter()
    for row in pairs:
        a, b = row["a"], row["b"]
        index = StoryIndex(**index_options)
        index.add(
            key="a",
            story_id=1,
            lang=a["lang"],
            title=a["title"],
            summary=a["summary"],
            published=datetime.fromisoformat(a["published"]),
            entities=a["entities"],
        )
        found = index.find(
            lang=b["lang"],
            title=b["title"],
            summary=b["summary"],
            published=datetime.fromisoformat(b["published"]),
            entities=b["entities"],
        )
        predicted = found is not None
        if found is not None:
            reasons[f"{found.reason} ({'right' if row['same'] else 'WRONG'})"] += 1
        tp += predicted and row["same"]
        fp += predicted and not row["same"]
        fn += (not predicted) and row["same"]
        tn += (not predicted) and not row["same"]
        k = kinds.setdefault(row["kind"], [0, 0])
        k[0] += predicted == row["same"]
        k[1] += 1
    return Score(tp, fp, fn, tn, {k: (v[0], v[1]) for k, v in kinds.items()}, reasons)


def main() -> None:
    pairs = load_pairs()
    sources = (
        ("none", {}),
        ("rules/vocabularies.yaml names", load_vocabularies(RULE_VOCABULARIES)),
        ("per-entity vocabularies", load_vocabularies(ENTITY_VOCABULARIES)),
    )
    print(
        "| entities from | text threshold | min shared | min entity Jaccard | entities within "
        "one language | P | R | tp fp fn tn |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for source, vocabs in sources:
        labelled = with_entities(pairs, vocabs)
        for threshold in (0.4, 0.5, 0.6):
            for min_shared in (1, 2, 3):
                for jaccard in (0.0, 0.6):
                    for across_only in (True, False):
                        if source == "none" and (min_shared, jaccard, across_only) != (3, 0, True):
                            continue
                        s = evaluate(
                            labelled,
                            threshold=threshold,
                            cross_lang_min_entities=min_shared,
                            min_entity_jaccard=jaccard,
                            entities_across_languages_only=across_only,
                        )
                        print(
                            f"| {source} | {threshold} | {min_shared} | {jaccard} | "
                            f"{'no' if across_only else 'yes'} | {s.precision:.3f} | "
                            f"{s.recall:.3f} | {s.tp} {s.fp} {s.fn} {s.tn} |"
                        )
    s = evaluate(with_entities(pairs, sources[2][1]))
    print(
        f"\ndefaults: P {s.precision:.3f} R {s.recall:.3f}; by kind {s.by_kind}; {dict(s.reasons)}"
    )


if __name__ == "__main__":
    main()
