from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from pydantic import ValidationError

from notifiers.base import Notifier, RateLimit, RenderSettings, effective_rate_limit
from notifiers.registry import CHANNEL_TYPES, build_notifier, validate_channel

MINIMAL: dict[str, dict[str, object]] = {
    "console": {"type": "console"},
    "jsonl": {"type": "jsonl", "path": "/tmp/x.jsonl"},
    "webhook": {"type": "webhook", "url": "https://hooks.example.org/rasd", "secret": "s"},
    "email": {"type": "email", "host": "smtp.example.org", "from": "r@e.org", "to": ["a@e.org"]},
    "telegram": {"type": "telegram", "token": "1:abc", "chat_id": -100},
    "slack": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"},
    "teams": {"type": "teams", "webhook_url": "https://prod.logic.azure.com/workflows/x"},
    "matrix": {
        "type": "matrix",
        "homeserver": "https://matrix.example.org",
        "access_token": "syt",
        "room_id": "!r:example.org",
    },
    "mattermost": {"type": "mattermost", "webhook_url": "https://mm.example.org/hooks/k"},
    "discord": {"type": "discord", "webhook_url": "https://discord.com/api/webhooks/1/t"},
    "apprise": {"type": "apprise", "urls": ["ntfy://ntfy.example.org/sahel-desk"]},
}


def test_table_covers_every_channel() -> None:
    assert set(CHANNEL_TYPES) == set(MINIMAL)
    for name, cls in CHANNEL_TYPES.items():
        assert cls.type == name


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_build_every_channel(kind: str) -> None:
    async def build() -> Notifier:
        async with httpx.AsyncClient() as client:
            notifier = build_notifier("main", MINIMAL[kind], client, RenderSettings())
            await notifier.aclose()
            return notifier

    notifier = asyncio.run(build())
    assert isinstance(notifier, Notifier) and notifier.name == "main"
    assert type(notifier).type == kind


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_rate_limit_override(kind: str) -> None:
    cfg = validate_channel("x", {**MINIMAL[kind], "rate_limit": {"count": 3, "per": 60}})
    assert cfg.rate_limit == RateLimit(count=3, per=60)  # type: ignore[attr-defined]
    assert cfg.rate_limit.period == timedelta(minutes=1)  # type: ignore[attr-defined]


def test_effective_rate_limit_falls_back_to_channel_default() -> None:
    async def build(raw: dict[str, object]) -> Notifier:
        async with httpx.AsyncClient() as client:
            return build_notifier("s", raw, client, RenderSettings())

    default = asyncio.run(build(MINIMAL["slack"]))
    assert effective_rate_limit(default) == RateLimit(count=1, per=1)
    custom = asyncio.run(build({**MINIMAL["slack"], "rate_limit": {"count": 5, "per": 2.5}}))
    assert effective_rate_limit(custom) == RateLimit(count=5, per=2.5)
    assert effective_rate_limit(asyncio.run(build(MINIMAL["console"]))) is None


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ({"type": "pigeon"}, ("type",)),
        ({"webhook_url": "https://x.org"}, ("type",)),
        ({**MINIMAL["slack"], "webhook_url": "javascript:x"}, ("webhook_url",)),
        ({**MINIMAL["slack"], "channel": "#x"}, ("channel",)),
        ({**MINIMAL["telegram"], "api_url": "file:///etc"}, ("api_url",)),
        ({**MINIMAL["webhook"], "url": "ftp://x.org"}, ("url",)),
        ({**MINIMAL["console"], "rate_limit": {"count": 0, "per": 1}}, ("rate_limit", "count")),
        ({**MINIMAL["console"], "rate_limit": {"count": 1}}, ("rate_limit", "per")),
    ],
)
def test_errors_are_located(raw: dict[str, object], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        validate_channel("x", raw)
    assert info.value.errors()[0]["loc"] == loc


def test_secrets_do_not_leak_into_errors_or_repr() -> None:
    with pytest.raises(ValidationError) as info:
        validate_channel("x", {**MINIMAL["telegram"], "token": "1:SUPERSECRET", "chat_id": ""})
    assert "SUPERSECRET" not in str(info.value)
    cfg = validate_channel("x", {**MINIMAL["telegram"], "token": "1:SUPERSECRET"})
    assert "SUPERSECRET" not in repr(cfg)
