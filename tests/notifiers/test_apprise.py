"""The optional Apprise channel, through Apprise's own json:// notifier to a local server."""

from __future__ import annotations

import json

import pytest

from monitor.errors import Rejected, RetryLater
from tests.feedserver import FeedServer
from tests.notifiers.alerts import arabic_alert
from tests.notifiers.support import alert_message, deliver, deliver_error

pytest.importorskip("apprise", reason="the optional apprise package is not installed")


def config(url: str) -> dict[str, object]:
    return {"type": "apprise", "urls": [url]}


def test_alert_reaches_the_service(feed_server: FeedServer) -> None:
    feed_server.add("/notify", b"{}", etag=False, headers={"Content-Type": "application/json"})
    target = feed_server.url("/notify").replace("http://", "json://")
    deliver(config(target), alert_message(arabic_alert()))
    (request,) = feed_server.hits("/notify")
    body = json.loads(request.body)
    assert "[HIGH]" in body["title"] or "[" in body["title"]
    assert arabic_alert().title.split()[0] in body["message"]


def test_failure_is_retried_and_bad_url_rejected(feed_server: FeedServer) -> None:
    feed_server.add("/down", b"", status=500, etag=False)
    target = feed_server.url("/down").replace("http://", "json://")
    assert isinstance(deliver_error(config(target), alert_message(arabic_alert())), RetryLater)
    error = deliver_error(config("nosuchscheme://x"), alert_message(arabic_alert()))
    assert isinstance(error, Rejected)
