"""Serve the hostile-feeds corpus from a local FeedServer and run it through Fetcher + parse_feed.

Used in process by test_hostile_feeds.py, and as a script for the memory measurement:
`python -m tests.monitor.hostile_corpus adversarial` prints one JSON document with every
file's outcome and the peak RSS of the run (itself and its reaped parse workers).
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.domain import FeedState, ParsedFeed
from monitor.errors import FetchError, ParseError
from monitor.fetch import Fetcher, FetchLimits, make_client
from monitor.parse import parse_feed
from monitor.workers import default_pool
from tests.feedserver import FeedServer

CORPUS = Path(__file__).parents[1] / "fixtures" / "hostile-feeds"
_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
_CODECS = ("utf-8", "utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


@dataclass(frozen=True)
class Case:
    name: str  # path inside the corpus
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def upstream_cases() -> list[Case]:
    """feedparser's test files, each with the response headers its `Header:` lines ask for."""
    cases = []
    for path in sorted((CORPUS / "tests").rglob("*")):
        if path.is_file():
            body = path.read_bytes()
            headers = {"Content-Type": "text/xml"} | _declared_headers(body)
            cases.append(Case(str(path.relative_to(CORPUS)), body, headers))
    return cases


def adversarial_cases() -> list[Case]:
    manifest = json.loads((CORPUS / "adversarial-manifest.json").read_bytes())
    cases = []
    for entry in manifest["files"]:
        headers = {"Content-Type": entry["serve_content_type"]}
        if entry["serve_content_encoding"]:
            headers["Content-Encoding"] = entry["serve_content_encoding"]
        body = (CORPUS / "adversarial" / entry["file"]).read_bytes()
        cases.append(Case(f"adversarial/{entry['file']}", body, headers))
    return cases


def _declared_headers(body: bytes) -> dict[str, str]:
    for codec in _CODECS:
        text = body[:4096].decode(codec, "ignore")
        found = _COMMENT.search(text)
        if found and "Description:" in found.group(1):
            headers = {}
            for line in found.group(1).splitlines():
                if line.strip().startswith("Header:"):
                    name, _, value = line.split(":", 1)[1].partition(":")
                    # http.server writes headers as latin-1: send non-latin-1 text as raw UTF-8
                    raw = value.strip().encode("utf-8").decode("latin-1")
                    headers[name.strip()] = raw
            return headers
    return {}


def outcome_of(case: Case, result: ParsedFeed | BaseException, seconds: float) -> dict[str, Any]:
    """A JSON-able record: outcome, reason, and every string that would be stored."""
    record: dict[str, Any] = {"name": case.name, "seconds": round(seconds, 3)}
    if isinstance(result, FetchError | ParseError):
        stage = "fetch" if isinstance(result, FetchError) else "parse"
        return record | {"outcome": f"{stage}-error", "reason": result.reason}
    if isinstance(result, BaseException):
        return record | {"outcome": "crash", "reason": f"{type(result).__name__}: {result}"}
    items = [
        {
            "guid": item.guid,
            "url": item.url,
            "title": item.title,
            "summary": item.summary,
            "author": item.author,
            "lang": item.lang,
            "published": item.published.isoformat() if item.published else None,
            "tz": str(item.published.tzinfo) if item.published else None,
        }
        for item in result.items
    ]
    return record | {
        "outcome": "ok",
        "title": result.title,
        "warnings": list(result.warnings),
        "ttl": result.ttl.total_seconds() if result.ttl else None,
        "items": items,
    }


async def run_cases(cases: list[Case], *, concurrency: int = 8) -> list[dict[str, Any]]:
    """Serve every case from one local server and fetch + parse each, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    with FeedServer() as server:
        for case in cases:
            server.add("/" + case.name, case.body, headers=dict(case.headers))
        async with make_client() as client:
            fetcher = Fetcher(client, FetchLimits(per_host=concurrency))

            async def one(index: int, case: Case) -> dict[str, Any]:
                state = FeedState(id=index, url=server.url("/" + case.name), name=case.name)
                async with gate:
                    started = time.monotonic()
                    try:
                        result: ParsedFeed | BaseException = await parse_feed(
                            await fetcher.fetch(state)
                        )
                    except (FetchError, ParseError) as exc:
                        result = exc
                    except Exception as exc:  # recorded so the test can name the file
                        result = exc
                    return outcome_of(case, result, time.monotonic() - started)

            return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(cases))))


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "adversarial"
    cases = adversarial_cases() if which == "adversarial" else upstream_cases()
    started = time.monotonic()
    outcomes = asyncio.run(run_cases(cases, concurrency=4))
    default_pool().close()  # kills and reaps the workers, so RUSAGE_CHILDREN includes them
    own = _vm_hwm_kib() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    json.dump(
        {
            "seconds": round(time.monotonic() - started, 2),
            "maxrss_self_kib": own,
            "maxrss_children_kib": children,
            "outcomes": outcomes,
        },
        sys.stdout,
        ensure_ascii=False,
    )


def _vm_hwm_kib() -> int | None:
    """This process's own peak RSS. ru_maxrss survives exec, so a runner forked from a large
    pytest process would report pytest's size; VmHWM belongs to the new address space."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


if __name__ == "__main__":
    main()
