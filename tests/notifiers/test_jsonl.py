from __future__ import annotations

import json
import threading
from pathlib import Path

from monitor.errors import Rejected
from notifiers.base import Message
from notifiers.jsonl import append_lines, build_lines
from tests.notifiers.alerts import arabic_alert, french_alert
from tests.notifiers.support import alert_message, deliver, deliver_error


def read(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_appends_one_line_per_alert_creating_dirs(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "alerts.jsonl"
    raw = {"type": "jsonl", "path": str(path)}
    deliver(raw, alert_message(arabic_alert(), key="a-1"))
    deliver(raw, Message("digest", (french_alert(), arabic_alert()), "d-1"))
    lines = read(path)
    assert [line["id"] for line in lines] == [101, 202, 101]
    assert lines[0]["title"] == arabic_alert().title
    assert lines[0]["delivery"] == {"kind": "alert", "idempotency_key": "a-1", "more_count": 0}
    assert lines[1]["published"] == "2025-03-04T23:50:00Z"
    assert "الوقود" in path.read_text(encoding="utf-8")  # UTF-8, not \\u escapes


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    big = build_lines(Message("digest", tuple(arabic_alert(id=i) for i in range(50)), "k"))
    threads = [threading.Thread(target=append_lines, args=(path, big)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read(path)) == 400


def test_unwritable_path_rejected(tmp_path: Path) -> None:
    error = deliver_error({"type": "jsonl", "path": str(tmp_path)}, alert_message(french_alert()))
    assert isinstance(error, Rejected)
