"""One feed end to end: fetch, parse, match, dedup, store. Owns the transaction that writes
items, matches, alerts and their deliveries together (the outbox)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
from sqlalchemy.orm import Session, sessionmaker

from monitor import backoff
from monitor.alerting import AlertCandidate, combine_matches, needs_alert
from monitor.analysis import Analysed, FeedContext, Finding, MatcherLike, analyse_items, join
from monitor.dedup import StoryIndex
from monitor.domain import FeedState, FetchResult, Item, Match, ParsedFeed
from monitor.errors import FetchError, ParseError
from monitor.fetch import Fetcher
from monitor.metrics import METRICS
from monitor.parse import HEADERS_READ, ParseLimits, parse_feed
from monitor.rules import RuleSet
from monitor.workers import ParsePool, default_pool, guid_key
from notifiers.routes import RouteLike, in_quiet_hours, quiet_hours_end, route_alert
from storage import alerts as alert_repo
from storage import deliveries as delivery_repo
from storage import feeds as feed_repo
from storage import items as item_repo
from storage.models import MatchRow
from storage.upsert import insert_ignore_many

__all__ = ["Analysed", "Filed", "Pipeline", "PipelineSettings", "PollOutcome", "utcnow"]

log = logging.getLogger("rasd.pipeline")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    feed_id: int
    feed: str
    url: str
    status: str  # ok | not-modified | error
    items_seen: int = 0
    items_new: int = 0
    alerts_new: int = 0
    reason: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    interval: timedelta = timedelta(minutes=15)
    min_interval: timedelta = timedelta(minutes=2)
    max_interval: timedelta = timedelta(hours=6)
    adaptive: bool = True
    jitter: float = 0.1
    error_backoff_max: timedelta = timedelta(hours=6)
    parse_limits: ParseLimits = field(default_factory=ParseLimits)
    delivery_timezone: str = "Africa/Bamako"
    quiet_hours: str | None = None
    story_updates: bool = False  # a new outlet on an alerted story notifies again
    feed_intervals: dict[int, timedelta] = field(default_factory=dict)  # feed id → configured


@dataclass(frozen=True, slots=True)
class Filed:
    story_id: int | None
    alert_id: int | None  # a new alert was raised
    rule_id: str | None


class Pipeline:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        fetcher: Fetcher,
        matcher: Callable[[], MatcherLike],
        routes: Sequence[RouteLike],
        stories: StoryIndex,
        settings: PipelineSettings,
        proxy_clients: Mapping[int, httpx.AsyncClient] | None = None,
        rules: Callable[[], tuple[int, RuleSet]] | None = None,
        pool: ParsePool | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._fetcher = fetcher
        self._matcher = matcher
        # With `rules` (version, rule set), new items are matched in the parse workers.
        self._rules = rules
        self._pool = pool
        self._routes = routes
        self._stories = stories
        self._proxy_clients = proxy_clients or {}  # feed id → client of its own proxy
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._story_lock = asyncio.Lock()
        # Feed id → guid keys of the items its last stored poll carried: the workers skip
        # matching those (they are stored), so a feed costs one worker round trip, not two.
        self._last_guids: dict[int, frozenset[int]] = {}
        # Feed id → (what its last stored poll parsed, that feed's RSS ttl): a server that
        # ignores conditional GET and sends the same body again costs no parse.
        self._last_body: dict[int, tuple[tuple[object, ...], timedelta | None]] = {}

    def remember_guids(self, guids_by_feed: Mapping[int, Iterable[str]]) -> None:
        """Take these as what each feed carried at its last poll (a restarted daemon, or
        `rasd once`, seeds them from the database), so its workers skip matching them."""
        for feed_id, guids in guids_by_feed.items():
            self._last_guids[feed_id] = frozenset(map(guid_key, guids))

    async def poll_feed(self, feed: FeedState) -> PollOutcome:
        started = time.monotonic()
        try:
            result = await self._fetcher.fetch(feed, proxy_client=self._proxy_clients.get(feed.id))
        except FetchError as exc:
            return await asyncio.to_thread(
                self._record_error, feed, exc.reason, str(exc), exc.retry_after
            )
        finally:
            METRICS.fetch_seconds.observe(time.monotonic() - started)
        if result.not_modified:
            await asyncio.to_thread(self._record_success, feed, result, None, 0)
            return PollOutcome(feed.id, feed.name, feed.url, "not-modified")
        body = _body_signature(feed, result)
        last = self._last_body.get(feed.id)
        if last is not None and last[0] == body:
            await asyncio.to_thread(self._record_success, feed, result, last[1], 0)
            return PollOutcome(feed.id, feed.name, feed.url, "not-modified")
        try:
            parsed, early = await self._parse(feed, result)
        except ParseError as exc:
            return await asyncio.to_thread(self._record_error, feed, exc.reason, str(exc), None)
        for warning in parsed.warnings:
            log.info("parse: %s: %s", feed.url, warning, extra={"feed": feed.name})
        # Story lookups and inserts are serialised so two feeds carrying one story at the same
        # moment still join one story in this process.
        try:
            async with self._story_lock:
                new_items, new_alerts = await asyncio.to_thread(
                    self._store, feed, result, parsed, partial(_matched_fresh, feed, parsed, early)
                )
        except _Unmatched as unmatched:
            # Some items the database lacks were skipped by the worker (it thought them
            # stored): match those now, then store. Rare: a restart, a worker that failed.
            fresh = unmatched.fresh
            missing = [i for i in fresh if i not in early]
            late = await self._analyse_new(feed, [parsed.items[i] for i in missing])
            by_index = dict(zip(missing, late, strict=True))
            analysed = [
                by_index[i] if i in by_index else Analysed.of(parsed.items[i], early[i])
                for i in fresh
            ]
            async with self._story_lock:
                new_items, new_alerts = await asyncio.to_thread(
                    self._store, feed, result, parsed, lambda _session: analysed
                )
        self._last_guids[feed.id] = frozenset(guid_key(item.guid) for item in parsed.items)
        self._last_body[feed.id] = (body, parsed.ttl)
        return PollOutcome(
            feed.id,
            feed.name,
            feed.url,
            "ok",
            items_seen=len(parsed.items),
            items_new=new_items,
            alerts_new=new_alerts,
        )

    # --- pure-ish steps -----------------------------------------------------------------

    async def _parse(
        self, feed: FeedState, result: FetchResult
    ) -> tuple[ParsedFeed, dict[int, Finding]]:
        """The feed, and the findings of the current rules on the items it did not carry at
        its last poll (by item index), matched by the same worker job that parsed it."""
        s = self._settings
        if self._rules is None or result.body is None:
            parsed = await parse_feed(
                result, lang_hint=feed.lang, encoding=feed.encoding, limits=s.parse_limits,
                pool=self._pool,
            )  # fmt: skip
            return parsed, {}
        return await (self._pool or default_pool()).parse_and_analyse(
            result.body, result.headers, result.final_url,
            lang_hint=feed.lang, encoding=feed.encoding, limits=s.parse_limits,
            feed=_context(feed), rules=self._rules(),
            skip=self._last_guids.get(feed.id, frozenset()),
        )  # fmt: skip

    def analyse(self, feed: FeedState, items: list[Item]) -> list[Analysed]:
        """Match `items` in this process, with the current rules."""
        return analyse_items(self._matcher(), _context(feed), items)

    async def _analyse_new(self, feed: FeedState, items: list[Item]) -> list[Analysed]:
        """Match new items in a parse worker (the other core); in this process if none can."""
        if not items:
            return []
        if self._rules is not None:
            try:
                found = await (self._pool or default_pool()).analyse(
                    items,
                    _context(feed),
                    rules=self._rules(),
                    limits=self._settings.parse_limits,
                    url=feed.url,
                )
                return join(items, found)
            except ParseError as exc:
                log.warning(
                    "rules: matching %d items of %s in a worker failed (%s: %s); "
                    "matching them in the daemon instead",
                    len(items),
                    feed.name,
                    exc.reason,
                    exc.detail,
                    extra={"feed": feed.name, "reason": exc.reason},
                )
        return await asyncio.to_thread(self.analyse, feed, items)

    def _next_poll(
        self, feed: FeedState, floor: timedelta | None, session: Session, now: datetime
    ) -> datetime:
        s = self._settings
        interval = s.feed_intervals.get(feed.id)
        if interval is None:
            interval = s.interval
            if s.adaptive:
                week = feed_repo.items_since(session, feed.id, now - timedelta(days=7))
                interval = (
                    backoff.adaptive_interval(week, minimum=s.min_interval, maximum=s.max_interval)
                    if week
                    else min(s.interval, s.max_interval)
                )
        return backoff.next_poll(now, interval, self._rng, jitter=s.jitter, floor=floor)

    # --- storage --------------------------------------------------------------------------

    def _record_error(
        self, feed: FeedState, reason: str, message: str, retry_after: timedelta | None
    ) -> PollOutcome:
        now = self._clock()
        with self._sessions.begin() as session:
            row = feed_repo.get_feed(session, feed.id)
            errors = (row.consecutive_errors if row else 0) + 1
            delay = backoff.error_backoff(
                errors, self._rng, ceiling=self._settings.error_backoff_max
            )
            if retry_after is not None:
                delay = max(delay, retry_after)
            gone = reason == "http-410"
            feed_repo.mark_error(
                session,
                feed.id,
                now,
                reason=reason,
                message=message,
                next_poll_at=now + delay,
                disable=gone,
            )
        if gone:  # never polled again by this process: forget what it carried
            self._last_guids.pop(feed.id, None)
            self._last_body.pop(feed.id, None)
            log.warning(
                "fetch: %s (%s): gone (HTTP 410): feed disabled",
                feed.name,
                feed.url,
                extra={"feed": feed.name, "reason": reason},
            )
        else:
            log.warning(
                "%s [feed %s, error %d, next try in %s]",
                message,
                feed.name,
                errors,
                _human(delay),
                extra={"feed": feed.name, "reason": reason},
            )
        return PollOutcome(feed.id, feed.name, feed.url, "error", reason=reason, error=message)

    def _record_success(
        self,
        feed: FeedState,
        result: FetchResult,
        ttl: timedelta | None,  # the feed's RSS ttl, a floor like Cache-Control's
        new_items: int,
        session: Session | None = None,
    ) -> None:
        now = self._clock()
        floor = backoff.cache_floor(result.headers, now)
        if ttl is not None:
            floor = max(floor or timedelta(0), ttl)

        def write(s: Session) -> None:
            feed_repo.mark_success(
                s,
                feed.id,
                now,
                next_poll_at=self._next_poll(feed, floor, s, now),
                etag=result.etag,
                last_modified=result.last_modified,
                new_url=result.permanent_redirect,
                new_items=new_items,
            )

        if session is not None:
            write(session)
        else:
            with self._sessions.begin() as s:
                write(s)
        if result.permanent_redirect:
            log.info(
                "fetch: %s moved permanently to %s: stored URL updated",
                feed.url,
                result.permanent_redirect,
            )

    def _store(
        self,
        feed: FeedState,
        result: FetchResult,
        parsed: ParsedFeed,
        fresh: Callable[[Session], list[Analysed]],
    ) -> tuple[int, int]:
        """Store the items `fresh` picks (inside this transaction) as new: (items, alerts)."""
        now = self._clock()
        new_items = new_alerts = 0
        index_later: list[tuple[int, int, Analysed]] = []
        raised: list[tuple[int, str]] = []
        with self._sessions.begin() as session:
            analysed = fresh(session)
            # Most new items fire no rule: one bulk insert for them (they were just checked
            # to be unseen), the careful per-item path only for those that fired.
            plain = [(e.item, e.canonical, e.entities) for e in analysed if not e.matches]
            item_repo.add_items_unmatched(session, feed.id, plain, now)
            new_items += len(plain)
            for entry in analysed:
                if not entry.matches:
                    continue
                item = entry.item
                item_id = item_repo.add_item(
                    session,
                    feed.id,
                    item,
                    now,
                    canonical_url=entry.canonical,
                    fingerprint=entry.fingerprint.to_json() if entry.fingerprint else None,
                    entities=entry.entities,
                    pruned_checked=True,  # known_guids was asked in this transaction
                )
                if item_id is None:
                    continue
                new_items += 1
                outcome = self.file_item(session, feed, item_id, entry, now)
                if outcome.story_id is not None:
                    index_later.append((item_id, outcome.story_id, entry))
                if outcome.alert_id is not None:
                    new_alerts += 1
                    raised.append((outcome.alert_id, outcome.rule_id or ""))
            self._record_success(feed, result, parsed.ttl, new_items, session)
        for alert_id, rule_id in raised:
            log.info(
                "pipeline: alert %d: rule %s fired on an item of %s",
                alert_id,
                rule_id,
                feed.name,
                extra={"feed": feed.name, "rule": rule_id, "alert": alert_id},
            )
        for item_id, story_id, entry in index_later:
            for match in entry.matches:
                METRICS.matches.labels(match.rule_id).inc()
            self.index_story_item(item_id, story_id, entry, feed.lang, now)
        return new_items, new_alerts

    def file_item(
        self, session: Session, feed: FeedState, item_id: int, entry: Analysed, now: datetime
    ) -> Filed:
        """Put a stored item that fired rules into its story, record the matches, and raise
        (with its deliveries) the alert the story needs, if any."""
        if entry.fingerprint is None or not entry.matches:  # no rule fired: no story
            return Filed(None, None, None)
        story_id, sources, new_story = self._join_story(session, feed, entry, now)
        item_repo.set_story(session, item_id, story_id)
        insert_ignore_many(
            session,
            MatchRow.__table__,  # type: ignore[arg-type]
            [
                {
                    "item_id": item_id,
                    "rule_id": match.rule_id,
                    "score": match.score,
                    "hits": alert_repo.hits_to_json(match.hits),
                    "created_at": now,
                }
                for match in entry.matches
            ],
        )
        candidate = combine_matches(entry.matches)
        if candidate is None or not needs_alert(
            # A story created in this transaction has no alerts yet: no need to ask.
            candidate,
            None if new_story else alert_repo.story_alerts(session, story_id),
        ):
            return Filed(story_id, None, None)
        alert_id, created = alert_repo.get_or_add_alert(
            session,
            candidate,
            story_id=story_id,
            item_id=item_id,
            item=entry.item,
            feed=feed.name,
            sources=sources,
            now=now,
        )
        if not created:
            return Filed(story_id, None, None)
        delivery_repo.add_deliveries(
            session,
            alert_id,
            self.plan_deliveries(candidate, entry.item.lang or feed.lang, now),
            now,
        )
        return Filed(story_id, alert_id, candidate.rule_id)

    def index_story_item(
        self, item_id: int, story_id: int, entry: Analysed, lang: str | None, now: datetime
    ) -> None:
        """After commit: make the item findable by later reports of its story."""
        self._stories.add(
            key=str(item_id),
            story_id=story_id,
            lang=entry.item.lang or lang,
            title=entry.item.title,
            summary=entry.item.summary,
            published=entry.item.published or now,
            entities=frozenset(entry.entities),
            url=entry.canonical,
            fingerprint=entry.fingerprint,
        )

    def _join_story(
        self, session: Session, feed: FeedState, entry: Analysed, now: datetime
    ) -> tuple[int, list[str], bool]:
        """(story id, its sources, whether the story is new)."""
        item = entry.item
        found = self._stories.find(
            lang=item.lang or feed.lang,
            title=item.title,
            summary=item.summary,
            published=item.published or now,
            entities=frozenset(entry.entities),
            url=entry.canonical,
            fingerprint=entry.fingerprint,
        )
        if found is not None:
            sources, grown = alert_repo.add_story_source(session, found.story_id, feed.name, now)
            if grown and self._settings.story_updates:
                delivery_repo.add_update_deliveries(session, grown, now)
            return found.story_id, sources, False
        return alert_repo.add_story(session, item, feed.name, now), [feed.name], True

    def plan_deliveries(
        self, match: Match | AlertCandidate, lang: str | None, now: datetime
    ) -> list[delivery_repo.PlannedDelivery]:
        from monitor.schedule import next_digest_time

        s = self._settings
        held_until: datetime | None = None
        if match.severity in ("low", "medium") and in_quiet_hours(
            now, s.quiet_hours, s.delivery_timezone
        ):
            assert s.quiet_hours is not None
            held_until = quiet_hours_end(now, s.quiet_hours, s.delivery_timezone)
        planned = []
        for target in route_alert(
            self._routes,
            severity=match.severity,
            tags=match.tags,
            rules=match.rules if isinstance(match, AlertCandidate) else (match.rule_id,),
            lang=lang,
        ):
            if target.mode == "digest":
                due = next_digest_time(self._routes[target.route], now)
            else:
                due = held_until or now
            planned.append(
                delivery_repo.PlannedDelivery(target.channel, target.mode, target.route, due)
            )
        return planned


class _Unmatched(Exception):
    """Raised inside the storing transaction (which then writes nothing): these unseen
    items (indices) have no findings yet."""

    def __init__(self, fresh: list[int]) -> None:
        super().__init__(f"{len(fresh)} unseen items")
        self.fresh = fresh


def _matched_fresh(
    feed: FeedState, parsed: ParsedFeed, found: Mapping[int, Finding], session: Session
) -> list[Analysed]:
    """The items this feed has not stored, with the worker's findings; _Unmatched if some
    lack them. Asked in the storing transaction, so a re-poll costs no separate read."""
    known = item_repo.known_guids(session, feed.id, [item.guid for item in parsed.items])
    fresh = [i for i, item in enumerate(parsed.items) if item.guid not in known]
    if any(i not in found for i in fresh):
        raise _Unmatched(fresh)
    return [Analysed.of(parsed.items[i], found[i]) for i in fresh]


def _body_signature(feed: FeedState, result: FetchResult) -> tuple[object, ...]:
    """Everything a parse of this answer depends on: the same signature, the same items.
    A 128-bit hash, so that a changed body is never taken for the last one."""
    assert result.body is not None
    return (
        hashlib.blake2b(result.body, digest_size=16).digest(),
        *(result.headers.get(name) for name in HEADERS_READ),
        result.final_url,
        feed.encoding,
        feed.lang,
    )


def _context(feed: FeedState) -> FeedContext:
    return FeedContext(feed.name, feed.lang, feed.tags)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
