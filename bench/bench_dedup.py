"""Stream synthetic items through StoryIndex: find + add + evict, as the pipeline does.

    .venv/bin/python bench/bench_dedup.py [--items 100000] [--runs 3]

Items are mixed Arabic/French, built from the words of the real headlines in
../shared/corpus/labelled/dev.jsonl, 10 items an hour over 30 days at 100k items (the
published times step with the item count), ~10% near-duplicates of an item of the last 24 h
(one or two words changed, some words dropped). Two passes:

- speed: fingerprint once per item (passed to find and add), then find, add, evict;
  best and median items/s over --runs runs;
- memory: tracemalloc current/peak at 10k, 50k and 100k items. Signatures arrive as JSON, as
  from storage at start-up, so the index's own objects are traced and none pre-allocated.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.dedup import Fingerprint, StoryIndex, fingerprint

DEV = Path(__file__).resolve().parents[2] / "shared/corpus/labelled/dev.jsonl"
T0 = datetime(2025, 10, 1, tzinfo=UTC)
SPAN = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Synthetic:
    key: str
    lang: str
    title: str
    summary: str
    published: datetime
    entities: frozenset[str]
    copy_of: str | None  # the key of the item this one near-duplicates


def _words() -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {"ar": [], "fr": []}
    for line in DEV.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["lang"] in pools:
            pools[row["lang"]].extend(f"{row['title']} {row['text']}".split())
    return pools


def items(count: int, seed: int = 7) -> Iterator[Synthetic]:
    rng = random.Random(seed)
    pools = _words()
    step = SPAN / 100_000
    recent: list[Synthetic] = []
    for n in range(count):
        published = T0 + step * n
        recent = [r for r in recent[-300:] if published - r.published < timedelta(hours=24)]
        if recent and rng.random() < 0.10:
            base = rng.choice(recent)
            words = f"{base.title} || {base.summary}".split()
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(pools[base.lang])
            if rng.random() < 0.5:
                words = words[: max(8, len(words) - rng.randint(1, 5))]
            title, _, summary = " ".join(words).partition(" || ")
            item = Synthetic(str(n), base.lang, title, summary, published, base.entities, base.key)
        else:
            lang = "ar" if rng.random() < 0.5 else "fr"
            pool = pools[lang]
            entities = frozenset(f"e{rng.randrange(400)}" for _ in range(rng.randint(0, 3)))
            item = Synthetic(
                str(n),
                lang,
                " ".join(rng.choices(pool, k=rng.randint(8, 16))),
                " ".join(rng.choices(pool, k=rng.randint(15, 35))),
                published,
                entities,
                None,
            )
        recent.append(item)
        yield item


def speed_run(stream: list[Synthetic]) -> tuple[float, int, int, int]:
    """items/s, near-duplicates joined to their original's story, false joins, live items."""
    index = StoryIndex()
    story_of: dict[str, int] = {}
    joined = wrong = 0
    start = time.perf_counter()
    for item in stream:
        fp = fingerprint(item.title, item.summary)
        found = index.find(
            lang=item.lang,
            title=item.title,
            summary=item.summary,
            published=item.published,
            entities=item.entities,
            fingerprint=fp,
        )
        story = found.story_id if found else int(item.key)
        story_of[item.key] = story
        if item.copy_of is not None and found and story == story_of[item.copy_of]:
            joined += 1
        elif found is not None and item.copy_of is None:
            wrong += 1
        index.add(
            key=item.key,
            story_id=story,
            lang=item.lang,
            title=item.title,
            summary=item.summary,
            published=item.published,
            entities=item.entities,
            fingerprint=fp,
        )
        index.evict(item.published)
    elapsed = time.perf_counter() - start
    return len(stream) / elapsed, joined, wrong, len(index)


def memory_run(stream: list[Synthetic], checkpoints: set[int]) -> list[tuple[int, int, int, int]]:
    signatures = [fingerprint(i.title, i.summary).to_json() for i in stream]
    index = StoryIndex()
    out = []
    tracemalloc.start()
    for n, item in enumerate(stream, 1):
        fp = Fingerprint.from_json(signatures[n - 1])
        found = index.find(
            lang=item.lang,
            title="",
            summary="",
            published=item.published,
            entities=item.entities,
            fingerprint=fp,
        )
        index.add(
            key=item.key,
            story_id=found.story_id if found else n,
            lang=item.lang,
            title="",
            summary="",
            published=item.published,
            entities=item.entities,
            fingerprint=fp,
        )
        index.evict(item.published)
        if n in checkpoints:
            current, peak = tracemalloc.get_traced_memory()
            out.append((n, len(index), current, peak))
    tracemalloc.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    stream = list(items(args.items))
    copies = sum(1 for i in stream if i.copy_of)
    print(f"{len(stream)} items, {copies} near-duplicates ({copies / len(stream):.1%})")
    rates = []
    for run in range(args.runs):
        rate, joined, wrong, live = speed_run(stream)
        rates.append(rate)
        print(
            f"run {run + 1}: {rate:,.0f} items/s; near-duplicates joined {joined}/{copies}; "
            f"false joins {wrong}; live items at end {live}"
        )
    print(f"items/s median {statistics.median(rates):,.0f}, best {max(rates):,.0f}")
    marks = {m for m in (10_000, 50_000, 100_000) if m <= args.items} | {args.items}
    for n, live, current, peak in memory_run(stream, marks):
        print(
            f"after {n:>7,} items: {live:,} live, traced {current / 2**20:.1f} MiB "
            f"(peak {peak / 2**20:.1f} MiB)"
        )


if __name__ == "__main__":
    main()
