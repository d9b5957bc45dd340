"""Worker processes for parsing and rule matching: a wall-clock timeout, an address-space
cap, no I/O.

feedparser is pure Python and can be driven into minutes of CPU or gigabytes of memory by
one hostile feed, and a thread cannot be stopped. So each parse runs in a child process
(a fresh interpreter: no inherited threads or sockets) that a timeout can kill. Each job runs under
`RLIMIT_AS`; a worker that timed out, died or ran out of memory is replaced. Children also
install an audit hook that refuses sockets, subprocesses and opening anything but Python
modules, so a parser bug cannot turn into a file read or an outbound request.

The same workers run the rules over a feed's new items (`analyse`), so that matching uses
the machine's other core instead of competing with fetching and storing for the daemon's
GIL. A worker compiles the rule set it is sent once and keeps it until the version changes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.analysis import FeedContext, Finding, findings
from monitor.domain import Item, ParsedFeed
from monitor.errors import ParseError
from monitor.match import Matcher
from monitor.rules import RuleSet

__all__ = ["ParsePool", "default_pool", "guid_key", "install_io_guard"]

log = logging.getLogger(__name__)

_MODULE_SUFFIXES = (".py", ".pyc", ".so")
_DENIED_EVENTS = frozenset(
    {
        "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
        "socket.sendto", "urllib.Request", "subprocess.Popen", "os.system", "os.exec",
        "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "ctypes.dlopen",
    }
)  # fmt: skip
_KILL_WAIT_SECONDS = 5.0
# A worker whose peak RSS passed this (a large feed, a hostile one) is replaced after its job:
# CPython rarely hands freed memory back, so it would keep that size while idle.
_RECYCLE_PEAK_RSS_KIB = 256 * 1024


def install_io_guard() -> list[str]:
    """Refuse, in this process, every open() except reading Python modules, and all sockets.

    Returns the list the hook appends each refused attempt to, so callers can report them.
    """
    refused: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode = args[0], args[1]
            if isinstance(path, int):
                return
            name = os.fsdecode(path) if isinstance(path, str | bytes) else str(path)
            writing = isinstance(mode, str) and any(flag in mode for flag in "wax+")
            if writing or not name.endswith(_MODULE_SUFFIXES):
                refused.append(f"open({name!r})")
                raise PermissionError(f"parse worker: open({name!r}) refused")
        elif event in _DENIED_EVENTS:
            refused.append(event)
            raise PermissionError(f"parse worker: {event} refused")

    sys.addaudithook(hook)
    return refused


def guid_key(guid: str) -> int:
    """A small, process-independent key for a guid (`skip` sets sent to the workers)."""
    return zlib.crc32(guid.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class _Analysis:
    """Match a parsed feed's items in the same job, except those whose guid key is in `skip`
    (what the feed held at its last poll). A key that collides only costs a second job."""

    feed: FeedContext
    rules_version: int
    ruleset: RuleSet | None  # sent only when the worker does not hold this version yet
    skip: frozenset[int]


@dataclass(frozen=True)
class _Job:
    body: bytes
    headers: dict[str, str]
    url: str
    lang_hint: str | None
    encoding: str | None
    limits: Any  # ParseLimits; Any keeps this module free of a parse.py import cycle
    analysis: _Analysis | None = None

    def run(self, rules: _WorkerRules) -> Any:
        from monitor.parse import parse_bytes

        parsed = parse_bytes(
            self.body, self.headers, self.url,
            lang_hint=self.lang_hint, encoding=self.encoding, limits=self.limits,
        )  # fmt: skip
        if self.analysis is None:
            return parsed
        a = self.analysis
        try:
            matcher = rules.matcher_for(a.rules_version, a.ruleset)
            chosen = [i for i, item in enumerate(parsed.items) if guid_key(item.guid) not in a.skip]
            found = findings(matcher, a.feed, [parsed.items[i] for i in chosen])
        except MemoryError:
            raise
        except Exception:
            # The feed parsed: the caller matches its items by a separate job, which reports
            # whatever went wrong here, instead of failing the feed.
            return parsed, {}
        return parsed, dict(zip(chosen, found, strict=True))


@dataclass(frozen=True)
class _AnalyseJob:
    items: Sequence[Item]
    feed: FeedContext
    rules_version: int
    ruleset: RuleSet | None  # sent only when the worker does not hold this version yet
    limits: Any

    def run(self, rules: _WorkerRules) -> list[Finding]:
        return findings(rules.matcher_for(self.rules_version, self.ruleset), self.feed, self.items)


class _WorkerRules:
    """The compiled rule set a worker holds (one version at a time)."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.matcher: Matcher | None = None

    def matcher_for(self, version: int, ruleset: RuleSet | None) -> Matcher:
        if ruleset is not None:
            self.version, self.matcher = version, Matcher.compile(ruleset)
        if self.matcher is None or self.version != version:
            raise RuntimeError(f"rule set version {version} was never sent to this worker")
        return self.matcher


def serve_fds(read_fd: int, write_fd: int) -> None:
    """Child main loop: receive a job, run it under the memory cap, send the outcome."""

    # The parent decides when a worker ends: Ctrl-C in a terminal reaches the whole process
    # group, and a worker must not print a KeyboardInterrupt traceback over the daemon's logs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    receiver = multiprocessing.connection.Connection(read_fd, writable=False)
    sender = multiprocessing.connection.Connection(write_fd, readable=False)
    import monitor.parse  # noqa: F401  (imported before the I/O guard is installed)

    peak_rss = _PeakRss()  # opens /proc/self/status before the guard refuses opens
    refused = install_io_guard()
    rules = _WorkerRules()
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    while True:
        try:
            job: _Job | _AnalyseJob = receiver.recv()
        except (EOFError, OSError):
            return
        recycle = False
        try:
            resource.setrlimit(resource.RLIMIT_AS, (job.limits.memory_bytes, hard))
            outcome: tuple[Any, ...] = ("ok", job.run(rules))
        except ParseError as exc:
            outcome = ("error", exc.reason, exc.detail)
        except MemoryError:
            recycle = True
            outcome = ("error", "too-large", f"over {job.limits.memory_bytes} bytes of memory")
        except RecursionError:
            outcome = ("error", "malformed", "nesting too deep")
        except Exception as exc:  # a parser bug must not take the daemon down
            recycle = True
            outcome = ("error", "parse-crashed", f"{type(exc).__name__}: {exc}"[:300])
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        del job
        if peak_rss.kib() > _RECYCLE_PEAK_RSS_KIB:
            recycle = True
        if refused:
            # The parser tried to touch a file or the network: its output cannot be trusted.
            outcome = ("error", "io-refused", "; ".join(refused)[:300])
            refused.clear()
        try:
            sender.send((*outcome[:1], recycle, *outcome[1:]))
        except OSError:  # the parent is gone (killed, or shut the pool): end quietly
            return


class _PeakRss:
    """This process's own peak RSS in KiB.

    Not `ru_maxrss`: exec keeps in it the peak of the process that spawned the worker, so
    once the daemon had grown past the recycle limit, every worker would have been replaced
    after every job. Linux's VmHWM (/proc/self/status) is the peak of this process's own
    memory; the file is opened once, before the I/O guard, and read with pread. Elsewhere
    `ru_maxrss` is all there is."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/self/status", os.O_RDONLY)
        except OSError:
            self._fd = None

    def kib(self) -> int:
        if self._fd is not None:
            for line in os.pread(self._fd, 1 << 16, 0).split(b"\n"):
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class _Worker:
    """One child interpreter (`python -c`, not multiprocessing's spawn: that re-runs the
    parent's main script) talking over a pair of pipes."""

    def __init__(self) -> None:
        from_parent, to_child = os.pipe()  # (read end, write end)
        from_child, to_parent = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        code = f"from monitor.workers import serve_fds; serve_fds({from_parent}, {to_parent})"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                pass_fds=(from_parent, to_parent),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self.sender = multiprocessing.connection.Connection(to_child, readable=False)
        self.receiver = multiprocessing.connection.Connection(from_child, writable=False)
        self.jobs = 0
        self.rules_version: int | None = None  # the rule set this worker holds

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def call(self, job: _Job | _AnalyseJob, deadline: float) -> tuple[Any, ...]:
        """Blocking round trip; runs in a thread. Raises TimeoutError or EOFError."""
        self.sender.send(job)
        if not self.receiver.poll(max(deadline - time.monotonic(), 0)):
            raise TimeoutError
        reply: tuple[Any, ...] = self.receiver.recv()
        return reply

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(_KILL_WAIT_SECONDS)
        self.sender.close()
        self.receiver.close()


class ParsePool:
    """Up to `size` parse workers, started on demand and replaced when they misbehave."""

    def __init__(self, size: int | None = None, *, max_jobs_per_worker: int = 5000) -> None:
        self.size = size or max(1, min(2, os.cpu_count() or 1))
        self.max_jobs_per_worker = max_jobs_per_worker
        self._idle: list[_Worker] = []
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    async def parse(
        self,
        body: bytes,
        headers: Mapping[str, str],
        url: str,
        *,
        lang_hint: str | None,
        encoding: str | None,
        limits: Any,
    ) -> ParsedFeed:
        job = _Job(body, dict(headers), url, lang_hint, encoding, limits)
        parsed: ParsedFeed = await self._run(url, limits, lambda _worker: job)
        return parsed

    async def parse_and_analyse(
        self,
        body: bytes,
        headers: Mapping[str, str],
        url: str,
        *,
        lang_hint: str | None,
        encoding: str | None,
        limits: Any,
        feed: FeedContext,
        rules: tuple[int, RuleSet],
        skip: frozenset[int] = frozenset(),
    ) -> tuple[ParsedFeed, dict[int, Finding]]:
        """Parse, then match every item whose `guid_key` is not in `skip`, in one round trip:
        the feed and the findings by item index."""

        def job(sent: RuleSet | None) -> _Job:
            analysis = _Analysis(feed, rules[0], sent, skip)
            return _Job(body, dict(headers), url, lang_hint, encoding, limits, analysis)

        done: tuple[ParsedFeed, dict[int, Finding]] = await self._run_with_rules(
            url, limits, rules, job
        )
        return done

    async def analyse(
        self,
        items: Sequence[Item],
        feed: FeedContext,
        *,
        rules: tuple[int, RuleSet],
        limits: Any,
        url: str,
    ) -> list[Finding]:
        """The findings of the current rules (`rules` = version, rule set) on `items`."""
        found: list[Finding] = await self._run_with_rules(
            url, limits, rules, lambda sent: _AnalyseJob(items, feed, rules[0], sent, limits)
        )
        return found

    async def warm_up(self, rules: tuple[int, RuleSet], limits: Any) -> int:
        """Start every worker and have it compile `rules` now (while the daemon starts up),
        not when the first feeds come back. Returns how many workers are ready; one that
        failed is started again by the first job that needs it."""
        feed = FeedContext("(warm-up)", None)

        def job(sent: RuleSet | None) -> _AnalyseJob:
            return _AnalyseJob((), feed, rules[0], sent, limits)

        done = await asyncio.gather(
            *(self._run_with_rules("(warm-up)", limits, rules, job) for _ in range(self.size)),
            return_exceptions=True,
        )
        failed = [result for result in done if isinstance(result, BaseException)]
        for result in failed:
            log.debug("workers: a warm-up job failed: %r", result)
        return len(done) - len(failed)

    async def _run_with_rules(
        self,
        url: str,
        limits: Any,
        rules: tuple[int, RuleSet],
        make_job: Callable[[RuleSet | None], _Job | _AnalyseJob],
    ) -> Any:
        """Run the job `make_job` builds, handing it the rule set only when the worker does
        not hold this version yet (None otherwise)."""
        version, ruleset = rules

        def job_for(worker: _Worker) -> _Job | _AnalyseJob:
            held = worker.rules_version == version
            worker.rules_version = None  # unknown until this job succeeds
            return make_job(None if held else ruleset)

        def on_success(worker: _Worker) -> None:
            worker.rules_version = version

        return await self._run(url, limits, job_for, on_success)

    async def _run(
        self,
        url: str,
        limits: Any,
        job_for: Callable[[_Worker], _Job | _AnalyseJob],
        on_success: Callable[[_Worker], None] | None = None,
    ) -> Any:
        budget = limits.timeout.total_seconds()
        # Waiting for a free worker is queueing, not this feed's fault: it has no deadline
        # (the caller's overall poll deadline still applies). FIFO, no busy polling.
        slots = self._slots()
        async with slots:
            worker = await self._checkout(url)
            deadline = time.monotonic() + budget  # the job itself
            healthy = False
            try:
                reply = await asyncio.to_thread(worker.call, job_for(worker), deadline)
                healthy = True
            except TimeoutError as exc:
                raise ParseError(
                    url, "parse-timeout", f"no result within {limits.timeout}"
                ) from exc
            except (EOFError, OSError) as exc:
                code = worker.exitcode
                raise ParseError(url, "parse-crashed", f"worker died (exit code {code})") from exc
            finally:
                self._checkin(worker, healthy)
        status, recycle, *rest = reply
        if recycle:
            self._retire(worker)
        if status == "ok":
            if on_success is not None:
                on_success(worker)
            return rest[0]
        raise ParseError(url, rest[0], rest[1])

    def _slots(self) -> asyncio.Semaphore:
        """One semaphore of `size` per event loop (the pool may outlive a loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            slots = self._semaphores.get(loop)
            if slots is None:
                slots = self._semaphores[loop] = asyncio.Semaphore(self.size)
            return slots

    async def _checkout(self, url: str) -> _Worker:
        with self._lock:
            if self._closed:
                raise ParseError(url, "parse-crashed", "the parse pool is closed")
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            return await asyncio.to_thread(_Worker)
        except BaseException:
            with self._lock:
                self._busy -= 1
            raise

    def _checkin(self, worker: _Worker, healthy: bool) -> None:
        worker.jobs += 1
        keep = healthy and worker.jobs < self.max_jobs_per_worker
        with self._lock:
            self._busy -= 1
            if keep and not self._closed:
                self._idle.append(worker)
                return
        worker.kill()

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            if worker not in self._idle:
                return
            self._idle.remove(worker)
        worker.kill()

    def close(self) -> None:
        """Stop every idle worker; busy ones stop when their job returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_default: ParsePool | None = None
_default_lock = threading.Lock()


def default_pool() -> ParsePool:
    """The process-wide pool `parse_feed` uses; closed at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = ParsePool()
            atexit.register(_default.close)
        return _default
