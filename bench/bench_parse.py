"""Benchmark: CPU cost of `parse_bytes` on bench-farm feeds and on the bundled real feeds.

    .venv/bin/python bench/bench_parse.py [--feeds 300] [--repeat 5] [--profile 25]

Farm feeds are the first `--feeds` "normal" feeds of bench/feedfarm.py (RSS 2.0, 10-100
items, Arabic/French), gunzipped as the fetcher would and parsed with the headers the farm
sends. "Real" are the RSS files under monitor/demo_data/feeds and tests/fixtures/feeds.
Times are process CPU time (`time.process_time`), the median of `--repeat` runs, so other
jobs on the shared machine inflate them less than wall time would; the load average is
printed with each run. `--profile N` prints the N most expensive functions (cProfile,
cumulative) of one pass over the farm feeds.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import os
import pstats
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import feedfarm  # noqa: E402

from monitor.parse import ParseLimits, parse_bytes  # noqa: E402

URL = "https://site.example/feed.xml"
FARM_HEADERS = {"Content-Type": "application/rss+xml; charset=utf-8", "Content-Encoding": "gzip"}
RSS_HEADERS = {"Content-Type": "application/rss+xml"}


@dataclass(frozen=True)
class Body:
    name: str
    data: bytes
    headers: dict[str, str]
    lang: str | None


def farm_bodies(count: int) -> list[Body]:
    bodies: list[Body] = []
    index = 0
    while len(bodies) < count:
        if feedfarm.kind_of(index) == feedfarm.NORMAL:
            feed = feedfarm.build_feed(index)
            data = gzip.decompress(feed.gzipped)
            bodies.append(Body(f"farm/{index}", data, FARM_HEADERS, feed.lang))
        index += 1
    return bodies


def real_bodies() -> list[Body]:
    bodies = [
        Body(f"demo/{path.name}", path.read_bytes(), RSS_HEADERS, None)
        for path in sorted((REPO / "monitor" / "demo_data" / "feeds").rglob("*.xml"))
    ]
    for folder in sorted((REPO / "tests" / "fixtures" / "feeds").iterdir()):
        path = next(folder.glob("feed.xml"), None)
        if path is None:
            continue
        headers_path = folder / "headers.json"
        headers = json.loads(headers_path.read_text()) if headers_path.exists() else RSS_HEADERS
        bodies.append(Body(f"golden/{folder.name}", path.read_bytes(), headers, None))
    return bodies


def parse_all(bodies: list[Body]) -> int:
    """Parse every body once; the number of items produced."""
    items = 0
    limits = ParseLimits()
    for body in bodies:
        parsed = parse_bytes(
            body.data, body.headers, URL, lang_hint=body.lang, encoding=None, limits=limits
        )
        items += len(parsed.items)
    return items


def measure(label: str, bodies: list[Body], repeat: int) -> dict[str, float]:
    parse_all(bodies[:5])  # warm caches (regex compilation, imports)
    seconds: list[float] = []
    items = 0
    for run in range(repeat):
        start = time.process_time()
        items = parse_all(bodies)
        seconds.append(time.process_time() - start)
        load = os.getloadavg()[0]
        print(f"  {label} run {run + 1}: {seconds[-1]:.3f} s CPU (load {load:.2f})", flush=True)
    median = statistics.median(seconds)
    size = sum(len(b.data) for b in bodies) / len(bodies) / 1024
    result = {
        "feeds": len(bodies),
        "items": items,
        "mean_kib": size,
        "ms_per_feed": 1000 * median / len(bodies),
        "us_per_item": 1e6 * median / max(items, 1),
        "load": os.getloadavg()[0],
    }
    print(
        f"{label}: {result['feeds']} feeds, {items} items, {size:.1f} KiB mean: "
        f"{result['ms_per_feed']:.2f} ms CPU per feed, {result['us_per_item']:.1f} µs per item "
        f"(median of {repeat}; load {result['load']:.2f})",
        flush=True,
    )
    return result


def profile(bodies: list[Body], top: int) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(parse_all, bodies)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    farm = farm_bodies(args.feeds)
    real = real_bodies()
    if args.profile:
        profile(farm, args.profile)
        return
    measure("farm", farm, args.repeat)
    measure("real", real, args.repeat)


if __name__ == "__main__":
    main()
