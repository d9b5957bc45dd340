"""The explicit table of channel types, and building a notifier from its raw config."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, create_model

from notifiers.apprise_channel import AppriseNotifier
from notifiers.base import ChannelConfig, Notifier, RenderSettings
from notifiers.console import ConsoleNotifier
from notifiers.discord import DiscordNotifier
from notifiers.email import EmailNotifier
from notifiers.jsonl import JsonlNotifier
from notifiers.matrix import MatrixNotifier
from notifiers.mattermost import MattermostNotifier
from notifiers.slack import SlackNotifier
from notifiers.teams import TeamsNotifier
from notifiers.telegram import TelegramNotifier
from notifiers.webhook import WebhookNotifier

__all__ = ["CHANNEL_TYPES", "build_notifier", "validate_channel"]

CHANNEL_TYPES: dict[str, type[Notifier]] = {
    "console": ConsoleNotifier,
    "jsonl": JsonlNotifier,
    "webhook": WebhookNotifier,
    "email": EmailNotifier,
    "telegram": TelegramNotifier,
    "slack": SlackNotifier,
    "teams": TeamsNotifier,
    "matrix": MatrixNotifier,
    "mattermost": MattermostNotifier,
    "discord": DiscordNotifier,
    "apprise": AppriseNotifier,  # optional package; checked when it sends
}


@cache
def _type_model() -> type[BaseModel]:
    names = tuple(CHANNEL_TYPES)
    return create_model(
        "ChannelType",
        __config__=ConfigDict(extra="allow", hide_input_in_errors=True),
        type=(Literal[names], ...),  # type: ignore[valid-type]
    )


def validate_channel(name: str, raw: Mapping[str, Any]) -> ChannelConfig:
    """The typed config of channel `name`. A missing or unknown `type` and every bad key
    raise pydantic.ValidationError whose `loc` is the key inside the channel's mapping."""
    kind = _type_model().model_validate(dict(raw)).type  # type: ignore[attr-defined]
    return CHANNEL_TYPES[kind].Config.model_validate(dict(raw))


def build_notifier(
    name: str, raw: Mapping[str, Any], client: httpx.AsyncClient, render: RenderSettings
) -> Notifier:
    config = validate_channel(name, raw)
    return CHANNEL_TYPES[config.type](name, config, client, render)
