"""A local HTTPS server that speaks only HTTP/2 (ALPN "h2"), built on the `h2` library that
httpx itself uses, with a throw-away certificate for 127.0.0.1 made by the openssl command.
No client can fetch from it over HTTP/1.1: the TLS handshake offers nothing else."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions


@dataclass
class H2Request:
    path: str
    headers: dict[str, str]


@dataclass
class H2Server:
    """Serves `routes` (path → body) over TLS + HTTP/2 on 127.0.0.1, in a thread."""

    folder: Path
    routes: dict[str, bytes] = field(default_factory=dict)
    requests: list[H2Request] = field(default_factory=list)
    port: int = 0

    @property
    def cafile(self) -> Path:
        return self.folder / "cert.pem"

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> H2Server:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("the openssl command is needed to make a test certificate")
        subprocess.run(
            [
                openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(self.folder / "key.pem"), "-out", str(self.cafile),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cafile, self.folder / "key.pem")
        context.set_alpn_protocols(["h2"])
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def start() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        self._thread = threading.Thread(
            target=lambda: (self._loop.run_until_complete(start()), self._loop.run_forever()),
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the HTTP/2 test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        # Connections the client keeps open are closed here, on the running loop: a handler
        # left pending would be destroyed later by the garbage collector, and pytest would
        # blame whichever test happens to run then.
        async def shutdown() -> None:
            self._server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        pending: dict[int, bytes] = {}  # stream → body still to send (flow control)
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        pending[event.stream_id] = self._answer(conn, event)
                _send_what_fits(conn, pending)
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass  # an HTTP/1.1 client, or one that hung up
        finally:
            writer.close()

    def _answer(self, conn: h2.connection.H2Connection, event: h2.events.RequestReceived) -> bytes:
        headers = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in event.headers or []
        }
        path = headers.get(":path", "")
        self.requests.append(H2Request(path, headers))
        body = self.routes.get(path)
        status = "200" if body is not None else "404"
        body = body if body is not None else b"not found"
        conn.send_headers(
            event.stream_id,
            [
                (":status", status),
                ("content-type", "application/rss+xml; charset=utf-8"),
                ("content-length", str(len(body))),
            ],
        )
        return body


def _send_what_fits(conn: h2.connection.H2Connection, pending: dict[int, bytes]) -> None:
    """DATA frames within the frame size and the peer's flow-control windows."""
    for stream_id, body in list(pending.items()):
        while body:
            room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if room <= 0:
                break
            conn.send_data(stream_id, body[:room])
            body = body[room:]
        if body:
            pending[stream_id] = body
        else:
            conn.end_stream(stream_id)
            del pending[stream_id]
