"""Rule matching in the parse workers: same findings as in the daemon's process, the worker
follows rule-set versions, and a worker that cannot match loses no item."""

from __future__ import annotations

import asyncio
import json
import pickle
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from monitor.analysis import FeedContext, Finding, findings
from monitor.app import App
from monitor.config import Settings, settings_from_text
from monitor.domain import Item, Match, ParsedFeed, TermHit, pickled_by_fields
from monitor.errors import ParseError
from monitor.match import Matcher
from monitor.parse import ParseLimits, parse_bytes
from monitor.rules import RuleSet, load_rules, parse_rule_text
from monitor.workers import ParsePool, _Analysis, _Job, _WorkerRules, guid_key
from storage import feeds as feed_repo
from storage import items as item_repo
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "monitor" / "demo_data" / "feeds"
RSS_HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def demo_items() -> list[Item]:
    items: list[Item] = []
    for name in ("seed-mali-russia-ar.xml", "revue-fr.xml"):
        body = (FEEDS / name).read_bytes()
        items.extend(parse_bytes(body, RSS_HEADERS, f"http://127.0.0.1/{name}").items)
    return items


def analyse_in(pool: ParsePool, items: Sequence[Item], rules: tuple[int, RuleSet]) -> Any:
    return asyncio.run(
        pool.analyse(
            items, FeedContext("Demo", "ar"), rules=rules, limits=ParseLimits(), url="demo"
        )
    )


def one_feed_settings(
    tmp_path: Path, url: str, name: str = "Seed", lang: str = "ar", extra: str = ""
) -> Settings:
    """Settings of a daemon with the shipped rules, one feed and a SQLite file in tmp_path."""
    text = f"""
database: sqlite:///{tmp_path}/rasd.db
rules_dir: {ROOT / "rules"}
feeds:
  - {{url: "{url}", name: {name}, lang: {lang}}}
{extra}"""
    return settings_from_text(text, str(tmp_path / "rasd.yaml"))


def rule_ids(found: list[Finding]) -> list[set[str]]:
    return [{m.rule_id for m in f.matches} for f in found]


def test_worker_findings_equal_the_daemons_own() -> None:
    items = demo_items()
    ruleset = load_rules([ROOT / "rules"])
    expected = findings(Matcher.compile(ruleset), FeedContext("Demo", "ar"), items)
    assert any(f.matches for f in expected) and any(f.entities for f in expected)
    pool = ParsePool(size=1)
    try:
        assert analyse_in(pool, items, (1, ruleset)) == expected
        assert analyse_in(pool, items, (1, ruleset)) == expected  # rules kept, not resent
    finally:
        pool.close()


def test_worker_follows_rule_set_versions() -> None:
    gao = parse_rule_text(
        "rules:\n  - {id: gao, title: Gao, tags: [t], match: {any: [Gao, غاو]}}\n", "a.yaml"
    )
    kidal = parse_rule_text(
        "rules:\n  - {id: kidal, title: Kidal, tags: [t], match: {any: [Kidal, كيدال]}}\n",
        "b.yaml",
    )
    items = [
        Item(guid="1", title="Attaque à Gao", summary="", url=None, published=None, lang="fr"),
        Item(guid="2", title="هجوم في كيدال", summary="", url=None, published=None, lang="ar"),
    ]
    pool = ParsePool(size=1)
    try:
        assert rule_ids(analyse_in(pool, items, (1, gao))) == [{"gao"}, set()]
        assert rule_ids(analyse_in(pool, items, (2, kidal))) == [set(), {"kidal"}]
        assert rule_ids(analyse_in(pool, items, (1, gao))) == [{"gao"}, set()]
    finally:
        pool.close()


class WorkerCannotMatch(ParsePool):
    """A real pool whose workers parse, but whose matching fails as a crashed worker's would."""

    async def parse_and_analyse(
        self, body: bytes, headers: Any, url: str, **kwargs: Any
    ) -> tuple[ParsedFeed, dict[int, Finding]]:
        parsed = await self.parse(
            body, headers, url,
            lang_hint=kwargs["lang_hint"], encoding=kwargs["encoding"], limits=kwargs["limits"],
        )  # fmt: skip
        return parsed, {}  # what a worker whose matching raised sends back

    async def analyse(self, items: Sequence[Item], *args: Any, **kwargs: Any) -> list[Finding]:
        self.failed = len(items)
        raise ParseError("demo", "parse-crashed", "worker died (exit code -9)")


def test_items_are_matched_in_the_daemon_when_the_worker_fails(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    seed = feed_server.add("/seed.xml", (FEEDS / "seed-mali-russia-ar.xml").read_bytes())
    settings = one_feed_settings(
        tmp_path,
        seed,
        extra=f"channels:\n  file: {{type: jsonl, path: {tmp_path}/alerts.jsonl}}\n"
        "routes:\n  - channels: [file]\n",
    )
    pool = WorkerCannotMatch(size=1)

    async def once() -> dict[str, int]:
        async with App(settings, pool=pool) as app:
            return (await app.once()).to_json()

    try:
        report = asyncio.run(once())
    finally:
        pool.close()
    assert pool.failed == report["items_new"] > 0
    assert report["alerts"] > 0
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert {"security", "fuel", "russia"} <= {tag for a in alerts for tag in a["tags"]}
    assert "matching them in the daemon instead" in caplog.text


def test_rule_books_of_one_process_never_share_a_version(tmp_path: Path) -> None:
    """Apps in one process share the workers, which keep a rule set by version."""
    from monitor.rulebook import RuleBook

    books = []
    for name, place in (("a", "Gao"), ("b", "Kidal")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "r.yaml").write_text(
            f"rules:\n  - {{id: {name}, title: T, tags: [t], match: {{any: [{place}]}}}}\n",
            encoding="utf-8",
        )
        book = RuleBook(folder)
        assert book.reload_if_changed()
        books.append(book)
    items = [Item(guid="1", title="Gao", summary="", url=None, published=None)]
    pool = ParsePool(size=1)
    try:
        first, second = (analyse_in(pool, items, book.snapshot()) for book in books)
    finally:
        pool.close()
    assert books[0].version != books[1].version
    assert (rule_ids(first), rule_ids(second)) == ([{"a"}], [set()])


def test_one_job_parses_and_matches_all_but_the_skipped_items() -> None:
    body = (FEEDS / "seed-mali-russia-ar.xml").read_bytes()
    parsed = parse_bytes(body, RSS_HEADERS, "http://127.0.0.1/seed.xml", lang_hint="ar")
    ruleset = load_rules([ROOT / "rules"])
    expected = findings(Matcher.compile(ruleset), FeedContext("Demo", "ar"), parsed.items)
    skip = frozenset(guid_key(item.guid) for item in parsed.items[::2])
    pool = ParsePool(size=1)
    try:
        got, found = asyncio.run(
            pool.parse_and_analyse(
                body, RSS_HEADERS, "http://127.0.0.1/seed.xml",
                lang_hint="ar", encoding=None, limits=ParseLimits(),
                feed=FeedContext("Demo", "ar"), rules=(1, ruleset), skip=skip,
            )
        )  # fmt: skip
    finally:
        pool.close()
    assert got == parsed
    assert sorted(found) == list(range(1, len(parsed.items), 2))
    assert all(found[i] == expected[i] for i in found)


def test_a_job_whose_matching_fails_still_returns_the_feed() -> None:
    body = (FEEDS / "revue-fr.xml").read_bytes()
    never_sent = _Analysis(FeedContext("Demo", "fr"), 7, None, frozenset())
    job = _Job(body, RSS_HEADERS, "http://127.0.0.1/r.xml", "fr", None, ParseLimits(), never_sent)
    parsed, found = job.run(_WorkerRules())
    assert parsed.items and found == {}


class CountingPool(ParsePool):
    def __init__(self) -> None:
        super().__init__(size=1)
        self.skipped: list[int] = []
        self.analyse_jobs = 0

    async def parse_and_analyse(
        self, *args: Any, **kwargs: Any
    ) -> tuple[ParsedFeed, dict[int, Finding]]:
        self.skipped.append(len(kwargs["skip"]))
        return await super().parse_and_analyse(*args, **kwargs)

    async def analyse(self, *args: Any, **kwargs: Any) -> list[Finding]:
        self.analyse_jobs += 1
        return await super().analyse(*args, **kwargs)


def poll_seed_then_again(
    tmp_path: Path, feed_server: FeedServer, serve_again: Callable[[bytes], object]
) -> tuple[dict[str, int], dict[str, int], CountingPool]:
    """Serve the seed feed without validators, poll it, `serve_again(body)`, poll again
    with the same App: both `once` reports, and the (closed) pool that counted the jobs."""
    body = (FEEDS / "seed-mali-russia-ar.xml").read_bytes()
    seed = feed_server.add("/seed.xml", body, etag=False)
    settings = one_feed_settings(tmp_path, seed)
    pool = CountingPool()

    async def twice() -> tuple[dict[str, int], dict[str, int]]:
        async with App(settings, pool=pool) as app:
            first = (await app.once()).to_json()
            serve_again(body)
            return first, (await app.once()).to_json()

    try:
        first, second = asyncio.run(twice())
    finally:
        pool.close()
    return first, second, pool


def test_a_feed_costs_one_worker_job_and_known_items_are_not_matched_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # No ETag and no Last-Modified: every poll gets the whole feed again, here with a
    # changed byte (a build date, say) but the same items.
    first, second, pool = poll_seed_then_again(
        tmp_path,
        feed_server,
        lambda body: feed_server.add("/seed.xml", body + b"\n<!-- built again -->\n", etag=False),
    )
    assert first["items_new"] > 0 and first["alerts"] > 0
    assert second["items_new"] == 0
    assert pool.skipped == [0, first["items_new"]]
    assert pool.analyse_jobs == 0


def test_the_same_body_again_is_not_parsed_again(tmp_path: Path, feed_server: FeedServer) -> None:
    """A server without conditional GET re-sends an unchanged feed: no worker job, the poll
    counts as not modified and as a success, and the feed's RSS ttl still holds."""
    body = (
        (FEEDS / "seed-mali-russia-ar.xml")
        .read_bytes()
        .replace(b"<channel>", b"<channel><ttl>90</ttl>", 1)
    )
    seed = feed_server.add("/seed.xml", body, etag=False)
    settings = one_feed_settings(
        tmp_path, seed, extra="polling: {adaptive: false, interval: 10m, jitter: 0}\n"
    )
    pool = CountingPool()

    async def polls() -> list[tuple[dict[str, int], timedelta]]:
        out = []
        async with App(settings, pool=pool) as app:
            for changed in (False, False, True):
                if changed:
                    feed_server.add("/seed.xml", body.replace(b"</channel>", b" </channel>"))
                report = (await app.once()).to_json()
                with app.sessions.begin() as session:
                    (row,) = feed_repo.list_feeds(session)
                    out.append((report, row.next_poll_at - row.last_success_at))
        return out

    try:
        (first, gap1), (same, gap2), (changed, gap3) = asyncio.run(polls())
    finally:
        pool.close()
    assert first["items_new"] > 0 and first["feeds_not_modified"] == 0
    assert same["feeds_not_modified"] == 1 and same["feed_errors"] == 0
    assert changed["feeds_not_modified"] == 0 and changed["items_new"] == 0
    assert len(pool.skipped) == 2  # the unchanged body cost no job
    assert gap1 == gap2 == gap3 == timedelta(minutes=90)  # the ttl, parsed or remembered


def test_the_same_body_with_other_parse_headers_is_parsed_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Content-Language gives items their language and Content-Location the base of their
    links: the same bytes under another one are not the same answer."""
    first, relabelled, pool = poll_seed_then_again(
        tmp_path,
        feed_server,
        lambda body: feed_server.add(
            "/seed.xml", body, etag=False, headers={"Content-Language": "fr"}
        ),
    )
    assert first["items_new"] > 0
    assert relabelled["feeds_not_modified"] == 0 and relabelled["feed_errors"] == 0
    assert len(pool.skipped) == 2  # parsed again: a second worker job


def test_a_feed_gone_for_good_is_forgotten(tmp_path: Path, feed_server: FeedServer) -> None:
    seed = feed_server.add("/seed.xml", (FEEDS / "seed-mali-russia-ar.xml").read_bytes())
    settings = one_feed_settings(tmp_path, seed)

    async def poll_then_gone() -> tuple[list[int], list[int]]:
        async with App(settings) as app:
            await app.once()
            remembered = [*app.pipeline._last_guids, *app.pipeline._last_body]
            feed_server.add("/seed.xml", b"gone", status=410)
            await app.once()
            return remembered, [*app.pipeline._last_guids, *app.pipeline._last_body]

    remembered, after = asyncio.run(poll_then_gone())
    assert len(remembered) == 2 and after == []


def test_a_restarted_daemon_does_not_match_the_items_it_stored_before(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A fresh process (a restart, or `rasd once` run by cron) takes each feed's recent
    stored items as what the feed carried at its last poll: one job, nothing matched again."""
    seed = feed_server.add(
        "/seed.xml", (FEEDS / "seed-mali-russia-ar.xml").read_bytes(), etag=False
    )
    settings = one_feed_settings(tmp_path, seed)
    pool = CountingPool()

    async def once_per_process() -> list[dict[str, int]]:
        reports = []
        for _ in range(2):
            async with App(settings, pool=pool) as app:
                reports.append((await app.once()).to_json())
        return reports

    try:
        first, second = asyncio.run(once_per_process())
    finally:
        pool.close()
    assert first["items_new"] > 0 and first["alerts"] > 0
    assert second["items_new"] == 0 and second["alerts"] == 0
    assert pool.skipped == [0, first["items_new"]]
    assert pool.analyse_jobs == 0


def test_a_database_that_cannot_list_recent_items_does_not_stop_the_start(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    seed = feed_server.add("/seed.xml", (FEEDS / "seed-mali-russia-ar.xml").read_bytes())
    settings = one_feed_settings(tmp_path, seed)

    def locked(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("SELECT …", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(item_repo, "recent_guids", locked)

    async def once() -> dict[str, int]:
        async with App(settings) as app:
            return (await app.once()).to_json()

    report = asyncio.run(once())
    assert report["items_new"] > 0 and report["alerts"] > 0
    assert "recent items not read ((sqlite3.OperationalError) database is locked)" in caplog.text


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class OneField:
    value: tuple[int, ...]


def test_what_crosses_the_pipe_pickles_by_its_fields() -> None:
    hit = TermHit("Gao", "title", 0, 3, "Gao")
    match = Match("r", "R", "high", ("security",), 2.0, (hit,))
    item = Item(guid="1", title="Gao", summary="", url=None, published=None, lang="fr")
    feed = ParsedFeed("F", (item,), ("w",))
    finding = Finding([match], ("place_gao",), "https://x.example/1", None)
    for value in (OneField((1, 2)), hit, match, item, feed, finding):
        assert value.__reduce__()[0] is type(value)
        assert pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL)) == value


def test_unseen_items_the_worker_skipped_are_matched_before_storing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The worker skips what the feed carried at its last poll; if the database lacks some
    of those (a restore, a failed write), they are matched by a second job, not lost."""
    body = (FEEDS / "revue-fr.xml").read_bytes()
    url = feed_server.add("/revue.xml", body, etag=False)
    settings = one_feed_settings(tmp_path, url, "Revue", "fr")
    items = parse_bytes(body, RSS_HEADERS, url).items
    pool = CountingPool()

    async def poll() -> dict[str, int]:
        async with App(settings, pool=pool) as app:
            claimed = app.claim(due_only=False, limit=10)
            assert [f.name for f in claimed] == ["Revue"]
            # As if an earlier poll had stored every item: the worker matches none of them.
            app.pipeline._last_guids[claimed[0].id] = frozenset(guid_key(i.guid) for i in items)
            app._release(claimed[0].id)
            return (await app.once()).to_json()

    try:
        report = asyncio.run(poll())
    finally:
        pool.close()
    assert report["items_new"] == len(items) > 0 and report["alerts"] > 0
    assert pool.skipped == [len(items)] and pool.analyse_jobs == 1


class JobRecordingPool(ParsePool):
    """A real pool that records, for each job, whether the rule set travelled with it."""

    def __init__(self) -> None:
        super().__init__(size=2)
        self.rules_sent: list[bool] = []

    async def _run(self, url: str, limits: Any, job_for: Any, on_success: Any = None) -> Any:
        def recording(worker: Any) -> Any:
            job = job_for(worker)
            analysis = getattr(job, "analysis", job)
            self.rules_sent.append(getattr(analysis, "ruleset", None) is not None)
            return job

        return await super()._run(url, limits, recording, on_success)


def test_workers_compile_the_rules_while_the_daemon_starts(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """With warm_workers (`rasd run`, `rasd once`), App starts every worker and sends it
    the rules during start-up: the first feed's job finds them compiled."""
    seed = feed_server.add("/seed.xml", (FEEDS / "seed-mali-russia-ar.xml").read_bytes())
    settings = one_feed_settings(tmp_path, seed)
    pool = JobRecordingPool()

    async def start_then_poll() -> tuple[int, list[int | None], dict[str, int]]:
        async with App(settings, pool=pool, warm_workers=True) as app:
            assert app._warm_up is not None
            await app._warm_up
            held = sorted(worker.rules_version or 0 for worker in pool._idle)
            return app.rules.snapshot()[0], held, (await app.once()).to_json()

    try:
        version, held, report = asyncio.run(start_then_poll())
    finally:
        pool.close()
    assert held == [version, version]
    assert pool.rules_sent == [True, True, False]  # two warm-ups, then the feed's job
    assert report["items_new"] > 0 and report["alerts"] > 0


def test_other_commands_start_no_worker(tmp_path: Path, feed_server: FeedServer) -> None:
    seed = feed_server.add("/seed.xml", (FEEDS / "seed-mali-russia-ar.xml").read_bytes())
    pool = JobRecordingPool()

    async def enter() -> None:
        async with App(one_feed_settings(tmp_path, seed), pool=pool) as app:
            assert app._warm_up is None

    try:
        asyncio.run(enter())
    finally:
        pool.close()
    assert pool.rules_sent == [] and pool._idle == []


def test_a_large_daemon_does_not_get_its_workers_recycled_after_every_job() -> None:
    """A worker is replaced when its own peak RSS passed the limit. ru_maxrss would carry the
    peak of the process that spawned it over exec: a daemon past 256 MiB would have seen
    every worker replaced after every job."""
    script = textwrap.dedent(
        """
        import asyncio
        from monitor.analysis import FeedContext
        from monitor.parse import ParseLimits
        from monitor.rules import parse_rule_text
        from monitor.workers import ParsePool

        ballast = bytearray(320 * 1024 * 1024)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        rules = (1, parse_rule_text("rules: [{id: r, title: R, match: Mali}]", "r.yaml"))
        pool = ParsePool(size=1)
        pids = []
        for _ in range(2):
            asyncio.run(
                pool.analyse([], FeedContext("f", None), rules=rules, limits=ParseLimits(), url="u")
            )
            pids.append([worker.process.pid for worker in pool._idle])
        pool.close()
        print(pids[0] == pids[1] and len(pids[0]) == 1)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_a_worker_sees_its_own_memory_peak() -> None:
    """What the recycle check reads grows with the worker's own allocations (a huge feed
    still gets its worker replaced)."""
    script = textwrap.dedent(
        """
        from monitor.workers import _PeakRss
        peak = _PeakRss()
        before = peak.kib()
        ballast = bytearray(96 * 1024 * 1024)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        print(peak.kib() - before)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 90 * 1024
