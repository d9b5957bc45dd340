"""`rasd run` as a real process: SIGTERM stops it cleanly with everything committed, a rule
edit takes effect without a restart, and kill -9 in the middle of deliveries loses nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.rules import load_rules
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
FR_FEED = (ROOT / "monitor" / "demo_data" / "feeds" / "revue-fr.xml").read_bytes()
AR_FEED = (ROOT / "monitor" / "demo_data" / "feeds" / "revue-ar.xml").read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        cwd=config.parent,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def write_config(
    tmp: Path, feeds: list[str], channels: str, routes: str, port: int, rules: Path
) -> Path:
    config = tmp / "rasd.yaml"
    feed_lines = "\n".join(f'  - {{url: "{u}", name: F{i}}}' for i, u in enumerate(feeds))
    config.write_text(
        f"""
database: sqlite:///{tmp}/rasd.db
rules_dir: {rules}
server: {{listen: "127.0.0.1:{port}"}}
polling: {{tick: 1s, interval: 1h, adaptive: false}}
delivery: {{tick: 1s, backoff_base: 1s, backoff_max: 2s, send_timeout: 2s}}
feeds:
{feed_lines}
channels:
{channels}
routes:
{routes}
""",
        encoding="utf-8",
    )
    return config


def count(db: Path, table: str) -> int:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    except Exception:  # not created yet
        return 0
    finally:
        engine.dispose()


def test_sigterm_stops_cleanly_and_rule_edits_apply_live(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    import shutil
    import urllib.error
    import urllib.request

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    shipped = len(load_rules([rules]).rules)
    fr = feed_server.add("/fr.xml", FR_FEED)
    port = free_port()
    config = write_config(
        tmp_path,
        [fr],
        f"  file: {{type: jsonl, path: {tmp_path}/alerts.jsonl}}",
        "  - channels: [file]",
        port,
        rules,
    )
    log = tmp_path / "daemon.log"
    proc = start(config, log)
    try:
        wait_for(lambda: (tmp_path / "alerts.jsonl").exists(), 60, "first alerts")
        base = f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200
        ready = json.loads(urllib.request.urlopen(f"{base}/readyz", timeout=5).read())
        assert ready["ready"] is True and ready["database"] == "ok", ready
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        for name in (
            "rasd_polls_total",
            "rasd_fetch_seconds_bucket",
            "rasd_items_new_total",
            "rasd_alerts_total",
            "rasd_outbox_depth",
            "rasd_feeds_unhealthy",
            f"rasd_rules_active {float(shipped)}",
        ):
            assert name in metrics, name
        assert "127.0.0.1" not in metrics  # no feed URLs in labels
        atom = urllib.request.urlopen(f"{base}/alerts.atom", timeout=5)
        assert atom.headers["Content-Type"].startswith("application/atom+xml")
        assert b"<entry" in atom.read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/nope", timeout=5)
        assert missing.value.code == 404
        # a new rule file, live: it becomes active without a restart
        (rules / "zz-live.yaml").write_text(
            "rules:\n  - id: live-rule\n    title: Live rule\n    tags: [live]\n"
            "    match: {any: [Ouagadougou, 'Burkina Faso']}\n",
            encoding="utf-8",
        )
        reloaded = f"rules: {shipped + 1} rules"
        wait_for(lambda: reloaded in log.read_text(errors="replace"), 20, "reload")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text_log = log.read_text(errors="replace")
    assert "daemon: stopped" in text_log
    assert reloaded in text_log  # the live edit was picked up
    assert count(tmp_path / "rasd.db", "items") > 0
    alerts = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(alerts) == count(tmp_path / "rasd.db", "alerts")


def test_kill_9_during_deliveries_loses_nothing(tmp_path: Path, feed_server: FeedServer) -> None:
    """The webhook answers slowly; the daemon is killed while deliveries are in flight and
    restarted. Every alert arrives at least once, and a repeat carries the same
    Idempotency-Key, so a receiver that honours it (as Matrix does txnId) shows it once."""
    received: list[tuple[str, list[int]]] = []
    lock = threading.Lock()

    def slow_hook(request: BaseHTTPRequestHandler) -> None:
        time.sleep(0.5)
        body = json.loads(request.request_body)  # type: ignore[attr-defined]
        with lock:
            received.append((request.headers["Idempotency-Key"], [a["id"] for a in body["alerts"]]))
        request.send_response(200)
        request.send_header("Content-Length", "0")
        request.end_headers()

    hook = feed_server.add("/hook", handler=slow_hook)
    feeds = [feed_server.add("/fr.xml", FR_FEED), feed_server.add("/ar.xml", AR_FEED)]
    config = write_config(
        tmp_path,
        feeds,
        f'  hook: {{type: webhook, url: "{hook}"}}',
        "  - channels: [hook]",
        free_port(),
        ROOT / "rules",
    )
    log = tmp_path / "daemon.log"
    proc = start(config, log)
    try:
        wait_for(lambda: len(received) >= 2, 60, "first deliveries")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    total = count(tmp_path / "rasd.db", "alerts")
    assert total > len(received), "the kill came after every delivery; nothing was tested"
    proc = start(config, log)
    try:
        wait_for(
            lambda: len({i for _k, ids in received for i in ids}) >= total,
            120,
            "every alert after the restart",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
    ids = [i for _key, batch in received for i in batch]
    assert set(ids) == set(range(1, total + 1))  # at least once
    by_alert: dict[int, set[str]] = {}
    for key, batch in received:
        for alert_id in batch:
            by_alert.setdefault(alert_id, set()).add(key)
    assert all(len(keys) == 1 for keys in by_alert.values())  # repeats are idempotent
    assert count(tmp_path / "rasd.db", "alerts") == total  # the restart raised nothing new
