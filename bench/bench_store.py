"""Benchmark: the daemon's main-process CPU for storing one polled feed (issue 4).

    .venv/bin/python bench/bench_store.py [--feeds 200] [--repeat 5] [--profile 30]

The first `--feeds` farm feeds that carry items (bench/feedfarm.py, 10-100 items each) are
built, parsed (`parse_bytes`) and analysed with the shipped rules (`analyse_items`) once,
outside the timing. Each repetition then opens a fresh SQLite file in a temporary folder
and, per feed, times what `Pipeline.poll_feed` runs in the daemon's process after parsing
and matching: `_store`, which in one transaction asks which guids are new and stores them
(items, matches, stories, alerts, deliveries and the poll record).

Two passes per repetition: "fresh" (every item new, as on a first poll) and "known" (the
same bodies again: every item is known, only the poll is recorded). Times are process CPU
time (`time.process_time`), medians of `--repeat` repetitions, in ms per feed. Two
untimed warm-up feeds precede each pass, so SQLAlchemy's statement cache is warm as in a
long-running daemon. `--profile N` prints the N most expensive functions of one fresh pass.
`--cache FILE` keeps the parsed and analysed feeds in a pickle, so that runs alternating
two checkouts of the code (see bench/README.md) skip the build.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import os
import pickle
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import feedfarm  # noqa: E402
import httpx  # noqa: E402

from monitor.analysis import Analysed, FeedContext, Finding, analyse_items  # noqa: E402
from monitor.dedup import StoryIndex  # noqa: E402
from monitor.domain import FeedState, FetchResult, ParsedFeed  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.parse import parse_bytes  # noqa: E402
from monitor.pipeline import Pipeline, PipelineSettings, _matched_fresh  # noqa: E402
from monitor.rulebook import RuleBook  # noqa: E402
from storage import feeds as feed_repo  # noqa: E402
from storage.db import create_db_engine, ensure_schema, make_sessionmaker  # noqa: E402

HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}
WARM_UP = 2


@dataclass(frozen=True)
class Polled:
    """One farm feed as the pipeline has it after fetching, parsing and matching."""

    url: str
    name: str
    lang: str
    result: FetchResult
    parsed: ParsedFeed
    analysed: dict[str, Analysed]  # guid → analysis


def build(count: int) -> list[Polled]:
    book = RuleBook(REPO / "rules")
    book.reload_if_changed()
    matcher = book.current()
    polled: list[Polled] = []
    index = 0
    while len(polled) < count + WARM_UP:
        if feedfarm.kind_of(index) in (feedfarm.NORMAL, feedfarm.SLOW):
            feed = feedfarm.build_feed(index)
            url = f"http://127.0.0.1:8000/feed/{index}.xml"
            body = gzip.decompress(feed.gzipped)
            result = FetchResult(
                url=url,
                final_url=url,
                status=200,
                body=body,
                headers=HEADERS,
                etag=feed.etag,
                last_modified=feed.last_modified,
            )
            parsed = parse_bytes(body, HEADERS, url, lang_hint=feed.lang)
            name = f"farm-{index}"
            analysed = analyse_items(matcher, FeedContext(name, feed.lang), list(parsed.items))
            polled.append(
                Polled(url, name, feed.lang, result, parsed, {a.item.guid: a for a in analysed})
            )
        index += 1
    return polled


def make_pipeline(folder: Path, polled: list[Polled]) -> tuple[Pipeline, list[FeedState]]:
    engine = create_db_engine(f"sqlite:///{folder / 'rasd.db'}")
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    states = []
    with sessions.begin() as session:
        for p in polled:
            feed_id, _ = feed_repo.add_feed(session, p.url, now, name=p.name, lang=p.lang)
            states.append(FeedState(id=feed_id, url=p.url, name=p.name, lang=p.lang))
    pipeline = Pipeline(
        sessions=sessions,
        fetcher=Fetcher(httpx.AsyncClient()),  # never called: nothing is fetched here
        matcher=lambda: None,  # type: ignore[arg-type,return-value]  # analysis is done
        routes=(),
        stories=StoryIndex(),
        settings=PipelineSettings(),
    )
    return pipeline, states


def store_one(pipeline: Pipeline, state: FeedState, p: Polled) -> tuple[float, int]:
    """CPU seconds of `_store` for one feed, which asks which guids are new and stores them
    in one transaction (the worker's findings are looked up, not timed), and the number of
    new items."""
    found = {
        i: Finding(a.matches, a.entities, a.canonical, a.fingerprint)
        for i, item in enumerate(p.parsed.items)
        if (a := p.analysed.get(item.guid)) is not None
    }
    fresh = partial(_matched_fresh, state, p.parsed, found)
    start = time.process_time()
    new_items, _ = pipeline._store(state, p.result, p.parsed, fresh)
    return time.process_time() - start, new_items


def one_pass(
    pipeline: Pipeline, states: list[FeedState], polled: list[Polled]
) -> tuple[float, int]:
    for state, p in zip(states[:WARM_UP], polled[:WARM_UP], strict=True):
        store_one(pipeline, state, p)
    seconds = 0.0
    new_items = 0
    for state, p in zip(states[WARM_UP:], polled[WARM_UP:], strict=True):
        spent, new = store_one(pipeline, state, p)
        seconds += spent
        new_items += new
    return seconds, new_items


def run(polled: list[Polled], repeat: int) -> None:
    feeds = len(polled) - WARM_UP
    items = sum(len(p.parsed.items) for p in polled[WARM_UP:])
    fired = sum(1 for p in polled[WARM_UP:] for a in p.analysed.values() if a.matches)
    print(f"{feeds} feeds, {items} items ({items / feeds:.1f} per feed), {fired} fired a rule")
    fresh_ms: list[float] = []
    known_ms: list[float] = []
    for rep in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
            pipeline, states = make_pipeline(Path(tmp), polled)
            fresh, new_items = one_pass(pipeline, states, polled)
            known, again = one_pass(pipeline, states, polled)
            pipeline._sessions.kw["bind"].dispose()
        assert new_items == items and again == 0, (new_items, again)
        fresh_ms.append(1000 * fresh / feeds)
        known_ms.append(1000 * known / feeds)
        print(
            f"  run {rep + 1}: fresh {fresh_ms[-1]:.2f} ms/feed, known {known_ms[-1]:.2f} "
            f"ms/feed (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    print(
        f"median of {repeat}: fresh {statistics.median(fresh_ms):.2f} ms CPU per feed, "
        f"known {statistics.median(known_ms):.2f} ms CPU per feed",
        flush=True,
    )


def profile(polled: list[Polled], top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        pipeline, states = make_pipeline(Path(tmp), polled)
        profiler = cProfile.Profile()
        profiler.runcall(one_pass, pipeline, states, polled)
        pipeline._sessions.kw["bind"].dispose()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--cache", type=Path, metavar="FILE")
    args = parser.parse_args()
    started = time.process_time()
    if args.cache and args.cache.exists():
        with args.cache.open("rb") as f:
            polled = pickle.load(f)[: args.feeds + WARM_UP]
        assert len(polled) == args.feeds + WARM_UP, f"{args.cache} holds fewer feeds"
    else:
        polled = build(args.feeds)
        if args.cache:
            with args.cache.open("wb") as f:
                pickle.dump(polled, f)
    print(f"built, parsed and analysed in {time.process_time() - started:.1f} s CPU", flush=True)
    if args.profile:
        profile(polled, args.profile)
    else:
        run(polled, args.repeat)


if __name__ == "__main__":
    main()
