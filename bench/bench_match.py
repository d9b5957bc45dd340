"""Benchmark: Rasd's matcher against the naive regex loop, end to end.

    .venv/bin/python bench/bench_match.py [--items 20000] [--articles 2000] [--repeat 5]
        [--only rss-1000,rss-10000,article-1000,article-10000,shipped,daemon]

End to end = normalize + index look-up + rule evaluation + hit offsets (Matcher.match on a
Document). Times are process CPU time (the median of `--repeat` runs), so that other jobs on
a shared machine inflate them less than wall time would.

Texts are built from runs of real headlines (../shared/corpus/labelled/dev.jsonl when
present, else bench/words.txt) with a share of novel words (random clitics, suffixes,
numbers, invented names) so that the stream keeps meeting unseen words as a real feed does.
Terms are real corpus words and bigrams plus prefixes and invented words; rules combine them
in vocabularies with all/any/none/near. The "shipped" scenario runs the repository's own
rules/*.yaml (vocabularies used through @vocab in near/any/none) over the same RSS items,
which, being built from the labelled Mali corpus, hit those rules far more often than a
real stream would. "daemon" is the same with the call the pipeline makes per item:
`match_with_vocabularies(doc, prefixes=("place_", "actor_", "thing_"))` (matches plus the
entity vocabularies; a Matcher without `prefixes` is called without it). The naive
baseline loops one `\\bterm\\b` regex per term over the lower-cased text; it is timed on a
subset and its rate extrapolated.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import inspect
import itertools
import os
from functools import partial

from machine import describe

from monitor import normalize as normalize_module
from monitor.domain import Document
from monitor.match import Matcher
from monitor.normalize import normalize_words
from monitor.rules import RuleSet, load_rules, parse_rule_text

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "labelled" / "dev.jsonl"
WORDS = Path(__file__).with_name("words.txt")
RULES = Path(__file__).resolve().parents[1] / "rules"
SCENARIOS = ("rss-1000", "rss-10000", "article-1000", "article-10000", "shipped", "daemon")
# Vocabularies the pipeline asks for with every item (story entities, rules/entities.yaml).
ENTITY_PREFIXES = ("place_", "actor_", "thing_")
AR_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
FR_LETTERS = "abcdefghijlmnoprstuvéè"


def load_runs() -> dict[str, list[list[str]]]:
    """Whitespace-separated surface words per language, one list per source text."""
    runs: dict[str, list[list[str]]] = {"ar": [], "fr": []}
    if CORPUS.exists():
        for line in CORPUS.read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            lang = "ar" if doc["lang"] == "ar" else "fr"
            runs[lang].append((doc["title"] + " " + doc["text"]).split())
    else:
        for line in WORDS.read_text(encoding="utf-8").splitlines():
            lang, _, text = line.partition("\t")
            runs["ar" if lang == "ar" else "fr"].append(text.split())
    return runs


def invent(rng: random.Random, lang: str) -> str:
    letters = AR_LETTERS if lang == "ar" else FR_LETTERS
    return "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))


def novel(rng: random.Random, word: str, lang: str) -> str:
    roll = rng.random()
    if roll < 0.3:
        return invent(rng, lang)
    if roll < 0.45:
        return str(rng.randint(1, 99999))
    if lang == "ar":
        return rng.choice(["و", "ب", "ال", "وال", "لل", "ف"]) + word + rng.choice(["", "ات", "ين"])
    return word + rng.choice(["s", "es", "ment", "aient", "ions"])


def make_text(
    rng: random.Random, runs: dict[str, list[list[str]]], lang: str, words: int, novel_rate: float
) -> str:
    out: list[str] = []
    while len(out) < words:
        run = rng.choice(runs[lang])
        start = rng.randrange(max(1, len(run) - 8))
        out.extend(run[start : start + rng.randint(4, 12)])
        if rng.random() < 0.15:  # a French name in Arabic text or the reverse
            other = runs["fr" if lang == "ar" else "ar"]
            out.append(rng.choice(rng.choice(other)))
    out = [novel(rng, w, lang) if rng.random() < novel_rate else w for w in out[:words]]
    return " ".join(out)


def make_docs(
    rng: random.Random,
    runs: dict[str, list[list[str]]],
    count: int,
    lo: int,
    hi: int,
    novel_rate: float,
) -> list[Document]:
    docs = []
    for _ in range(count):
        lang = rng.choice(["ar", "fr"])
        total = rng.randint(lo, hi)
        title_words = min(total - 5, rng.randint(8, 16))
        docs.append(
            Document(
                title=make_text(rng, runs, lang, title_words, novel_rate),
                summary=make_text(rng, runs, lang, total - title_words, novel_rate),
                lang=lang,
                feed=f"feed-{rng.randint(1, 40)}",
            )
        )
    return docs


def make_terms(
    rng: random.Random, runs: dict[str, list[list[str]]], count: int, real_share: float
) -> list[str]:
    """`real_share` of the terms are corpus words and bigrams (without the 200 most frequent
    words), a few of them prefixes; the rest are invented words and phrases, as a rule set
    mostly names places, people and groups a given stream rarely mentions."""
    freq: dict[str, int] = {}
    bigrams: set[tuple[str, str]] = set()
    for lang_runs in runs.values():
        for run in lang_runs:
            words = [w for w in (" ".join(normalize_words(s)) for s in run) if " " not in w]
            for w in words:
                if w:
                    freq[w] = freq.get(w, 0) + 1
            bigrams.update((a, b) for a, b in itertools.pairwise(words) if a and b)
    ranked = sorted(freq, key=lambda w: (-freq[w], w))
    frequent = set(ranked[:200])
    words = [w for w in ranked[200:] if len(w) > 2]
    rng.shuffle(words)
    phrases = sorted(f"{a} {b}" for a, b in bigrams if a not in frequent)
    rng.shuffle(phrases)
    real = int(count * real_share)
    terms: list[str] = []
    terms += words[: int(real * 0.7)]
    terms += phrases[: int(real * 0.2)]
    terms += [w[:5] + "*" for w in words[int(real * 0.7) :] if len(w) >= 7][: int(real * 0.1)]
    seen = set(terms)
    while len(terms) < count:
        lang = rng.choice(["ar", "fr"])
        word = invent(rng, lang)
        if rng.random() < 0.2:
            word += " " + invent(rng, lang)
        if word not in seen:
            seen.add(word)
            terms.append(word)
    return terms[:count]


def make_rules(rng: random.Random, terms: list[str]) -> str:
    """Vocabularies of 20 terms; rules pair vocabularies with all/any/none/near."""
    vocabs = [terms[i : i + 20] for i in range(0, len(terms), 20)]
    lines = ["vocabularies:"]
    for i, vocab in enumerate(vocabs):
        lines.append(f"  v{i}:")
        lines += [f"    - {json.dumps(t, ensure_ascii=False)}" for t in vocab]
    lines.append("masks:\n  - دعم مالي\n  - الوضع المالي\nrules:")
    for i in range(len(vocabs)):
        j = rng.randrange(len(vocabs))
        k = rng.randrange(len(vocabs))
        shape = i % 4
        if shape == 0:
            match = f'{{all: [{{any: ["@v{i}"]}}, {{any: ["@v{j}"]}}], none: ["@v{k}"]}}'
        elif shape == 1:
            match = f'{{near: ["@v{i}", "@v{j}"], within: 8}}'
        elif shape == 2:
            match = f'{{min_score: 2, terms: ["@v{i}", "@v{j}"]}}'
        else:
            match = f'{{any: ["@v{i}"], fields: [title]}}'
        lines.append(f"  - id: r{i}\n    title: Rule {i}\n    match: {match}")
    return "\n".join(lines) + "\n"


def naive_patterns(terms: Sequence[str]) -> list[re.Pattern[str]]:
    out = []
    for term in terms:
        body = re.escape(term.rstrip("*").lower())
        out.append(re.compile(r"\b" + body + (r"\w*" if term.endswith("*") else r"\b")))
    return out


def naive_match(patterns: list[re.Pattern[str]], doc: Document) -> int:
    text = (doc.title + "\n" + doc.summary).lower()
    return sum(1 for p in patterns if p.search(text))


def ruleset_terms(ruleset: RuleSet) -> list[str]:
    """Every word or phrase term of a rule set, for the naive loop (regex terms left out)."""
    seen: dict[str, None] = {}
    for vocab in ruleset.vocabularies.values():
        for term in vocab.terms:
            if term.words:
                seen[" ".join(term.words) + ("*" if term.prefix else "")] = None
    return list(seen)


def clear_word_memos() -> None:
    """Forget every memoised word of the normalizer, as a fresh process would."""
    clear = getattr(normalize_module, "clear_caches", None)
    if clear is not None:
        clear()
    for value in vars(normalize_module).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


def per_item_call(matcher: Matcher, daemon: bool) -> Callable[[Document], object]:
    """`Matcher.match`, or the pipeline's call (with `prefixes` when the Matcher has it)."""
    if not daemon:
        return matcher.match
    if "prefixes" in inspect.signature(matcher.match_with_vocabularies).parameters:
        return partial(matcher.match_with_vocabularies, prefixes=ENTITY_PREFIXES)
    return matcher.match_with_vocabularies


def matches_of(result: object) -> list[object]:
    return result[0] if isinstance(result, tuple) else result  # type: ignore[return-value]


def timed(run: Callable[[], object], repeat: int, reset: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(repeat):
        reset()
        gc.collect()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return times


def bench(
    label: str,
    docs: list[Document],
    term_count: int,
    repeat: int,
    naive_subset: int,
    rng: random.Random,
    runs: dict[str, list[list[str]]],
    real_share: float,
    daemon: bool = False,
) -> dict[str, object]:
    start = time.process_time()
    if term_count:
        terms = make_terms(rng, runs, term_count, real_share)
        ruleset = parse_rule_text(make_rules(rng, terms), "bench.yaml")
    else:
        ruleset = load_rules([RULES])
        terms = ruleset_terms(ruleset)
    matcher = Matcher.compile(ruleset)
    compile_s = time.process_time() - start
    holder: list[Matcher] = [matcher]

    def fresh() -> None:
        clear_word_memos()
        holder[0] = Matcher.compile(ruleset)

    matched = [0, 0]

    def run_all() -> None:
        call = per_item_call(holder[0], daemon)
        results = [matches_of(call(d)) for d in docs]
        matched[:] = [sum(1 for r in results if r), sum(map(len, results))]

    cold = timed(run_all, repeat, fresh)
    warm = timed(run_all, repeat, lambda: None)
    norm_only = timed(lambda: [normalize_words(d.title + " " + d.summary) for d in docs], 1, fresh)
    warm_norm = timed(lambda: [normalize_words(d.title + " " + d.summary) for d in docs], 3, int)

    tracemalloc.start()
    fresh()
    run_all()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    patterns = naive_patterns(terms)
    subset = docs[:naive_subset]
    naive = timed(lambda: [naive_match(patterns, d) for d in subset], 1, int)
    naive_rate = len(subset) / statistics.median(naive)
    cold_rate = len(docs) / statistics.median(cold)
    warm_rate = len(docs) / statistics.median(warm)
    return {
        "label": label,
        "terms": matcher.term_count,
        "rules": matcher.rule_count,
        "docs": len(docs),
        "matched_docs": matched[0],
        "matches": matched[1],
        "compile_s": compile_s,
        "cold_items_s": cold_rate,
        "warm_items_s": warm_rate,
        "normalize_cold_items_s": len(docs) / statistics.median(norm_only),
        "normalize_warm_items_s": len(docs) / statistics.median(warm_norm),
        "peak_mib": peak / 2**20,
        "naive_items_s": naive_rate,
        "naive_subset": len(subset),
        "speedup_cold": cold_rate / naive_rate,
    }


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--articles", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--novel-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--real-share", type=float, default=0.1, help="share of terms taken from the corpus"
    )
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}"
    )
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    rng = random.Random(args.seed)
    runs = load_runs()
    rss = make_docs(rng, runs, args.items, 30, 80, args.novel_rate)
    articles = make_docs(rng, runs, args.articles, 280, 320, args.novel_rate)
    distinct = len({w for d in rss for w in normalize_words(d.title + " " + d.summary)})
    print(
        f"corpus: {'dev.jsonl' if CORPUS.exists() else WORDS.name}; rss items: {len(rss)}, "
        f"{distinct} distinct words; articles: {len(articles)}; machine: {describe()}; "
        f"load average at start: {load_average()}"
    )
    plans = {
        "rss-1000": ("rss", rss, 1_000, 1000),
        "rss-10000": ("rss", rss, 10_000, 200),
        "article-1000": ("article", articles, 1_000, 100),
        "article-10000": ("article", articles, 10_000, 20),
        "shipped": ("shipped", rss, 0, 1000),
        "daemon": ("daemon", rss, 0, 1000),
    }
    results = []
    for name in chosen:
        label, docs, terms, subset = plans[name]
        result = bench(
            label,
            docs,
            terms,
            args.repeat,
            subset,
            random.Random(terms),
            runs,
            args.real_share,
            daemon=name == "daemon",
        )
        results.append(result)
        print(json.dumps(result, ensure_ascii=False), flush=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"max RSS of the whole run: {usage.ru_maxrss / 1024:.0f} MiB")
    print(f"load average at end: {load_average()}")
    print(
        "| texts | terms | rules | matched | cold items/s | warm items/s | normalize only "
        "(cold/warm) | naive items/s (subset) | speed-up (cold) | peak MiB | compile s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['label']} ×{r['docs']} | {r['terms']} | {r['rules']} | {r['matched_docs']} "
            f"| {r['cold_items_s']:,.0f} | {r['warm_items_s']:,.0f} "
            f"| {r['normalize_cold_items_s']:,.0f} / {r['normalize_warm_items_s']:,.0f} "
            f"| {r['naive_items_s']:,.1f} ({r['naive_subset']}) | {r['speedup_cold']:,.0f}× "
            f"| {r['peak_mib']:.1f} | {r['compile_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
