from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_settings, parse_duration, settings_from_text
from monitor.errors import ConfigError

MINIMAL = """\
database: sqlite:///data/rasd.db     # the default; RASD_DATABASE_URL overrides
rules_dir: rules                     # the default
feeds:
  - url: http://127.0.0.1:8000/feed.xml
    name: Local sample               # optional
    lang: ar                         # optional hint
    interval: 10m                    # optional
channels:
  file: {type: jsonl, path: data/alerts.jsonl}
  screen: {type: console}
  hook: {type: webhook, url: "http://127.0.0.1:9000/hook", secret: "${HOOK_SECRET}"}
routes:
  - channels: [file, screen]         # a route with no filter takes every alert
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        settings_from_text(text, "rasd.yaml", env or {})
    return [str(p) for p in info.value.problems]


def test_minimal_contract_config_loads() -> None:
    settings = settings_from_text(MINIMAL, "rasd.yaml", {"HOOK_SECRET": "s3cret"})
    assert settings.database == "sqlite:///data/rasd.db"
    assert settings.rules_dir == Path("rules")
    feed = settings.feeds[0]
    assert (feed.name, feed.lang, feed.interval) == ("Local sample", "ar", timedelta(minutes=10))
    assert settings.channels["hook"]["secret"] == "s3cret"
    assert settings.routes[0].channels == ("file", "screen")
    assert settings.server.listen == "127.0.0.1:8080"


def test_missing_secret_names_line_and_variable() -> None:
    assert problems(MINIMAL) == [
        "rasd.yaml:11: channels.hook.secret: environment variable HOOK_SECRET is not set"
    ]


def test_env_default_syntax() -> None:
    text = MINIMAL.replace("${HOOK_SECRET}", "${HOOK_SECRET:-fallback}")
    assert settings_from_text(text, "rasd.yaml", {}).channels["hook"]["secret"] == "fallback"


def test_database_and_listen_overrides() -> None:
    env = {
        "HOOK_SECRET": "x",
        "RASD_DATABASE_URL": "postgresql://u@h/db",
        "RASD_LISTEN": "0.0.0.0:9999",
    }
    settings = settings_from_text(MINIMAL, "rasd.yaml", env)
    assert settings.database == "postgresql://u@h/db"
    assert settings.server.port == 9999


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("interval: 10m", "interval: soon"),
            "rasd.yaml:7: feeds[0].interval: 'soon' is not a duration",
        ),
        (("lang: ar", "lang: ar\n    colour: red"), "rasd.yaml:7: feeds[0].colour: unknown key"),
        (
            ("url: http://127.0.0.1:8000/feed.xml", "url: ftp://x/feed"),
            "rasd.yaml:4: feeds[0].url: 'ftp://x/feed' is not an http(s) URL",
        ),
        (
            ("channels: [file, screen]", "channels: [file, pager]"),
            "rasd.yaml:13: routes[0].channels[1]: unknown channel 'pager'",
        ),
        (
            ("screen: {type: console}", "screen: {type: carrier-pigeon}"),
            "rasd.yaml:10: channels.screen",
        ),
    ],
)
def test_wrong_values_are_located(change: tuple[str, str], expected: str) -> None:
    text = MINIMAL.replace(*change)
    found = problems(text, {"HOOK_SECRET": "x"})
    assert any(p.startswith(expected) for p in found), found


def test_invalid_yaml_reports_line() -> None:
    found = problems("feeds:\n  - url: [unclosed\n", {})
    assert found[0].startswith("rasd.yaml:")
    assert "invalid YAML" in found[0]


def test_digest_route_needs_valid_cron() -> None:
    text = MINIMAL.replace(
        "  - channels: [file, screen]         # a route with no filter takes every alert",
        '  - channels: [file]\n    mode: digest\n    schedule: "61 7 * * *"',
    )
    found = problems(text, {"HOOK_SECRET": "x"})
    assert found and found[0].startswith("rasd.yaml:15: routes[0].schedule: not a valid cron"), (
        found
    )


def test_load_settings_uses_rasd_config(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    settings = load_settings(env={"RASD_CONFIG": str(path), "HOOK_SECRET": "x"})
    assert settings.config_path == path


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("raw", "seconds"), [(90, 90), ("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800)]
)
def test_parse_duration(raw: object, seconds: int) -> None:
    assert parse_duration(raw) == timedelta(seconds=seconds)
