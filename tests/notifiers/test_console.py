from __future__ import annotations

import pytest

from notifiers.base import Message, RenderSettings
from notifiers.console import render_console
from tests.notifiers.alerts import arabic_alert, french_alert, hostile_alert
from tests.notifiers.support import alert_message, deliver


def test_prints_a_readable_block(capsys: pytest.CaptureFixture[str]) -> None:
    deliver({"type": "console"}, alert_message(french_alert()))
    out = capsys.readouterr().out
    assert "Mali : l'armée et Wagner/Africa Corps" in out
    assert "Le Sahel Info · 2025-03-04 23:50 GMT" in out
    assert "Rule: Coopération militaire russe (critical)" in out
    assert "https://www.example.fr/afrique/mali-kidal" in out
    assert "\x1b" not in out  # not a terminal: no ANSI


def test_bold_hits_on_a_terminal() -> None:
    out = render_console(alert_message(arabic_alert()), RenderSettings(), tty=True)
    assert "\x1b[1mالوقود\x1b[22m" in out


def test_feed_text_cannot_drive_the_terminal() -> None:
    alert = hostile_alert(title="x\x1b]0;owned\x07\x1b[2J y", hits=())
    out = render_console(Message("rollup", (alert,), "k", more_count=2), RenderSettings(), tty=True)
    assert "\x1b]" not in out and "\x1b[2J" not in out and "\x07" not in out
    assert "… and 2 more" in out
