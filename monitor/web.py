"""The daemon's own small HTTP server: /healthz, /readyz, /metrics, /alerts.atom.

Hand-written on asyncio streams because it serves three read-only paths on localhost;
prometheus-client's bundled server would answer every path with metrics (FACTS.md)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.scheduler import Daemon

__all__ = ["readiness", "serve"]

log = logging.getLogger("rasd.web")


def readiness(app: App, daemon: Daemon) -> tuple[bool, dict[str, object]]:
    checks: dict[str, object] = {}
    try:
        with app.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    if checks["database"] == "ok":
        from storage.migrate import check_schema

        try:
            checks["schema"] = check_schema(app.engine) or "ok"
        except Exception as exc:  # the version table unreadable: not ready either
            checks["schema"] = f"error: {type(exc).__name__}"
    checks["rules"] = "ok" if app.rules.matcher.rule_count else "no rules loaded"
    if app.rules.problems:
        checks["rule_errors"] = [str(p) for p in app.rules.problems]
    checks["scheduler"] = (
        "draining" if daemon.draining else "ok" if daemon.running else "not running"
    )
    ready = all(checks.get(k) == "ok" for k in ("database", "schema", "rules", "scheduler"))
    return ready, checks


async def _handle(
    app: App, daemon: Daemon, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), 10)
        host_header = ""
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "host":
                host_header = value.strip()
        parts = request.decode("latin-1").split()
        path = parts[1].split("?")[0] if len(parts) >= 2 else ""
        status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
        if path == "/healthz":
            status, body = 200, b"ok\n"
        elif path == "/readyz":
            ready, checks = await asyncio.to_thread(readiness, app, daemon)
            status, ctype = (200 if ready else 503), "application/json"
            body = json.dumps({"ready": ready, **checks}, ensure_ascii=False).encode()
        elif path == "/alerts.atom":
            body = await asyncio.to_thread(_alerts_atom, app, host_header)
            status, ctype = 200, "application/atom+xml; charset=utf-8"
        elif path == "/metrics":
            from monitor.metrics import render_metrics

            body = await asyncio.to_thread(render_metrics, app)
            ctype = "text/plain; version=0.0.4; charset=utf-8"
            status = 200
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def _alerts_atom(app: App, host: str) -> bytes:
    from datetime import UTC, datetime

    from monitor.atom import render_atom
    from storage.alerts import list_alerts
    from storage.db import reader_of

    with reader_of(app.sessions).begin() as session:  # never waits for the write lock
        alerts = list_alerts(session, limit=100)
    listen = app.settings.server.listen
    return render_atom(alerts, f"http://{host or listen}/alerts.atom", datetime.now(UTC))


async def serve(app: App, daemon: Daemon) -> asyncio.Server:
    host, port = app.settings.server.host, app.settings.server.port
    server = await asyncio.start_server(
        lambda r, w: _handle(app, daemon, r, w), host=host, port=port
    )
    bound = server.sockets[0].getsockname()[1] if server.sockets else port
    log.info("web: /healthz /readyz /metrics /alerts.atom on http://%s:%d", host, bound)
    return server
