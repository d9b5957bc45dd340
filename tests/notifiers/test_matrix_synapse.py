"""MatrixNotifier against a real Synapse on 127.0.0.1 (opt-in: set RASD_SYNAPSE_PYTHON to a
python that can import synapse; see docs/operations.md). What a stand-in cannot prove: the
real server takes Rasd's event, keeps the escaped HTML as sent, and dedups on txnId."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.notifiers.alerts import AR_TITLE, arabic_alert, french_alert
from tests.notifiers.support import alert_message, deliver
from tests.notifiers.synapse_home import SynapseHome, synapse_python

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert(1)</script> & <b>"
PASSWORD = "rasd-test-password"


@dataclass(frozen=True)
class Account:
    user_id: str
    token: str


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseHome]:
    python, why = synapse_python()
    if python is None:
        pytest.skip(why)
    with SynapseHome(python, tmp_path_factory.mktemp("synapse")) as home:
        yield home


@pytest.fixture(scope="module")
def account(synapse: SynapseHome) -> Account:
    user_id = synapse.register("rasd", PASSWORD)
    return Account(user_id, synapse.login("rasd", PASSWORD))


def channel(synapse: SynapseHome, account: Account, room_id: str) -> dict[str, object]:
    return {
        "type": "matrix",
        "homeserver": synapse.base_url,
        "access_token": account.token,
        "room_id": room_id,
    }


def room_v11(synapse: SynapseHome, account: Account, name: str) -> str:
    """A room whose id has the classic `!opaque:server` form Rasd's config accepts."""
    room_id = synapse.create_room(account.token, name, version="11")
    assert room_id.endswith(":localhost")
    return room_id


def only_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, [event["content"].get("body", "")[:60] for event in events]
    return events[0]


def test_arabic_alert_with_hostile_title_arrives_escaped(
    synapse: SynapseHome, account: Account
) -> None:
    room_id = room_v11(synapse, account, "fuel")
    alert = arabic_alert(title=f"{AR_TITLE} {HOSTILE}")
    deliver(channel(synapse, account, room_id), alert_message(alert, key="delivery:101/1"))

    event = only_event(synapse.messages(account.token, room_id))
    content = event["content"]
    assert event["sender"] == account.user_id
    assert content["msgtype"] == "m.text" and content["format"] == "org.matrix.custom.html"
    assert "طوابير طويلة أمام محطات" in content["body"] and HOSTILE in content["body"]
    html = content["formatted_body"]
    assert "<b>الوقود</b>" in html and "<b>باماكو</b>" in html and "<b>الصهاريج</b>" in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert html.count("<b>") == html.count("</b>")


def test_same_key_twice_is_one_event_on_the_server(synapse: SynapseHome, account: Account) -> None:
    room_id = room_v11(synapse, account, "kidal")
    raw = channel(synapse, account, room_id)
    message = alert_message(french_alert(), key="delivery:202/1")
    deliver(raw, message)
    deliver(raw, message)  # a retry after a lost answer: same txnId, both PUTs answer 200

    event = only_event(synapse.messages(account.token, room_id))
    assert event["unsigned"]["transaction_id"] == "delivery:202/1"
    assert "Wagner" in event["content"]["body"]

    deliver(raw, alert_message(french_alert(), key="delivery:202/2"))  # a new key is a new event
    events = synapse.messages(account.token, room_id)
    assert [e["unsigned"]["transaction_id"] for e in events] == ["delivery:202/2", "delivery:202/1"]


def test_room_of_the_default_version(synapse: SynapseHome, account: Account) -> None:
    room_id = synapse.create_room(account.token, "default-version")
    deliver(channel(synapse, account, room_id), alert_message(french_alert(), key="d-12"))
    assert "Wagner" in only_event(synapse.messages(account.token, room_id))["content"]["body"]
