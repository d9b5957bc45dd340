from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifiers.base import RenderSettings
from notifiers.email import EmailConfig, build_email
from notifiers.telegram import build_payload
from notifiers.transport import parse_retry_after
from tests.notifiers.alerts import arabic_alert, hostile_alert
from tests.notifiers.support import alert_message


def test_admin_template_overrides_builtin(tmp_path: Path) -> None:
    (tmp_path / "telegram_alert.txt").write_text(
        "CUSTOM {{ a.severity }} {{ a.title }}", encoding="utf-8"
    )
    settings = RenderSettings(templates_dir=tmp_path)
    text = build_payload(alert_message(hostile_alert()), 1, settings)["text"]
    assert text.startswith("CUSTOM medium &lt;script&gt;<b>alert</b>")
    # templates not overridden still come from the package
    default = build_payload(alert_message(arabic_alert()), 1, RenderSettings())["text"]
    assert not default.startswith("CUSTOM")


def test_html_override_still_autoescapes(tmp_path: Path) -> None:
    (tmp_path / "email.html").write_text(
        "<p>{{ groups[0][1][0].feed }} {{ '<i>raw</i>' }}</p>", encoding="utf-8"
    )
    cfg = EmailConfig.model_validate(
        {"type": "email", "host": "::1", "tls": "none", "from": "r@e.org", "to": ["a@e.org"]}
    )
    msg = build_email(alert_message(hostile_alert()), cfg, RenderSettings(templates_dir=tmp_path))
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Evil &amp; Co &lt;feed&gt;" in html and "&lt;i&gt;raw&lt;/i&gt;" in html


PURE = ["render.py", "limits.py", "compose.py"]
FORBIDDEN = {"httpx", "sqlalchemy", "feedparser", "apscheduler", "aiosmtplib", "storage"}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io_library(module: str) -> None:
    tree = ast.parse((Path("notifiers") / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{module} imports {name}"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7), ("0", 0), ("-3", 0), ("1.5", 1.5), ("99999999", 6 * 3600),
     ("Wed, 04 Mar 2025 10:00:30 GMT", 30), ("soon", None), ("", None), (None, None),
     ("nan", None)],
)  # fmt: skip
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    after = parse_retry_after(value, now)
    assert (after.total_seconds() if after is not None else None) == seconds
