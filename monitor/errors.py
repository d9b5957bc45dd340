"""The exception hierarchy.

RasdError
├── ConfigError      rasd.yaml: file, line, field
├── RuleError        rules/*.yaml: file, line, column (one or many problems)
├── FetchError       a feed could not be fetched: url, reason
├── ParseError       a body is not a usable feed: url, reason
└── DeliveryError    a channel could not deliver
    ├── RetryLater   transient: try again, after `after` if the API said so
    └── Rejected     permanent: the API refused this message
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "ConfigError",
    "DeliveryError",
    "FetchError",
    "ParseError",
    "Problem",
    "RasdError",
    "Rejected",
    "RetryLater",
    "RuleError",
]


class RasdError(Exception):
    """Base of every error Rasd raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in a file: `file:line:col: message`."""

    file: str
    line: int
    message: str
    col: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f":{self.col}" if self.col else "")
        return f"{where}: {self.message}"


class ConfigError(RasdError):
    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("rasd.yaml", 0, problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RuleError(RasdError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FetchError(RasdError):
    """`reason` is a short stable code (timeout, too-large, http-500, …) for metrics."""

    def __init__(
        self,
        url: str,
        reason: str,
        detail: str = "",
        *,
        retry_after: timedelta | None = None,
        status: int | None = None,
    ) -> None:
        self.url = url
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        self.status = status
        super().__init__(f"fetch: {url}: {reason}" + (f" ({detail})" if detail else ""))


class ParseError(RasdError):
    def __init__(self, url: str, reason: str, detail: str = "") -> None:
        self.url = url
        self.reason = reason
        self.detail = detail
        super().__init__(f"parse: {url}: {reason}" + (f" ({detail})" if detail else ""))


class DeliveryError(RasdError):
    def __init__(self, channel: str, message: str) -> None:
        self.channel = channel
        super().__init__(f"{channel}: {message}")


class RetryLater(DeliveryError):
    def __init__(self, channel: str, message: str, after: timedelta | None = None) -> None:
        self.after = after
        super().__init__(channel, message)


class Rejected(DeliveryError):
    pass
