"""The `rasd` commands admins and ops script against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
FR_FEED = (ROOT / "monitor" / "demo_data" / "feeds" / "revue-fr.xml").read_bytes()


def test_config_check_reports_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "rasd.yaml"
    config.write_text("feeds:\n  - url: http://127.0.0.1/x.xml\n    interval: often\n")
    assert main(["--config", str(config), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3: feeds[0].interval: 'often' is not a duration" in err


def test_rules_check_reports_file_line_col(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    title: X\n    match: {any: ['/[unclosed/']}\n")
    assert main(["rules", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{bad}:4:")
    assert main(["rules", "check", str(ROOT / "rules")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_rules_test_explains_with_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    text = "هجوم لجماعة نصرة الإسلام والمسلمين على قافلة صهاريج وقود قرب كايس في مالي"
    assert main(["rules", "test", "--text", text, "--json", "--rules", str(ROOT / "rules")]) == 0
    fired = json.loads(capsys.readouterr().out)
    assert {"security", "fuel"} <= {tag for m in fired for tag in m["tags"]}
    for match in fired:
        for hit in match["hits"]:
            assert text[hit["start"] : hit["end"]] == hit["text"]
    assert (
        main(
            [
                "rules",
                "test",
                "--text",
                "Les Aigles du Mali battent le Sénégal 2-0",
                "--rules",
                str(ROOT / "rules"),
            ]
        )
        == 1
    )
    assert "no rule fired" in capsys.readouterr().out


def test_rules_eval_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    rows = [
        {
            "title": "Pénurie de carburant à Bamako : les stations à sec",
            "text": "",
            "labels": ["fuel"],
        },
        {"title": "Les Aigles du Mali qualifiés pour la CAN", "text": "", "labels": []},
        {
            "title": "Attaque jihadiste contre un camp de l'armée malienne à Boulkessi",
            "text": "",
            "labels": ["security"],
        },
    ]
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    assert main(["rules", "eval", str(corpus), "--json", "--rules", str(ROOT / "rules")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["fuel"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 1, "fp": 0, "fn": 0}
    assert result["security"]["tp"] == 1


def test_replay_is_dry_by_default_and_notify_raises(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "none.yaml").write_text("rules: []\n")
    url = feed_server.add("/fr.xml", FR_FEED)
    config = tmp_path / "rasd.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/rasd.db\nrules_dir: {rules}\n"
        f'feeds:\n  - {{url: "{url}", name: FR}}\n'
        f"channels:\n  file: {{type: jsonl, path: {tmp_path}/alerts.jsonl}}\n"
        "routes:\n  - channels: [file]\n"
    )
    assert main(["--config", str(config), "once", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["alerts"] == 0
    # the admin writes a rule afterwards and backtests it on what was stored
    (rules / "fuel.yaml").write_text(
        "rules:\n  - id: fuel-test\n    title: Fuel\n    tags: [fuel]\n"
        "    match: {any: [carburant*, essence, citernes]}\n"
    )
    assert main(["--config", str(config), "replay", "--since", "30d", "--json"]) == 0
    dry = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert dry and all(row["rule"] == "fuel-test" and not row["new_alert"] for row in dry)
    assert not (tmp_path / "alerts.jsonl").exists()
    assert main(["--config", str(config), "replay", "--since", "30d", "--notify"]) == 0
    capsys.readouterr()
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert 0 < len(lines) <= len(dry)  # one alert per story, not per item


def test_notify_test_sends_a_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "rasd.yaml"
    config.write_text(f"channels:\n  file: {{type: jsonl, path: {tmp_path}/t.jsonl}}\n")
    assert main(["--config", str(config), "notify", "test", "file"]) == 0
    (line,) = (tmp_path / "t.jsonl").read_text().splitlines()
    assert json.loads(line)["rule"] == "rasd-test"
    assert main(["--config", str(config), "notify", "test", "nope"]) == 2


def test_secrets_never_reach_the_logs(
    tmp_path: Path,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "123456:SECRET-token-never-logged"
    monkeypatch.setenv("TG_TOKEN", token)
    monkeypatch.setenv("HOOK_SECRET", "hmac-key-never-logged")
    monkeypatch.setenv("RASD_LOG_FORMAT", "json")
    feed = feed_server.add(
        "/seed.xml",
        (ROOT / "monitor" / "demo_data" / "feeds" / "seed-mali-russia-ar.xml").read_bytes(),
    )
    feed_server.add("/bot" + token + "/sendMessage", b"{}", status=500, etag=False)
    feed_server.add("/hook", b"", status=503, etag=False)
    config = tmp_path / "rasd.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/rasd.db\nrules_dir: {ROOT / 'rules'}\n"
        f'feeds:\n  - {{url: "{feed}", name: Seed}}\n'
        "channels:\n"
        f'  tg: {{type: telegram, token: "${{TG_TOKEN}}", chat_id: 42, '
        f'api_url: "{feed_server.url("")}"}}\n'
        f'  hook: {{type: webhook, url: "{feed_server.url("/hook")}", '
        'secret: "${HOOK_SECRET}"}\n'
        "routes:\n  - channels: [tg, hook]\n"
    )
    assert main(["--config", str(config), "once", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["deliveries_failed"] > 0  # both channels really failed and were logged
    assert main(["--config", str(config), "alerts", "--dead", "--json"]) == 0
    assert main(["--config", str(config), "alerts", "--json"]) == 0
    out, err = capsys.readouterr()
    for secret in ("SECRET-token-never-logged", "hmac-key-never-logged"):
        assert secret not in out and secret not in err
    assert any(tg_request.path.startswith("/bot") for tg_request in feed_server.requests)


def test_rules_test_url_reads_an_article_page(
    feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    page = (
        "<html><head><title>Mali : pénurie de carburant à Bamako</title>"
        "<script>var x = 'attaque';</script></head><body><p>Les files s'allongent devant "
        "les stations-service, les citernes bloquées par le blocus.</p></body></html>"
    ).encode("windows-1252", errors="replace")
    url = feed_server.add(
        "/article.html", page, headers={"Content-Type": "text/html; charset=windows-1252"}
    )
    assert main(["rules", "test", "--url", url, "--json", "--rules", str(ROOT / "rules")]) == 0
    fired = json.loads(capsys.readouterr().out)
    assert {"fuel"} <= {tag for m in fired for tag in m["tags"]}
    assert all("attaque" not in h["text"] for m in fired for h in m["hits"])  # script dropped
