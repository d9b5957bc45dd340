"""rasd.yaml + RASD_* environment → frozen, validated Settings.

Every error names the file, the line and the field: `rasd.yaml:12: feeds[3].interval: …`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.domain import SEVERITIES
from monitor.errors import ConfigError, Problem

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DeliverySettings",
    "FeedConfig",
    "PollingSettings",
    "RouteConfig",
    "RouteMatch",
    "ServerSettings",
    "Settings",
    "load_settings",
    "parse_duration",
    "settings_from_text",
]

DEFAULT_CONFIG_PATH = "rasd.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
# libyaml's composer when PyYAML was built with it: a 2,000-feed config composes ~10x faster.
_COMPOSER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_duration(value: object) -> timedelta:
    """`90`, `30s`, `10m`, `1h`, `2d` → timedelta (a bare number is seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        found = _DURATION.match(str(value))
        if not found:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 10m, 1h, 1d)")
        seconds = float(found.group(1)) * _UNITS[found.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class FeedConfig(_Model):
    url: str
    name: str | None = None
    lang: str | None = None
    interval: timedelta | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True
    encoding: str | None = None
    proxy: str | None = None
    health_threshold: timedelta | None = None  # silent/failing longer than this → ops alert

    _duration = field_validator("interval", "health_threshold", mode="before")(
        lambda v: None if v is None else parse_duration(v)
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        if value is not None:
            import codecs

            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    @property
    def display_name(self) -> str:
        return self.name or self.url


class RouteMatch(_Model):
    severity: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    lang: tuple[str, ...] = ()
    min_severity: str | None = None

    @field_validator("severity")
    @classmethod
    def _severities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for sev in value:
            if sev not in SEVERITIES:
                raise ValueError(f"unknown severity {sev!r} (use {', '.join(SEVERITIES)})")
        return value

    @field_validator("min_severity")
    @classmethod
    def _min_severity(cls, value: str | None) -> str | None:
        if value is not None and value not in SEVERITIES:
            raise ValueError(f"unknown severity {value!r} (use {', '.join(SEVERITIES)})")
        return value


class RouteConfig(_Model):
    match: RouteMatch = RouteMatch()
    channels: tuple[str, ...]
    mode: Literal["immediate", "digest"] = "immediate"
    schedule: str | None = None  # cron, for digests
    timezone: str = "Africa/Bamako"

    _zone = field_validator("timezone")(lambda v: _check_zone(v))

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"not a valid cron expression ({exc})") from exc
        return value

    @model_validator(mode="after")
    def _digest_needs_schedule(self) -> RouteConfig:
        if self.mode == "digest" and not self.schedule:
            raise ValueError('a digest route needs a cron `schedule`, e.g. "0 7 * * *"')
        if not self.channels:
            raise ValueError("a route needs at least one channel")
        return self


class PollingSettings(_Model):
    tick: timedelta = timedelta(seconds=15)
    interval: timedelta = timedelta(minutes=15)  # default per feed
    min_interval: timedelta = timedelta(minutes=2)
    max_interval: timedelta = timedelta(hours=6)
    adaptive: bool = True
    jitter: float = Field(0.1, ge=0, le=0.5)
    concurrency: int = Field(16, ge=1, le=512)
    per_host: int = Field(2, ge=1, le=64)
    timeout: timedelta = timedelta(seconds=30)
    max_body_bytes: int = Field(10 * 2**20, ge=1024)
    max_entries: int = Field(200, ge=1)
    parse_timeout: timedelta = timedelta(seconds=20)
    lease: timedelta = timedelta(minutes=5)
    error_backoff_max: timedelta = timedelta(hours=6)
    health_threshold: timedelta = timedelta(hours=24)
    proxy: str | None = None

    _durations = field_validator(
        "tick",
        "interval",
        "min_interval",
        "max_interval",
        "timeout",
        "parse_timeout",
        "lease",
        "error_backoff_max",
        "health_threshold",
        mode="before",
    )(lambda v: parse_duration(v))


class DeliverySettings(_Model):
    tick: timedelta = timedelta(seconds=5)
    max_attempts: int = Field(10, ge=1, le=100)
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    timezone: str = "Africa/Bamako"
    templates_dir: Path | None = None
    send_timeout: timedelta = timedelta(seconds=20)
    quiet_hours: str | None = None  # "22:00-06:00" in `timezone`: low/medium held, high+ go
    story_updates: bool = False  # a new outlet on an alerted story sends an update
    health_route: tuple[str, ...] = ()  # channels that receive feed-health alerts

    _durations = field_validator(
        "tick", "backoff_base", "backoff_max", "send_timeout", mode="before"
    )(lambda v: parse_duration(v))
    _zone = field_validator("timezone")(lambda v: _check_zone(v))

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$", value):
            raise ValueError('quiet_hours must look like "22:00-06:00"')
        return value


class ServerSettings(_Model):
    listen: str = "127.0.0.1:8080"
    enabled: bool = True

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not HOST:PORT")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class RetentionSettings(_Model):
    items_days: int = Field(90, ge=1)


class Settings(_Model):
    database: str = "sqlite:///data/rasd.db"
    rules_dir: Path = Path("rules")
    feeds: tuple[FeedConfig, ...] = ()
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    routes: tuple[RouteConfig, ...] = ()
    polling: PollingSettings = PollingSettings()
    delivery: DeliverySettings = DeliverySettings()
    server: ServerSettings = ServerSettings()
    retention: RetentionSettings = RetentionSettings()
    story_window: timedelta = timedelta(hours=48)
    log_format: Literal["text", "json"] = "text"
    config_path: Path | None = None

    _window = field_validator("story_window", mode="before")(lambda v: parse_duration(v))

    def health_thresholds(self) -> dict[str, timedelta]:
        """Feed URL (as configured) → its own health threshold, where it has one."""
        return {f.url: f.health_threshold for f in self.feeds if f.health_threshold is not None}


# --- loading with line numbers ------------------------------------------------------------

Lines = dict[tuple[str | int, ...], int]


def _construct(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: Lines,
    problems: list[Problem],
    filename: str,
    env: Mapping[str, str],
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if key_node.tag != "tag:yaml.org,2002:str" else key_node.value
            if key in out:
                problems.append(
                    Problem(
                        filename,
                        key_node.start_mark.line + 1,
                        f"{_dotted((*path, key))}: duplicate key",
                    )
                )
            out[key] = _construct(value_node, (*path, key), lines, problems, filename, env)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(child, (*path, i), lines, problems, filename, env)
            for i, child in enumerate(node.value)
        ]
    value = _scalar(node)
    if isinstance(value, str) and "${" in value:

        def substitute(found: re.Match[str]) -> str:
            name, default = found.group(1), found.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(
                Problem(
                    filename,
                    node.start_mark.line + 1,
                    f"{_dotted(path)}: environment variable {name} is not set",
                )
            )
            return ""

        value = _ENV_REF.sub(substitute, value)
    return value


def _scalar(node: yaml.Node) -> Any:
    """The value of a leaf node, as yaml.safe_load would build it."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_for(loc: tuple[str | int, ...], lines: Lines) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def settings_from_text(
    text: str, filename: str = DEFAULT_CONFIG_PATH, env: Mapping[str, str] | None = None
) -> Settings:
    """Parse and validate config text; raise ConfigError listing every problem with its line."""
    env = os.environ if env is None else env
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(
            [Problem(filename, line, f"invalid YAML: {getattr(exc, 'problem', exc)}")]
        ) from exc
    problems: list[Problem] = []
    lines: Lines = {}
    data = {} if root is None else _construct(root, (), lines, problems, filename, env)
    if not isinstance(data, dict):
        raise ConfigError([Problem(filename, 1, "the top level must be a mapping")])
    if problems:
        raise ConfigError(problems)
    if env.get("RASD_DATABASE_URL"):
        data["database"] = env["RASD_DATABASE_URL"]
    if env.get("RASD_LISTEN"):
        data.setdefault("server", {})
        if isinstance(data["server"], dict):
            data["server"]["listen"] = env["RASD_LISTEN"]
    if env.get("RASD_RULES_DIR"):
        data["rules_dir"] = env["RASD_RULES_DIR"]
    if env.get("RASD_LOG_FORMAT"):
        data["log_format"] = env["RASD_LOG_FORMAT"]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems.extend(_located(exc, (), lines, filename))
        raise ConfigError(problems) from None
    problems.extend(_cross_check(settings, lines, filename))
    if problems:
        raise ConfigError(problems)
    return settings


def _located(
    exc: ValidationError, prefix: tuple[str | int, ...], lines: Lines, filename: str
) -> list[Problem]:
    out = []
    for error in exc.errors():
        loc = prefix + tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required"
        out.append(Problem(filename, _line_for(loc, lines), f"{_dotted(loc)}: {message}"))
    return out


def _cross_check(settings: Settings, lines: Lines, filename: str) -> list[Problem]:
    """Checks that span sections: channel settings by type, route → channel names, feeds."""
    from notifiers.registry import validate_channel

    problems: list[Problem] = []
    for name, raw in settings.channels.items():
        where = ("channels", name)
        if not isinstance(raw, Mapping):
            problems.append(
                Problem(
                    filename,
                    _line_for(where, lines),
                    f"{_dotted(where)}: must be a mapping with a `type`",
                )
            )
            continue
        try:
            validate_channel(str(name), raw)
        except ValidationError as exc:
            problems.extend(_located(exc, where, lines, filename))
        except ValueError as exc:
            problems.append(Problem(filename, _line_for(where, lines), f"{_dotted(where)}: {exc}"))
    known = ", ".join(sorted(settings.channels)) or "none defined"
    for index, route in enumerate(settings.routes):
        for position, channel in enumerate(route.channels):
            if channel not in settings.channels:
                where = ("routes", index, "channels", position)
                problems.append(
                    Problem(
                        filename,
                        _line_for(where, lines),
                        f"{_dotted(where)}: unknown channel {channel!r} (channels: {known})",
                    )
                )
    for position, channel in enumerate(settings.delivery.health_route):
        if channel not in settings.channels:
            where = ("delivery", "health_route", position)
            problems.append(
                Problem(
                    filename,
                    _line_for(where, lines),
                    f"{_dotted(where)}: unknown channel {channel!r}",
                )
            )
    seen: set[str] = set()
    for index, feed in enumerate(settings.feeds):
        if feed.url in seen:
            where = ("feeds", index, "url")
            problems.append(
                Problem(
                    filename,
                    _line_for(where, lines),
                    f"{_dotted(where)}: {feed.url} is listed twice",
                )
            )
        seen.add(feed.url)
    return problems


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load `path`, else $RASD_CONFIG, else ./rasd.yaml."""
    env = os.environ if env is None else env
    chosen = Path(path or env.get("RASD_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(chosen), 0, "config file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(chosen), 0, f"cannot read config: {exc}")]) from None
    settings = settings_from_text(text, str(chosen), env)
    return settings.model_copy(update={"config_path": chosen})
