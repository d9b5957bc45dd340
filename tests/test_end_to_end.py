"""The walking skeleton end to end: real HTTP feeds on 127.0.0.1, the real rules, real SQLite,
the JSONL channel and a webhook received by a local server that checks its signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
from pathlib import Path

import pytest

from monitor.cli import main
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
SEED_FEED = ROOT / "monitor" / "demo_data" / "feeds" / "seed-mali-russia-ar.xml"
FR_FEED = ROOT / "monitor" / "demo_data" / "feeds" / "revue-fr.xml"
SECRET = "hook-secret-for-tests"
JSONL_KEYS = {
    "rule",
    "tags",
    "severity",
    "title",
    "url",
    "feed",
    "published",
    "matched_terms",
    "story_id",
    "sources",
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def setup(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    seed = feed_server.add("/seed.xml", SEED_FEED.read_bytes())
    french = feed_server.add("/fr.xml", FR_FEED.read_bytes())
    broken = feed_server.add(
        "/broken.xml",
        b"<html><body>Maintenance</body></html>",
        headers={"Content-Type": "text/html"},
    )
    unreachable = f"http://127.0.0.1:{closed_port()}/feed.xml"
    config = tmp_path / "rasd.yaml"
    config.write_text(
        f"""
database: sqlite:///{tmp_path}/data/rasd.db
rules_dir: {rules}
feeds:
  - {{url: "{seed}", name: Seed, lang: ar}}
  - {{url: "{french}", name: Revue FR, lang: fr}}
  - {{url: "{broken}", name: Broken}}
  - {{url: "{unreachable}", name: Unreachable}}
channels:
  file: {{type: jsonl, path: {tmp_path}/data/alerts.jsonl}}
  hook: {{type: webhook, url: "{feed_server.url("/hook")}", secret: "${{HOOK_SECRET}}"}}
routes:
  - channels: [file]
  - match: {{tags: [security]}}
    channels: [hook]
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    feed_server.add(
        "/hook", b"{}", status=200, etag=False, headers={"Content-Type": "application/json"}
    )
    return config, tmp_path


def run_once(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, int], str]:
    code = main(["--config", str(config), "once", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


def test_once_twice_raises_each_alert_once_and_second_run_is_304(
    setup,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    config, tmp = setup
    first, err = run_once(config, capsys)
    assert first["feeds_polled"] == 4
    assert first["feed_errors"] == 2
    assert first["items_new"] >= 50
    assert first["alerts"] > 3
    assert first["deliveries_failed"] == 0
    assert first["deliveries_sent"] >= first["alerts"]
    # one clear line per bad feed, naming it
    assert "Broken" in err and "not-a-feed" in err
    assert "Unreachable" in err and "connect" in err

    lines = [json.loads(line) for line in (tmp / "data" / "alerts.jsonl").read_text().splitlines()]
    assert len(lines) == first["alerts"]
    assert all(set(line) >= JSONL_KEYS for line in lines)
    seed_tags = {tag for line in lines if line["feed"] == "Seed" for tag in line["tags"]}
    assert {"security", "fuel", "russia"} <= seed_tags

    hooks = feed_server.hits("/hook")
    assert hooks, "the webhook received nothing"
    for request in hooks:
        expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-rasd-signature"] == f"sha256={expected}"
        for alert in json.loads(request.body)["alerts"]:
            assert "security" in alert["tags"]

    second, _ = run_once(config, capsys)
    assert second["items_new"] == 0
    assert second["alerts"] == 0
    assert second["feeds_not_modified"] == 2
    assert second["deliveries_sent"] == 0
    conditional = [r for r in feed_server.hits("/seed.xml") if "if-none-match" in r.headers]
    assert len(conditional) == 1
    assert len((tmp / "data" / "alerts.jsonl").read_text().splitlines()) == first["alerts"]


def test_bad_rule_file_is_reported_and_the_rest_still_run(
    setup,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    config, tmp = setup
    (tmp / "rules" / "zz-broken.yaml").write_text(
        "rules:\n  - id: broken\n    title: Broken\n    match: {any: ['@no_such_vocabulary']}\n",
        encoding="utf-8",
    )
    summary, err = run_once(config, capsys)
    assert "zz-broken.yaml:4" in err
    assert summary["alerts"] > 3


def test_alerts_json_lists_alerts_with_deliveries(
    setup,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    config, _tmp = setup
    first, _ = run_once(config, capsys)
    assert main(["--config", str(config), "alerts", "--json", "--limit", "500"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == first["alerts"]
    assert all(set(row) >= JSONL_KEYS for row in rows)
    assert all(d["status"] == "sent" for row in rows for d in row["deliveries"])
    assert main(["--config", str(config), "alerts", "--dead", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_demo_raises_all_three_topics_for_the_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--data-dir", str(tmp_path), "--rules", str(ROOT / "rules"), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    seed_tags = {t for line in lines if "seed" in line["feed"] for t in line["tags"]}
    assert {"security", "fuel", "russia"} <= seed_tags
    assert json.loads(out.strip().splitlines()[-1])["alerts"] == len(lines)


def test_failing_feed_raises_one_health_alert_to_the_ops_route(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = feed_server.add("/down.xml", b"", status=503, etag=False)
    config = tmp_path / "rasd.yaml"
    config.write_text(
        f"""
database: sqlite:///{tmp_path}/rasd.db
rules_dir: {ROOT / "rules"}
feeds:
  - {{url: "{gone}", name: Down, health_threshold: 0s}}
channels:
  ops: {{type: jsonl, path: {tmp_path}/ops.jsonl}}
delivery: {{health_route: [ops]}}
""",
        encoding="utf-8",
    )
    first, _ = run_once(config, capsys)
    assert first["health_alerts"] == 1
    second, _ = run_once(config, capsys)
    assert second["health_alerts"] == 0  # one alert per outage, not one per poll
    (line,) = [json.loads(x) for x in (tmp_path / "ops.jsonl").read_text().splitlines()]
    assert line["tags"] == ["feed-health"] and "Down" in line["title"]
    assert "http-503" in line["title"]


def test_a_feed_with_its_own_proxy_is_fetched_through_it(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The local server doubles as a forward proxy: it sees the absolute-form request line.
    target = "http://feeds.example.invalid/fr.xml"
    feed_server.add(target, FR_FEED.read_bytes())
    config = tmp_path / "rasd.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/rasd.db\nrules_dir: {ROOT / 'rules'}\n"
        f'feeds:\n  - {{url: "{target}", name: Proxied, proxy: "{feed_server.url("")}"}}\n',
        encoding="utf-8",
    )
    summary, _ = run_once(config, capsys)
    assert summary["feed_errors"] == 0 and summary["items_new"] > 10
    assert feed_server.hits(target)


@pytest.mark.parametrize("updates", [False, True])
def test_one_alert_per_story_across_outlets_and_optional_updates(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str], updates: bool
) -> None:
    """Two outlets carry one wire story: one alert whose sources name both; with
    delivery.story_updates the second outlet sends one update, without it nothing more."""
    original = SEED_FEED.read_bytes()
    first = feed_server.add("/a.xml", original)
    config = tmp_path / "rasd.yaml"

    def write(feeds: str) -> None:
        config.write_text(
            f"database: sqlite:///{tmp_path}/rasd.db\nrules_dir: {ROOT / 'rules'}\n"
            f"feeds:\n{feeds}"
            f"channels:\n  file: {{type: jsonl, path: {tmp_path}/alerts.jsonl}}\n"
            "routes:\n  - channels: [file]\n"
            f"delivery: {{story_updates: {str(updates).lower()}}}\n",
            encoding="utf-8",
        )

    write(f'  - {{url: "{first}", name: Outlet A}}\n')
    summary, _ = run_once(config, capsys)
    assert summary["alerts"] == 1
    second = feed_server.add(
        "/b.xml",
        original.replace(b"rasd-demo-seed-mali-russia", b"outlet-b-seed-mali-russia"),
    )
    write(f'  - {{url: "{first}", name: Outlet A}}\n  - {{url: "{second}", name: Outlet B}}\n')
    summary, _ = run_once(config, capsys)
    assert summary["items_new"] == 1 and summary["alerts"] == 0  # same story: no new alert
    assert main(["--config", str(config), "alerts", "--json"]) == 0
    (alert,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert alert["sources"] == ["Outlet A", "Outlet B"]
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    if updates:
        assert len(lines) == 2 and lines[1]["sources"] == ["Outlet A", "Outlet B"]
        assert summary["deliveries_sent"] == 1
    else:
        assert len(lines) == 1 and summary["deliveries_sent"] == 0


def test_a_locked_database_is_waited_for_not_fatal(
    setup,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    """Another process holds the SQLite write lock for 2 s (a backup, an admin's sqlite3):
    the poll waits for it (busy timeout, BEGIN IMMEDIATE) and stores everything."""
    import sqlite3
    import threading
    import time

    config, tmp = setup
    run_once(config, capsys)  # create the database
    holder = sqlite3.connect(
        tmp / "data" / "rasd.db", isolation_level=None, timeout=5, check_same_thread=False
    )
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(2.0, lambda: holder.execute("ROLLBACK")).start()
    started = time.monotonic()
    code = main(["--config", str(config), "once", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert time.monotonic() - started >= 1.5  # it really waited for the lock
    assert json.loads(out.strip().splitlines()[-1])["feeds_polled"] == 4
    holder.close()
