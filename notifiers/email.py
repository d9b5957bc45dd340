"""Email: multipart/alternative (text + HTML), UTF-8, sent over SMTP with an explicit TLS
mode. `starttls` requires the upgrade (never falls back to clear text); `none` is allowed
only to a loopback relay. The Message-ID derives from the idempotency key, so a resent
delivery is recognisably the same message."""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import re
import ssl
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import aiosmtplib
import httpx
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from monitor.domain import severity_rank
from monitor.errors import Rejected, RetryLater
from notifiers.base import ChannelConfig, Message, RateLimit, RenderSettings, is_loopback_host
from notifiers.compose import grouped_views, heading
from notifiers.limits import truncate_text
from notifiers.render import EMAIL_HTML, PLAIN, clean_text
from notifiers.templating import render_template

__all__ = ["EmailConfig", "EmailNotifier", "build_email", "message_id", "subject"]

MAX_SUBJECT_CHARS = 200
_KEY_CHARS = re.compile(r"[A-Za-z0-9._-]{1,100}")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.?[^@\s<>()\[\],;:\"]*$")


def _check_address(value: str) -> str:
    _, address = email.utils.parseaddr(value)
    if not address or not _ADDRESS.match(address) or any(c in value for c in "\r\n"):
        raise ValueError(f"not an email address: {value!r}")
    return value


class EmailConfig(ChannelConfig):
    type: Literal["email"] = "email"
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from")
    to: Annotated[list[str], Field(min_length=1)]
    digest_subject: str | None = None
    ca_file: Path | None = None  # trust this CA bundle (a relay with a private CA)
    timeout: Annotated[float, Field(gt=0, le=300)] = 30.0

    @field_validator("from_")
    @classmethod
    def _check_from(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        return [_check_address(v) for v in value]

    @field_validator("tls")
    @classmethod
    def _check_tls(cls, value: str, info: ValidationInfo) -> str:
        host = info.data.get("host")
        if value == "none" and host is not None and not is_loopback_host(host):
            raise ValueError(
                "tls: none is only allowed for a loopback host (127.0.0.0/8, ::1, localhost);"
                " use starttls or ssl"
            )
        return value

    @model_validator(mode="after")
    def _check_login(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    @property
    def from_domain(self) -> str:
        return email.utils.parseaddr(self.from_)[1].rpartition("@")[2].lower()


def message_id(key: str, domain: str) -> str:
    """`<rasd-{key}@{domain}>`; a key with other characters is hashed, stable either way."""
    local = key if _KEY_CHARS.fullmatch(key) else "h" + hashlib.sha256(key.encode()).hexdigest()
    return f"<rasd-{local}@{domain}>"


def subject(message: Message, digest_subject: str | None = None) -> str:
    if message.kind == "digest":
        total = len(message.alerts) + message.more_count
        text = (digest_subject or heading(message) or "").replace("{count}", str(total))
    else:
        top = max(message.alerts, key=lambda a: severity_rank(a.severity))
        text = f"[{top.severity.upper()}] {top.rule_title}: {top.title}"
        if message.kind == "update":
            text = f"Update: {text}"
        extra = len(message.alerts) - 1 + message.more_count
        if extra:
            text += f" (+{extra} more)"
    return truncate_text(clean_text(text), MAX_SUBJECT_CHARS)


def _html_lang(langs: set[str]) -> str:
    return langs.pop() if len(langs) == 1 else ""


def build_email(
    message: Message, config: EmailConfig, render: RenderSettings, *, date: datetime | None = None
) -> EmailMessage:
    title = heading(message) or ""
    text_groups = grouped_views(message, PLAIN, render)
    html_groups = grouped_views(message, EMAIL_HTML, render)
    views = [v for _, group in html_groups for v in group]
    common = {"kind": message.kind, "more_count": message.more_count}
    text = render_template(
        render, "email.txt", groups=text_groups, heading=clean_text(title), **common
    )
    html = render_template(
        render,
        "email.html",
        groups=html_groups,
        heading=clean_text(title) or subject(message),
        dir="rtl" if all(v.rtl for v in views) else "ltr",
        lang=_html_lang({v.lang for v in views}),
        **common,
    )
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = subject(message, config.digest_subject)
    msg["From"] = config.from_
    msg["To"] = ", ".join(config.to)
    msg["Message-ID"] = message_id(message.idempotency_key, config.from_domain)
    msg["Date"] = email.utils.format_datetime(date) if date else email.utils.formatdate()
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text + "\n", charset="utf-8")
    msg.add_alternative(html + "\n", subtype="html", charset="utf-8")
    msg.set_boundary("=_rasd_" + hashlib.sha256(msg["Message-ID"].encode()).hexdigest()[:32])
    return msg


def _smtp_error(channel: str, exc: aiosmtplib.SMTPException) -> Exception:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            return Rejected(channel, f"recipients refused: {detail}")
        return RetryLater(channel, f"recipients refused: {detail}")
    if isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600:
        return Rejected(channel, f"{exc.code} {exc.message}")
    return RetryLater(channel, f"{type(exc).__name__}: {exc}")


class EmailNotifier:
    type: ClassVar[str] = "email"
    Config: ClassVar[type[EmailConfig]] = EmailConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(count=30, per=60)

    def __init__(
        self, name: str, config: EmailConfig, client: httpx.AsyncClient, render: RenderSettings
    ) -> None:
        self.name = name
        self.config = config
        self._render = render
        self._tls_context: ssl.SSLContext | None = None
        if config.ca_file is not None:
            self._tls_context = ssl.create_default_context(cafile=str(config.ca_file))

    async def send(self, message: Message) -> None:
        cfg = self.config
        msg = build_email(message, cfg, self._render)
        try:
            await aiosmtplib.send(
                msg,
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username,
                password=cfg.password.get_secret_value() if cfg.password else None,
                use_tls=cfg.tls == "ssl",
                start_tls=cfg.tls == "starttls",  # True means required, False never
                tls_context=self._tls_context,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPException as exc:
            raise _smtp_error(self.name, exc) from None
        except (OSError, ssl.SSLError) as exc:
            raise RetryLater(self.name, f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        """Nothing to release: one SMTP connection per send, closed by aiosmtplib."""
