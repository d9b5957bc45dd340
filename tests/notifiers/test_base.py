from __future__ import annotations

import pytest

from notifiers.base import Message, is_loopback_host
from tests.notifiers.alerts import arabic_alert, french_alert


def test_message_rules() -> None:
    Message("digest", (arabic_alert(), french_alert()), "k")
    with pytest.raises(ValueError):
        Message("alert", (arabic_alert(), french_alert()), "k")
    with pytest.raises(ValueError):
        Message("digest", (), "k")
    with pytest.raises(ValueError):
        Message("rollup", (arabic_alert(),), "k", more_count=-1)
    with pytest.raises(ValueError):
        Message("alert", (arabic_alert(),), "")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.255.0.9", True),
     ("::1", True), ("[::1]", True), ("128.0.0.1", False), ("localhost.example", False),
     ("0.0.0.0", False), ("smtp", False)],
)  # fmt: skip
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
