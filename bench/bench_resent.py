"""Benchmark: cycles of one running daemon while the farm re-sends every feed unchanged.

    .venv/bin/python bench/bench_resent.py [--feeds 2000] [--cycles 3]

One `App` (one process, as `rasd run` keeps it) polls the bench farm (bench/feedfarm.py)
`--cycles` times with `App.once()`: the first cycle with normal answers on an empty SQLite
database, the others while the farm ignores ETag and Last-Modified and sends every body
again, as servers without conditional GET do. Per cycle: wall time, CPU time of the process
and its parse workers (from /proc, workers included while alive), and how many polls counted
as not modified. Settings as bench_poll.py (`polling.concurrency` 128, `per_host` 64).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_poll  # noqa: E402

from monitor.config import settings_from_text  # noqa: E402


def _cpu_of_tree() -> float:
    """CPU seconds of this process and its live children (the parse workers)."""
    me = os.getpid()
    return bench_poll._cpu_of([me, *bench_poll._children(me)])


async def cycles(text: str, path: Path, farm: bench_poll.Farm, count: int) -> None:
    from monitor.app import App

    settings = settings_from_text(text, str(path))
    async with App(settings) as app:
        for n in range(count):
            farm.mode("full" if n == 0 else "200")
            wall, cpu = time.monotonic(), _cpu_of_tree()
            report = (await app.once()).to_json()
            print(
                f"| {n + 1} | {'normal' if n == 0 else 're-sent'} "
                f"| {time.monotonic() - wall:.1f} | {_cpu_of_tree() - cpu:.1f} "
                f"| {report['items_new']} | {report['feeds_not_modified']} "
                f"| {report['feed_errors']} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    farm = bench_poll.Farm(args.feeds, max_seconds=1800)
    data = Path(tempfile.mkdtemp(prefix="rasd-bench-resent-"))
    try:
        text = bench_poll.rasd_config(farm, args.feeds, data, concurrency=128, per_host=64)
        (data / "rasd.yaml").write_text(text, encoding="utf-8")
        print(f"load average at start: {' '.join(map(str, os.getloadavg()))}")
        print("| cycle | answers | wall s | CPU s | new items | not modified | errors |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        asyncio.run(cycles(text, data / "rasd.yaml", farm, args.cycles))
    finally:
        farm.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
