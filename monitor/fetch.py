"""One capped, conditional GET per feed → FetchResult, or FetchError with a stable reason.

The only module that catches httpx errors. The body is read raw (`aiter_raw`) and decoded
here, because httpx's own decoders have no output limit: a 400-byte brotli body can inflate
to 256 MiB in one chunk. The cap applies to the *decoded* bytes while they stream. httpx's
read timeout is per read, so a slow-drip body is bounded by one overall deadline. Redirects
are followed by hand: the stored URL changes only when every hop was permanent (301/308).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata

import brotli
import httpx

from monitor.backoff import cache_floor, parse_retry_after
from monitor.domain import FeedState, FetchResult
from monitor.errors import FetchError
from monitor.sanitize import safe_url

__all__ = [
    "ACCEPT",
    "USER_AGENT",
    "FetchLimits",
    "Fetcher",
    "cache_floor",
    "make_client",
]


def _version() -> str:
    try:
        return metadata.version("rasd")
    except metadata.PackageNotFoundError:
        return "0.1.0"


USER_AGENT = f"Rasd/{_version()} (+https://github.com/rasd-monitor/rasd)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
# Only codings decoded below with an output cap; never zstd.
ACCEPT_ENCODING = "gzip, deflate, br"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_DROPPED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
_DRAIN_BYTES = 64 * 1024  # unread bodies up to this size are read so the connection is kept
_DRAIN_SECONDS = 1.0


@dataclass(frozen=True)
class FetchLimits:
    max_body_bytes: int = 10 * 2**20  # after decompression
    timeout: timedelta = timedelta(seconds=30)  # the whole fetch, redirects and body included
    connect_timeout: timedelta = timedelta(seconds=10)
    per_host: int = 2  # concurrent requests to one host
    max_redirects: int = 5


def make_client(*, proxy: str | None = None, http2: bool = True) -> httpx.AsyncClient:
    """The shared client: honest User-Agent, no redirects, no decoding surprises.

    Without `proxy`, the usual `HTTP(S)_PROXY`/`ALL_PROXY`/`NO_PROXY` variables apply.
    """
    limits = FetchLimits()
    return httpx.AsyncClient(
        http2=http2,
        proxy=proxy,
        trust_env=True,
        follow_redirects=False,
        timeout=httpx.Timeout(
            limits.timeout.total_seconds(), connect=limits.connect_timeout.total_seconds()
        ),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
    )


class Fetcher:
    """Fetches feeds through one shared client, at most `per_host` at a time per host."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: FetchLimits = FetchLimits(),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.limits = limits
        self._clock = clock
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def fetch(
        self, feed: FeedState, *, proxy_client: httpx.AsyncClient | None = None
    ) -> FetchResult:
        client = proxy_client or self.client
        if safe_url(feed.url) is None:
            raise FetchError(feed.url, "invalid-url", "only absolute http(s) URLs are fetched")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.limits.timeout.total_seconds()):
                result = await self._follow(client, feed)
        except TimeoutError as exc:
            raise FetchError(
                feed.url, "timeout", f"no complete answer within {self.limits.timeout}"
            ) from exc
        return _with_elapsed(result, timedelta(seconds=time.monotonic() - started))

    async def _follow(self, client: httpx.AsyncClient, feed: FeedState) -> FetchResult:
        url = feed.url
        permanent = True
        for _hop in range(self.limits.max_redirects + 1):
            request = self._request(client, url, feed)
            async with self._host_slot(request.url):
                try:
                    response = await client.send(request, stream=True)
                except httpx.TimeoutException as exc:
                    raise FetchError(feed.url, "timeout", _describe(exc)) from exc
                except (httpx.ConnectError, httpx.ProxyError) as exc:
                    raise FetchError(feed.url, "connect", _describe(exc)) from exc
                except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                    # httpx builds the next request of a redirect even when not following it
                    raise FetchError(feed.url, "invalid-url", _describe(exc)) from exc
                except httpx.HTTPError as exc:
                    raise FetchError(feed.url, "connect", _describe(exc)) from exc
                try:
                    status = response.status_code
                    if status in _REDIRECTS:
                        url = self._redirect_target(feed.url, response)
                        permanent = permanent and status in _PERMANENT
                        continue
                    return await self._conclude(feed, url, permanent, response)
                finally:
                    await _drain(response)
                    await response.aclose()
        raise FetchError(
            feed.url, "too-many-redirects", f"more than {self.limits.max_redirects} redirects"
        )

    def _request(self, client: httpx.AsyncClient, url: str, feed: FeedState) -> httpx.Request:
        headers = {}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        try:
            return client.build_request("GET", url, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise FetchError(feed.url, "invalid-url", _describe(exc)) from exc

    def _redirect_target(self, origin: str, response: httpx.Response) -> str:
        location = response.headers.get("location", "").strip()
        if not location:
            raise FetchError(
                origin, f"http-{response.status_code}", "redirect without Location",
                status=response.status_code,
            )  # fmt: skip
        target = safe_url(location, base=str(response.url))
        if target is None:
            raise FetchError(origin, "invalid-url", f"redirect to a non-http(s) URL: {location!r}")
        return target

    async def _conclude(
        self, feed: FeedState, url: str, permanent: bool, response: httpx.Response
    ) -> FetchResult:
        status = response.status_code
        now = self._clock()
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        headers = {
            key.lower(): value
            for key, value in response.headers.items()
            if key.lower() not in _DROPPED_HEADERS
        }
        moved = url if permanent and url != feed.url else None
        if status == 304:
            body = None
        elif 200 <= status < 300:
            body = await self._read_body(feed.url, response)
        else:
            raise FetchError(
                feed.url, f"http-{status}", _status_detail(response),
                retry_after=retry_after, status=status,
            )  # fmt: skip
        return FetchResult(
            url=feed.url,
            final_url=url,
            status=status,
            body=body,
            headers=headers,
            etag=response.headers.get("etag") or (feed.etag if status == 304 else None),
            last_modified=response.headers.get("last-modified")
            or (feed.last_modified if status == 304 else None),
            permanent_redirect=moved,
            retry_after=retry_after,
        )

    async def _read_body(self, origin: str, response: httpx.Response) -> bytes:
        cap = self.limits.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(origin, "too-large", f"Content-Length {declared} > {cap} bytes")
        decoder = _decoder_chain(origin, response.headers.get("content-encoding", ""), cap)
        parts: list[bytes] = []
        size = 0
        raw = 0
        try:
            async for chunk in response.aiter_raw():
                raw += len(chunk)
                if raw > cap:
                    raise FetchError(origin, "too-large", f"over {cap} bytes on the wire")
                data = decoder.feed(chunk, cap - size)
                size += len(data)
                parts.append(data)
            data = decoder.finish(cap - size)
        except _TooLarge as exc:
            raise FetchError(origin, "too-large", f"body over {cap} bytes decoded") from exc
        except (zlib.error, brotli.error) as exc:
            raise FetchError(origin, "bad-encoding", _describe(exc)) from exc
        except httpx.TimeoutException as exc:
            raise FetchError(origin, "timeout", _describe(exc)) from exc
        except httpx.HTTPError as exc:
            raise FetchError(origin, "connect", _describe(exc)) from exc
        parts.append(data)
        return b"".join(parts)

    def _host_slot(self, url: httpx.URL) -> asyncio.Semaphore:
        key = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        slot = self._hosts.get(key)
        if slot is None:
            slot = self._hosts[key] = asyncio.Semaphore(self.limits.per_host)
        return slot


class _TooLarge(Exception):
    pass


class _Decoder:
    """One content coding, decoded with a cap on its output."""

    def feed(self, data: bytes, budget: int) -> bytes:
        raise NotImplementedError

    def finish(self, budget: int) -> bytes:
        return b""


class _Identity(_Decoder):
    def feed(self, data: bytes, budget: int) -> bytes:
        if len(data) > budget:
            raise _TooLarge
        return data


class _Zlib(_Decoder):
    """gzip (several members allowed) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._raw_fallback = not gzip
        self._obj = zlib.decompressobj(32 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes, budget: int) -> bytes:
        out = bytearray()
        while data:
            try:
                chunk = self._obj.decompress(data, budget - len(out) + 1)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                self._raw_fallback = False
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            out += chunk
            if len(out) > budget:
                raise _TooLarge
            data = self._obj.unused_data if self._gzip and self._obj.eof else b""
            if data:
                self._obj = zlib.decompressobj(32 + zlib.MAX_WBITS)
        return bytes(out)

    def finish(self, budget: int) -> bytes:
        out = self._obj.flush(budget + 1)
        if len(out) > budget:
            raise _TooLarge
        return out


class _Brotli(_Decoder):
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes, budget: int) -> bytes:
        out = bytearray(self._obj.process(data, output_buffer_limit=budget + 1))
        while len(out) <= budget and not self._obj.can_accept_more_data():
            more = self._obj.process(b"", output_buffer_limit=budget - len(out) + 1)
            if not more:
                break
            out += more
        if len(out) > budget:
            raise _TooLarge
        return bytes(out)


class _Chain(_Decoder):
    """Codings are listed in the order applied, so they are undone from the last."""

    def __init__(self, decoders: list[_Decoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes, budget: int) -> bytes:
        for decoder in self._decoders:
            data = decoder.feed(data, budget)
        return data

    def finish(self, budget: int) -> bytes:
        data = b""
        for decoder in self._decoders:
            data = (decoder.feed(data, budget) if data else b"") + decoder.finish(budget)
            if len(data) > budget:
                raise _TooLarge
        return data


def _decoder_chain(origin: str, header: str, cap: int) -> _Chain:
    decoders: list[_Decoder] = []
    for coding in reversed([c.strip().lower() for c in header.split(",") if c.strip()]):
        if coding in ("gzip", "x-gzip"):
            decoders.append(_Zlib(gzip=True))
        elif coding == "deflate":
            decoders.append(_Zlib(gzip=False))
        elif coding == "br":
            decoders.append(_Brotli())
        elif coding != "identity":
            raise FetchError(origin, "bad-encoding", f"unsupported Content-Encoding {coding!r}")
    return _Chain(decoders or [_Identity()])


async def _drain(response: httpx.Response) -> None:
    """Read the rest of a small unread body (304, redirect, error page): httpcore reuses a
    connection only after the whole response went through it, and closes it otherwise.
    Never while the fetch is being cancelled (its deadline passed), and within its own
    short deadline, so a slow body cannot outlive the fetch."""
    task = asyncio.current_task()
    if response.is_stream_consumed or (task is not None and task.cancelling()):
        return
    declared = response.headers.get("content-length", "")
    if response.status_code not in (204, 304) and not (
        declared.isdigit() and int(declared) <= _DRAIN_BYTES
    ):
        return
    with contextlib.suppress(httpx.HTTPError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _chunk in response.aiter_raw():
                pass


def _status_detail(response: httpx.Response) -> str:
    if response.status_code == 410:
        return "gone: the feed was removed"
    return response.reason_phrase or ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _with_elapsed(result: FetchResult, elapsed: timedelta) -> FetchResult:
    return replace(result, elapsed=elapsed)
