from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import feedparser

from monitor.atom import render_atom
from monitor.domain import Alert, TermHit

NOW = datetime(2025, 11, 11, 12, tzinfo=UTC)
AR_TITLE = "هجوم على قافلة صهاريج قرب كايس"
WORD = "صهاريج"


def alerts() -> list[Alert]:
    start = AR_TITLE.index(WORD)
    return [
        Alert(
            1,
            "fuel",
            "Fuel blockade",
            "high",
            ("fuel",),
            AR_TITLE,
            "ملخص",
            "https://x.org/1",
            "Al Jazeera",
            NOW,
            "ar",
            (TermHit("صهاريج", "title", start, start + 6, WORD),),
            story_id=1,
            sources=("Al Jazeera", "RFI"),
            created_at=NOW,
        ),
        Alert(
            2,
            "x",
            "X",
            "low",
            ("security",),
            '<script>alert(1)</script> & "q"',
            "<img src=x onerror=alert(1)>",
            "javascript:alert(1)",
            "Evil <feed>",
            NOW,
            "fr",
            story_id=2,
            sources=("Evil <feed>",),
            created_at=NOW,
        ),
    ]


def test_atom_is_valid_and_escapes_feed_text() -> None:
    body = render_atom(alerts(), "http://127.0.0.1:8080/alerts.atom", NOW)
    ET.fromstring(body)  # well-formed XML
    parsed = feedparser.parse(io.BytesIO(body))
    assert not parsed.bozo and parsed.version == "atom10"
    arabic, hostile = parsed.entries
    assert 'dir="rtl"' in arabic.content[0].value
    assert f"<b>{WORD}</b>" in arabic.content[0].value  # readers keep <b>, drop <mark>
    assert "also reported by RFI" in arabic.content[0].value
    assert arabic.link == "https://x.org/1"
    raw = body.decode()
    assert "<script>" not in raw and "<img" not in raw
    assert "javascript:" not in raw  # unsafe link dropped
    assert "&lt;script&gt;" in hostile.content[0].value
