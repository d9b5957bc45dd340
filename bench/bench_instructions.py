"""Instructions per item under valgrind's callgrind: the matcher's cost without the noise.

    .venv/bin/python bench/bench_instructions.py [--scenario rss|farm|parse|both|all]
        [--items 4000] [--feeds 40] [--root DIR]

On this shared 2-core VM, CPU time for the same run moves by 20 % from one minute to the
next (and the first of two back-to-back runs is often the faster), so a 5 % change cannot be
seen in items/s. The number of instructions executed moves by less than 0.1 %.

- rss: bench_match.py's RSS items (30–80 words, Arabic and French) and its 1,000-term rules,
  through `Matcher.match`. "cold" is the first pass of a new Matcher with empty word memos
  (what bench_match.py calls cold), "warm" a second pass over the same items.
- farm: the repository's rules/ over the items of the first `--feeds` feeds of
  bench/feedfarm.py (parsed once, outside the count), through the pipeline's own
  `analysis.findings` (match, story entities, canonical URL, fingerprint); each pass starts
  from empty memos and a new Matcher, as a new parse worker does.
- parse: `parse_bytes` (what a worker does with a fetched body before matching) over the
  bodies of the same first `--feeds` farm feeds, with the headers the farm sends.

`both` is rss and farm (the matcher); `all` adds parse.

Each figure is (instructions of a run with k + 1 passes − those of a run with k passes) /
items, so interpreter start-up and building the texts cancel out. `--root` measures another
checkout (`git worktree add /tmp/base COMMIT`) with its own bench_match.py and monitor/.
Needs `valgrind` on PATH; a run takes a few minutes (callgrind is ~50× slower than Python).
"""

from __future__ import annotations

import argparse
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _child(
    scenario: str, items: int, feeds: int, passes: int, root: Path, data: Path | None
) -> None:
    sys.path.insert(0, str(root / "bench"))
    if scenario == "parse":
        print(_parse_farm(root, feeds, passes))
        return
    if scenario == "rss":
        import random

        import bench_match  # its own checkout's monitor/ comes first on sys.path

        from monitor.match import Matcher
        from monitor.rules import parse_rule_text

        runs = bench_match.load_runs()
        docs = bench_match.make_docs(random.Random(7), runs, items, 30, 80, 0.05)
        rng = random.Random(1000)
        terms = bench_match.make_terms(rng, runs, 1000, 0.1)
        ruleset = parse_rule_text(bench_match.make_rules(rng, terms), "bench.yaml")
        bench_match.clear_word_memos()
        matcher = Matcher.compile(ruleset)
        for _ in range(passes):
            for doc in docs:
                matcher.match(doc)
        return
    sys.path.insert(0, str(root))
    from monitor import normalize
    from monitor.analysis import FeedContext, findings
    from monitor.match import Matcher
    from monitor.rules import load_rules

    assert data is not None
    feeds = pickle.loads(data.read_bytes())
    ruleset = load_rules([root / "rules"])
    for _ in range(passes):
        normalize.clear_caches()
        matcher = Matcher.compile(ruleset)
        for index, lang, feed_items in feeds:
            findings(matcher, FeedContext(f"Farm {index}", lang), feed_items)


def _parse_farm(root: Path, feeds: int, passes: int) -> int:
    """Parse the bodies of the farm's first `feeds` feeds `passes` times; items per pass."""
    sys.path.insert(0, str(root))
    import feedfarm

    from monitor.errors import ParseError
    from monitor.parse import parse_bytes

    bodies = [(feed.index, feed.body) for feed in feedfarm.build_farm(feeds)]
    headers = {"content-type": "application/rss+xml"}
    items = 0
    for _ in range(passes):
        items = 0
        for index, body in bodies:
            try:
                items += len(parse_bytes(body, headers, f"http://127.0.0.1/feed/{index}.xml").items)
            except ParseError:
                continue
    return items


def _farm_items(root: Path, feeds: int, out: Path) -> None:
    """Parse the farm's first `feeds` feeds with `root`'s parser; pickle (index, lang, items)
    to `out` and print how many items."""
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(root))
    import feedfarm

    from monitor.errors import ParseError
    from monitor.parse import parse_bytes

    parsed_feeds = []
    for feed in feedfarm.build_farm(feeds):
        try:
            parsed = parse_bytes(
                feed.body,
                {"content-type": "application/rss+xml"},
                f"http://127.0.0.1/feed/{feed.index}.xml",
            )
        except ParseError:
            continue
        parsed_feeds.append((feed.index, feed.lang, parsed.items))
    out.write_bytes(pickle.dumps(parsed_feeds))
    print(sum(len(items) for _, _, items in parsed_feeds))


def _instructions(args: list[str]) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    done = subprocess.run([*command, __file__, *args], capture_output=True, text=True)
    found = re.search(r"refs:\s*([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"bench_instructions: valgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", choices=("rss", "farm", "parse", "both", "all", "farm-items"), default="all"
    )
    parser.add_argument("--items", type=int, default=4000, help="rss items")
    parser.add_argument("--feeds", type=int, default=40, help="farm feeds")
    parser.add_argument("--root", type=Path, default=HERE.parent, help="checkout to measure")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--passes", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.child:
        if args.scenario == "farm-items":
            _farm_items(root, args.feeds, args.data)
        else:
            _child(args.scenario, args.items, args.feeds, args.passes, root, args.data)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_instructions: valgrind is not installed")
    common = ["--child", "--root", str(root)]
    if args.scenario in ("rss", "both", "all"):
        rss = ["--scenario", "rss", "--items", str(args.items), *common]
        counts = [_instructions([*rss, "--passes", str(k)]) for k in (0, 1, 2)]
        cold, warm = counts[1] - counts[0], counts[2] - counts[1]
        print(
            f"rss ×{args.items}, 1,000 terms ({root}): cold {cold // args.items:,} "
            f"warm {warm // args.items:,} instructions per item",
            flush=True,
        )
    if args.scenario in ("farm", "both", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "farm.pickle"
            parse = ["--child", "--scenario", "farm-items", "--feeds", str(args.feeds)]
            done = subprocess.run(  # natively: parsing is not what is counted
                [sys.executable, __file__, *parse, "--root", str(root), "--data", str(data)],
                capture_output=True,
                text=True,
                check=True,
            )
            items = int(done.stdout.split()[-1])
            farm = ["--scenario", "farm", "--data", str(data), *common]
            one, two = (_instructions([*farm, "--passes", str(k)]) for k in (1, 2))
        print(
            f"farm ×{args.feeds} feeds ({items:,} items), shipped rules ({root}): "
            f"{(two - one) // items:,} instructions per item (cold, findings)",
            flush=True,
        )
    if args.scenario in ("parse", "all"):
        parse = ["--scenario", "parse", "--feeds", str(args.feeds), *common]
        done = subprocess.run(  # natively, for the number of items
            [sys.executable, __file__, *parse, "--passes", "1"],
            capture_output=True,
            text=True,
            check=True,
        )
        items = int(done.stdout.split()[-1])
        one, two = (_instructions([*parse, "--passes", str(k)]) for k in (1, 2))
        print(
            f"parse ×{args.feeds} farm feeds ({items:,} items, {root}): "
            f"{(two - one) // items:,} instructions per item (parse_bytes, second pass)",
            flush=True,
        )


if __name__ == "__main__":
    main()
