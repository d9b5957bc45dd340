"""The offline demo: serve the bundled real news feeds from 127.0.0.1 and write a config for them.

`with DemoFeeds() as feeds:` starts a local HTTP server on an ephemeral port that serves every
feed listed in monitor/demo_data/feeds.yaml under /demo/, with ETags and 304 answers like a
real outlet; `demo_config_yaml(feeds, data_dir, rules_dir)` gives the rasd.yaml text that
polls them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import TracebackType

import yaml

__all__ = ["DemoFeed", "DemoFeeds", "demo_config_yaml", "demo_data"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class DemoFeed:
    name: str
    url: str
    lang: str


@dataclass(frozen=True)
class _Entry:
    path: str
    file: str
    name: str
    lang: str
    content_type: str


@dataclass(frozen=True)
class _Resource:
    body: bytes
    content_type: str
    etag: str


def demo_data() -> Traversable:
    """The bundled demo_data directory, wherever the package is installed."""
    return files("monitor") / "demo_data"


def _load_manifest(data: Traversable | None = None) -> list[_Entry]:
    root = data if data is not None else demo_data()
    manifest = yaml.safe_load(root.joinpath("feeds.yaml").read_text(encoding="utf-8"))
    return [
        _Entry(e["path"], e["file"], e["name"], e["lang"], e["content_type"])
        for e in manifest["feeds"]
    ]


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in candidates or etag in candidates


def _handler_for(resources: dict[str, _Resource]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "rasd-demo"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _answer(self, *, send_body: bool) -> None:
            resource = resources.get(self.path.split("?", 1)[0])
            if resource is None:
                self._send(404, b"not found\n", {"Content-Type": "text/plain; charset=utf-8"})
                return
            headers = {"ETag": resource.etag, "Cache-Control": "no-cache"}
            if _etag_matches(self.headers.get("If-None-Match"), resource.etag):
                self._send(304, b"", headers)
                return
            headers["Content-Type"] = resource.content_type
            self._send(200, resource.body if send_body else b"", headers, len(resource.body))

        def _send(
            self, status: int, body: bytes, headers: dict[str, str], length: int | None = None
        ) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler


class DemoFeeds:
    """Context manager: a real HTTP server on 127.0.0.1 serving the demo feeds.

    Entering starts the server on an ephemeral port and returns one DemoFeed per manifest
    entry; leaving shuts it down.
    """

    def __init__(self, data: Traversable | None = None) -> None:
        self._entries = _load_manifest(data)
        root = data if data is not None else demo_data()
        self._resources: dict[str, _Resource] = {}
        for entry in self._entries:
            body = root.joinpath(entry.file).read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self._resources[entry.path] = _Resource(body, entry.content_type, etag)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("demo: the feed server is not running")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def __enter__(self) -> list[DemoFeed]:
        self._server = ThreadingHTTPServer((HOST, 0), _handler_for(self._resources))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rasd-demo-feeds", daemon=True
        )
        self._thread.start()
        return [DemoFeed(e.name, self.base_url + e.path, e.lang) for e in self._entries]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None


def demo_config_yaml(feeds: Sequence[DemoFeed], data_dir: Path, rules_dir: Path) -> str:
    """A complete rasd.yaml for the demo: its database and alerts under data_dir."""
    data = data_dir.resolve().as_posix()
    config = {
        "database": f"sqlite:///{data}/rasd.db",
        "rules_dir": rules_dir.resolve().as_posix(),
        "feeds": [
            {"url": feed.url, "name": feed.name, "lang": feed.lang, "tags": ["demo"]}
            for feed in feeds
        ],
        "channels": {
            "file": {"type": "jsonl", "path": f"{data}/alerts.jsonl"},
            "screen": {"type": "console"},
        },
        "routes": [{"channels": ["file", "screen"]}],
    }
    head = "# Written by `rasd demo`: polls the bundled feeds served from 127.0.0.1.\n"
    return head + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
