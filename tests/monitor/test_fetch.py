"""Fetcher against a real HTTP server on 127.0.0.1 (tests/feedserver.py)."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TypeVar

import brotli
import pytest

from monitor.domain import FeedState, FetchResult
from monitor.errors import FetchError
from monitor.fetch import USER_AGENT, Fetcher, FetchLimits, make_client
from monitor.parse import parse_feed
from tests.feedserver import FeedServer
from tests.h2server import H2Server

T = TypeVar("T")
DEFAULT = FetchLimits()
ADVERSARIAL = Path(__file__).parents[1] / "fixtures" / "hostile-feeds" / "adversarial"
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>Bamako</title><link>https://example.invalid/1</link></item></channel></rss>"
)


def run(factory: Callable[[Fetcher], Awaitable[T]], limits: FetchLimits = DEFAULT) -> T:
    async def main() -> T:
        async with make_client() as client:
            return await factory(Fetcher(client, limits))

    return asyncio.run(main())


def feed(url: str, **kwargs: object) -> FeedState:
    return FeedState(id=1, url=url, name="test", **kwargs)  # type: ignore[arg-type]


def fetch(url: str, limits: FetchLimits = DEFAULT, **kwargs: object) -> FetchResult:
    return run(lambda f: f.fetch(feed(url, **kwargs)), limits)


def fetch_error(url: str, limits: FetchLimits = DEFAULT, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, limits, **kwargs)
    return caught.value


def test_plain_fetch_sends_an_honest_user_agent(feed_server: FeedServer) -> None:
    url = feed_server.add("/f.xml", RSS)
    result = fetch(url)
    assert result.status == 200
    assert result.body == RSS
    assert result.final_url == url
    assert result.permanent_redirect is None
    assert "content-length" not in result.headers
    assert result.headers["content-type"].startswith("application/rss+xml")
    seen = feed_server.hits("/f.xml")[0].headers
    assert seen["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("Rasd/0.")
    assert "zstd" not in seen["accept-encoding"]


def test_etag_round_trip_gives_304_without_body(feed_server: FeedServer) -> None:
    url = feed_server.add("/f.xml", RSS)
    first = fetch(url)
    assert first.etag
    second = fetch(url, etag=first.etag)
    assert second.status == 304
    assert second.not_modified
    assert second.body is None
    assert second.etag == first.etag
    assert feed_server.hits("/f.xml")[1].headers["if-none-match"] == first.etag
    with pytest.raises(ValueError):  # a 304 is never handed to the parser
        asyncio.run(parse_feed(second))


def test_small_unread_answers_keep_the_connection(feed_server: FeedServer) -> None:
    """304s, error pages and redirects are read to their end, so the next feed of the same
    host reuses the connection instead of opening a new one."""
    url = feed_server.add("/f.xml", RSS)
    missing = feed_server.url("/missing.xml")
    moved = feed_server.add("/moved.xml", status=302, headers={"Location": url}, etag=False)

    async def polls(fetcher: Fetcher) -> list[int]:
        first = await fetcher.fetch(feed(url))
        statuses = [first.status]
        for _ in range(3):
            statuses.append((await fetcher.fetch(feed(url, etag=first.etag))).status)
            with pytest.raises(FetchError):
                await fetcher.fetch(feed(missing))
            statuses.append((await fetcher.fetch(feed(moved))).status)
        return statuses

    assert run(polls) == [200, 304, 200, 304, 200, 304, 200]
    ports = {seen.client_port for seen in feed_server.requests}
    assert len(feed_server.requests) == 13 and len(ports) == 1


def test_last_modified_round_trip(feed_server: FeedServer) -> None:
    stamp = "Tue, 11 Nov 2025 07:28:00 GMT"
    url = feed_server.add("/f.xml", RSS, etag=False, last_modified=stamp)
    first = fetch(url)
    assert first.last_modified == stamp
    assert first.etag is None
    second = fetch(url, last_modified=stamp)
    assert second.status == 304 and second.body is None
    assert second.last_modified == stamp
    assert feed_server.hits("/f.xml")[1].headers["if-modified-since"] == stamp


def test_429_carries_retry_after_seconds(feed_server: FeedServer) -> None:
    url = feed_server.add("/f.xml", b"slow down", status=429, headers={"Retry-After": "120"})
    error = fetch_error(url)
    assert error.reason == "http-429"
    assert error.status == 429
    assert error.retry_after == timedelta(seconds=120)


def test_503_carries_retry_after_date(feed_server: FeedServer) -> None:
    url = feed_server.add(
        "/f.xml", b"down", status=503, headers={"Retry-After": "Fri, 01 Jan 1999 00:00:00 GMT"}
    )
    error = fetch_error(url)
    assert error.reason == "http-503"
    assert error.retry_after == timedelta(0)  # a date in the past: retry at once


def test_404_and_500_have_stable_reasons(feed_server: FeedServer) -> None:
    assert fetch_error(feed_server.url("/missing")).reason == "http-404"
    url = feed_server.add("/boom", b"", status=500)
    error = fetch_error(url)
    assert (error.reason, error.retry_after) == ("http-500", None)


def test_410_gone(feed_server: FeedServer) -> None:
    url = feed_server.add("/f.xml", b"gone", status=410)
    error = fetch_error(url)
    assert error.reason == "http-410"
    assert "gone" in error.detail


def test_301_chain_is_permanent(feed_server: FeedServer) -> None:
    final = feed_server.add("/new.xml", RSS)
    middle = feed_server.add("/mid.xml", status=308, headers={"Location": "/new.xml"})
    start = feed_server.add("/old.xml", status=301, headers={"Location": middle})
    result = fetch(start)
    assert result.final_url == final
    assert result.permanent_redirect == final
    assert result.url == start
    assert result.body == RSS


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_any_temporary_hop_keeps_the_old_url(feed_server: FeedServer, temporary: int) -> None:
    final = feed_server.add("/new.xml", RSS)
    middle = feed_server.add("/mid.xml", status=temporary, headers={"Location": final})
    start = feed_server.add("/old.xml", status=301, headers={"Location": middle})
    result = fetch(start)
    assert result.final_url == final
    assert result.permanent_redirect is None


def test_redirect_loop_stops(feed_server: FeedServer) -> None:
    url = feed_server.add("/loop.xml", status=302, headers={"Location": "/loop.xml"})
    error = fetch_error(url, FetchLimits(max_redirects=3))
    assert error.reason == "too-many-redirects"
    assert len(feed_server.hits("/loop.xml")) == 4


@pytest.mark.parametrize("target", ["javascript:alert(1)", "file:///etc/passwd", "ftp://x/"])
def test_redirect_to_another_scheme_is_refused(feed_server: FeedServer, target: str) -> None:
    url = feed_server.add("/f.xml", status=301, headers={"Location": target})
    assert fetch_error(url).reason == "invalid-url"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "/relative", ""])
def test_non_http_feed_url_is_refused(url: str) -> None:
    assert fetch_error(url).reason == "invalid-url"


def test_closed_port_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert fetch_error(f"http://127.0.0.1:{port}/f.xml").reason == "connect"


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # raw deflate, as some servers send
        ("br", brotli.compress),
        ("gzip, br", lambda b: brotli.compress(gzip.compress(b))),
    ],
)
def test_content_codings_are_decoded(
    feed_server: FeedServer, coding: str, encode: Callable[[bytes], bytes]
) -> None:
    url = feed_server.add("/f.xml", encode(RSS), headers={"Content-Encoding": coding})
    result = fetch(url)
    assert result.body == RSS
    assert "content-encoding" not in result.headers


def test_unknown_content_coding_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.add("/f.xml", RSS, headers={"Content-Encoding": "zstd"})
    assert fetch_error(url).reason == "bad-encoding"


@pytest.mark.parametrize(
    "body",
    [
        b"definitely not gzip",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 16,  # reserved block type
    ],
)
def test_corrupt_gzip_is_bad_encoding(feed_server: FeedServer, body: bytes) -> None:
    url = feed_server.add("/f.xml", body, headers={"Content-Encoding": "gzip"})
    assert fetch_error(url).reason == "bad-encoding"


@pytest.mark.parametrize(
    "name", ["gzip_bomb_100MiB.rss.gz", "gzip_bomb_isize_declares_50MiB.rss.gz"]
)
def test_gzip_bomb_stops_at_the_decoded_cap(feed_server: FeedServer, name: str) -> None:
    body = (ADVERSARIAL / name).read_bytes()
    url = feed_server.add("/bomb.xml", body, headers={"Content-Encoding": "gzip"})
    error = fetch_error(url, FetchLimits(max_body_bytes=2 * 2**20))
    assert error.reason == "too-large"
    assert "decoded" in error.detail


def test_brotli_bomb_stops_at_the_decoded_cap(feed_server: FeedServer) -> None:
    bomb = brotli.compress(b"<rss>" + b" " * (64 * 2**20), quality=1)
    assert len(bomb) < 2**16  # about 1000:1
    url = feed_server.add("/bomb.xml", bomb, headers={"Content-Encoding": "br"})
    started = time.monotonic()
    error = fetch_error(url, FetchLimits(max_body_bytes=2**20))
    assert error.reason == "too-large"
    assert time.monotonic() - started < 5


def test_declared_length_over_the_cap_is_refused_early(feed_server: FeedServer) -> None:
    url = feed_server.add("/big.xml", b"x" * 4096)
    assert fetch_error(url, FetchLimits(max_body_bytes=1000)).reason == "too-large"


def test_undeclared_length_over_the_cap_is_cut_while_streaming(feed_server: FeedServer) -> None:
    def chunked(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            for _ in range(200):
                handler.wfile.write(b"y" * 8192)
        except OSError:
            pass
        handler.close_connection = True

    url = feed_server.add("/stream.xml", handler=chunked)
    assert fetch_error(url, FetchLimits(max_body_bytes=100_000)).reason == "too-large"


def dripping(
    status: int, headers: dict[str, str], byte: bytes, count: int
) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler that answers `status` with `headers`, then sends `byte` every 50 ms,
    `count` times (until the client hangs up)."""

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            for _ in range(count):
                handler.wfile.write(byte)
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    return drip


def test_slow_drip_body_hits_the_overall_deadline(feed_server: FeedServer) -> None:
    # One byte every 50 ms: each read is quick, the body never ends.
    drip = dripping(
        200, {"Content-Type": "application/rss+xml", "Content-Length": "100000"}, b"<", 400
    )
    url = feed_server.add("/drip.xml", handler=drip)
    started = time.monotonic()
    error = fetch_error(url, FetchLimits(timeout=timedelta(seconds=1)))
    assert error.reason == "timeout"
    assert time.monotonic() - started < 3


def test_a_slow_small_error_page_does_not_outlive_the_deadline(feed_server: FeedServer) -> None:
    """The unread body of an error page is read to keep the connection, but never past the
    fetch's deadline."""

    drip = dripping(500, {"Content-Length": "1000"}, b"x", 200)  # 10 s for the whole page
    url = feed_server.add("/drip500.xml", handler=drip)
    started = time.monotonic()
    error = fetch_error(url, FetchLimits(timeout=timedelta(seconds=5)))
    assert error.reason == "http-500"
    assert time.monotonic() - started < 3


def test_per_host_limit_is_respected_at_the_server(feed_server: FeedServer) -> None:
    lock = threading.Lock()
    active = 0
    peak = 0

    def slow(handler: BaseHTTPRequestHandler) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)
        with lock:
            active -= 1
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(RSS)))
        handler.end_headers()
        handler.wfile.write(RSS)

    urls = [feed_server.add(f"/f{i}.xml", handler=slow) for i in range(8)]

    async def many(fetcher: Fetcher) -> list[FetchResult]:
        return await asyncio.gather(*(fetcher.fetch(feed(url)) for url in urls))

    results = run(many, FetchLimits(per_host=2))
    assert [r.status for r in results] == [200] * 8
    assert peak == 2  # parallel, but never more than the limit


def test_per_feed_proxy_client(feed_server: FeedServer) -> None:
    # The feed server doubles as a forward proxy: it sees the absolute-form request line.
    target = "http://feeds.example.invalid/f.xml"
    feed_server.add(target, RSS)

    async def via_proxy(fetcher: Fetcher) -> FetchResult:
        async with make_client(proxy=feed_server.url("")) as proxy_client:
            return await fetcher.fetch(feed(target), proxy_client=proxy_client)

    result = run(via_proxy)
    assert result.body == RSS
    assert feed_server.hits(target)


def test_proxy_from_environment(feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    target = "http://env-proxy.example.invalid/f.xml"
    feed_server.add(target, RSS)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", feed_server.url(""))
    assert fetch(target).body == RSS
    assert feed_server.hits(target)


def test_fetch_then_parse_windows_1256_with_override(feed_server: FeedServer) -> None:
    body = (ADVERSARIAL / "arabic_windows1256_undeclared.xml").read_bytes()
    url = feed_server.add("/ar.xml", body, headers={"Content-Type": "application/rss+xml"})
    result = fetch(url)
    assert "charset" not in result.headers["content-type"]
    fixed = asyncio.run(parse_feed(result, encoding="windows-1256"))
    assert fixed.items[0].title == "عاجل: انخفاض أسعار النفط"
    broken = asyncio.run(parse_feed(result))
    assert broken.items[0].title != "عاجل: انخفاض أسعار النفط"
    assert broken.warnings  # mis-decoded, and said so


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command for a cert")
def test_http2_when_the_server_offers_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTPS server that speaks only HTTP/2: the fetch succeeds, so it negotiated h2."""
    with H2Server(tmp_path) as server:
        server.routes["/f.xml"] = RSS
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))  # trust the test certificate
        result = fetch(server.url("/f.xml"))
        assert result.status == 200 and result.body == RSS
        (seen,) = server.requests
        assert seen.headers[":method"] == "GET" and seen.headers["user-agent"] == USER_AGENT
        assert "if-none-match" not in seen.headers
        assert fetch_error(server.url("/gone.xml")).reason == "http-404"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command for a cert")
def test_http2_feed_polled_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (Path(__file__).parents[2] / "monitor/demo_data/feeds/revue-fr.xml").read_bytes()
    with H2Server(tmp_path) as server:
        server.routes["/revue.xml"] = body
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))
        result = fetch(server.url("/revue.xml"))
        parsed = asyncio.run(parse_feed(result))
    assert parsed.items and all(item.title for item in parsed.items)
