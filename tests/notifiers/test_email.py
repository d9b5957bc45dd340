from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from monitor.errors import Rejected, RetryLater
from notifiers.base import Message, RenderSettings
from notifiers.email import EmailConfig, build_email, message_id, subject
from notifiers.registry import validate_channel
from tests.notifiers.alerts import arabic_alert, french_alert, hostile_alert
from tests.notifiers.support import alert_message, deliver, deliver_error


class Inbox:
    """aiosmtpd handler: keeps each received message with whether it came over TLS."""

    def __init__(self, refuse_rcpt: str | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.tls: list[bool] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.refuse_rcpt = refuse_rcpt

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.tls.append(session.ssl is not None)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


def config(port: int, **changes: object) -> dict[str, object]:
    return {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "from": "Rasd <rasd@alerts.example.org>",
        "to": ["analyst@example.org", "desk@example.org"],
        **changes,
    }


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_arabic_alert_over_plain_loopback(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    deliver(config(port), alert_message(arabic_alert(), key="delivery-77"))
    (msg,) = inbox.messages
    assert msg.get_content_type() == "multipart/alternative"
    assert (
        msg["Subject"] == "[HIGH] أزمة الوقود: أزمة الوقود في باماكو: طوابير طويلة أمام محطات Total"
    )
    assert msg["Message-ID"] == "<rasd-delivery-77@alerts.example.org>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["To"] == "analyst@example.org, desk@example.org"
    text, html = parts(msg)
    assert '<html lang="ar" dir="rtl">' in html
    assert '<div dir="rtl" lang="ar"' in html
    assert "<mark>الوقود</mark>" in html and "<mark>باماكو</mark>" in html
    assert 'href="https://www.example-ar.ml/news/123?utm_source=x&amp;a=b"' in html
    assert "2025-03-04 09:30 GMT" in text and "Also reported by: Mali Actu" in text
    for part in msg.iter_parts():
        assert part.get_content_charset() == "utf-8"


def test_message_id_stable_across_sends(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    message = alert_message(french_alert(), key="d/42:retry")
    deliver(config(port), message)
    deliver(config(port), message)
    first, second = inbox.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"] == message_id("d/42:retry", "alerts.example.org")
    assert first["Message-ID"] != message_id("d/43:retry", "alerts.example.org")


def test_hostile_content_is_escaped(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    deliver(config(port), alert_message(hostile_alert(title="Bad\r\nBcc: x@evil <script>")))
    (msg,) = inbox.messages
    assert msg["Bcc"] is None and "\n" not in msg["Subject"]
    _, html = parts(msg)
    assert "<script>" not in html and "<img" not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html


def test_digest_grouped_by_topic(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    alerts = (arabic_alert(), french_alert(), hostile_alert(url=None))
    deliver(
        config(port, digest_subject="Rasd morning digest ({count})"),
        Message("digest", alerts, "dg"),
    )
    (msg,) = inbox.messages
    assert msg["Subject"] == "Rasd morning digest (3)"
    text, html = parts(msg)
    assert text.index("## russia") < text.index("## fuel") < text.index("## security")
    assert html.count("<h2") == 3
    assert '<html lang="" dir="ltr">' not in html and 'dir="ltr"' in html


def test_starttls_required_and_used(certificate: tuple[Path, Path]) -> None:
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_context(certificate),
        require_starttls=True, authenticator=inbox.authenticate, auth_require_tls=True,
        auth_exclude_mechanism=["LOGIN"],
    )  # fmt: skip
    controller.start()
    try:
        raw = config(
            controller.port, tls="starttls", ca_file=str(certificate[0]),
            username="rasd", password="s3cret",
        )  # fmt: skip
        deliver(raw, alert_message(arabic_alert()))
        assert inbox.tls == [True] and inbox.logins == [(b"rasd", b"s3cret")]
        error = deliver_error({**raw, "password": "wrong"}, alert_message(arabic_alert()))
        assert isinstance(error, Rejected) and "535" in str(error)
    finally:
        controller.stop()


def test_starttls_never_falls_back_to_clear_text(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp  # this server offers no STARTTLS
    error = deliver_error(config(port, tls="starttls"), alert_message(arabic_alert()))
    assert isinstance(error, RetryLater) and "STARTTLS" in str(error)
    assert inbox.messages == []


def test_untrusted_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_context(certificate)
    )
    controller.start()
    try:
        error = deliver_error(
            config(controller.port, tls="starttls"), alert_message(arabic_alert())
        )
        assert isinstance(error, RetryLater) and inbox.messages == []
    finally:
        controller.stop()


def test_refused_recipients() -> None:
    inbox = Inbox(refuse_rcpt="550 5.1.1 no such user")
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        error = deliver_error(config(controller.port), alert_message(french_alert()))
        assert isinstance(error, Rejected) and "550" in str(error)
        inbox.refuse_rcpt = "451 4.3.0 try later"
        error = deliver_error(config(controller.port), alert_message(french_alert()))
        assert isinstance(error, RetryLater)
    finally:
        controller.stop()


def test_connection_refused_is_retried() -> None:
    error = deliver_error(config(free_port()), alert_message(french_alert()))
    assert isinstance(error, RetryLater)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]"])
def test_tls_none_allowed_on_loopback(host: str) -> None:
    validate_channel("mail", config(25, host=host))


@pytest.mark.parametrize("host", ["smtp.example.org", "10.0.0.5", "192.168.1.1", "localhost.evil"])
def test_tls_none_refused_elsewhere(host: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_channel("mail", config(25, host=host))
    assert info.value.errors()[0]["loc"] == ("tls",)


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"to": []}, ("to",)),
        ({"to": ["not-an-address"]}, ("to",)),
        ({"from": "x\r\nBcc: y@z.org"}, ("from",)),
        ({"tls": "opportunistic"}, ("tls",)),
        ({"port": 0}, ("port",)),
        ({"smtp_host": "x"}, ("smtp_host",)),
    ],
)
def test_config_errors_are_located(changes: dict[str, object], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        validate_channel("mail", {**config(25), **changes})
    assert info.value.errors()[0]["loc"] == loc


def test_defaults_and_login_pairing() -> None:
    cfg = validate_channel(
        "mail", {"type": "email", "host": "smtp.example.org", "from": "a@b.org", "to": ["c@d.org"]}
    )
    assert isinstance(cfg, EmailConfig)
    assert cfg.port == 587 and cfg.tls == "starttls"
    with pytest.raises(ValidationError):
        validate_channel("mail", config(25, username="only-user"))


def test_build_email_is_deterministic_with_a_date() -> None:
    cfg = EmailConfig.model_validate(config(25))
    when = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    message = Message("rollup", (french_alert(), arabic_alert()), "r-9", more_count=10)
    one = build_email(message, cfg, RenderSettings(), date=when)
    two = build_email(message, cfg, RenderSettings(), date=when)
    assert one.as_bytes() == two.as_bytes()
    assert one["Date"] == "Tue, 04 Mar 2025 10:00:00 +0000"
    assert subject(message) == (
        "[CRITICAL] Coopération militaire russe: Mali : l'armée et Wagner/Africa Corps "
        "annoncent une opération près de Kidal (+11 more)"
    )
    assert "… and 10 more." in parts(one)[0]


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), ssl_context=server_context(certificate)
    )
    controller.start()
    try:
        raw = config(controller.port, tls="ssl", ca_file=str(certificate[0]))
        deliver(raw, alert_message(french_alert()))
        assert len(inbox.messages) == 1
    finally:
        controller.stop()
