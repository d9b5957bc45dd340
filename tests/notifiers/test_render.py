from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain import TermHit
from notifiers.render import (
    ANSI,
    EMAIL_HTML,
    MARKDOWN,
    PDI,
    PLAIN,
    RLI,
    SLACK,
    TELEGRAM,
    alert_payload,
    clean_text,
    clip,
    escape_html,
    escape_markdown,
    escape_slack,
    format_published,
    group_by_topic,
    highlight,
    is_rtl,
    isolate,
    other_sources,
    safe_url,
    view,
)
from tests.notifiers.alerts import (
    AR_SUMMARY,
    AR_TITLE,
    HOSTILE_TITLE,
    arabic_alert,
    french_alert,
    hit,
    hostile_alert,
)


def ident(text: str) -> str:
    return text


def test_highlight_arabic_offsets() -> None:
    hits = (hit(AR_TITLE, "الوقود"), hit(AR_TITLE, "باماكو"))
    out = highlight(AR_TITLE, hits, "title", "<b>", "</b>", ident)
    assert out == "أزمة <b>الوقود</b> في <b>باماكو</b>: طوابير طويلة أمام محطات Total"


def test_highlight_only_its_field_and_merges_overlaps() -> None:
    text = "Africa Corps et Wagner"
    hits = (
        TermHit("africa", "title", 0, 6, "Africa"),
        TermHit("africa corps", "title", 0, 12, "Africa Corps"),
        TermHit("wagner", "summary", 16, 22, "Wagner"),
    )
    assert highlight(text, hits, "title", "[", "]", ident) == "[Africa Corps] et Wagner"


@pytest.mark.parametrize(
    "hit_",
    [
        TermHit("x", "title", 5, 100, "x"),  # past the end
        TermHit("x", "title", -1, 2, "x"),
        TermHit("x", "title", 3, 3, ""),  # empty
        TermHit("mali", "title", 0, 4, "Mali"),  # text disagrees: stale offsets
    ],
)
def test_highlight_ignores_bad_hits(hit_: TermHit) -> None:
    assert highlight("Kidal tombe", (hit_,), "title", "[", "]", ident) == "Kidal tombe"


def test_highlight_escapes_text_and_hit_separately() -> None:
    title = HOSTILE_TITLE
    out = highlight(title, (hit(title, "alert"),), "title", "<b>", "</b>", escape_html)
    assert out == ("&lt;script&gt;<b>alert</b>(1)&lt;/script&gt; &amp; @everyone &lt;b&gt;")


@pytest.mark.parametrize(
    ("escape", "expected"),
    [
        (escape_html, "&lt;a href=&quot;x&quot;&gt; &amp; &#x27;q&#x27;"),
        (escape_slack, "&lt;a href=\"x\"&gt; &amp; 'q'"),
        (escape_markdown, r"\<a href=\"x\"\> & 'q'".replace('\\"', '"')),
    ],
)
def test_escapers(escape, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert escape("<a href=\"x\"> & 'q'") == expected


def test_markdown_escape_defuses_syntax_and_mentions() -> None:
    out = escape_markdown("*bold* _it_ `code` [l](javascript:x) @everyone @here #h ~s~ |t|")
    assert "@everyone" not in out and "@here" not in out
    assert out.startswith(r"\*bold\* \_it\_ \`code\` \[l\]\(javascript:x\)")
    assert "@\u200beveryone" in out


def test_clean_text_drops_controls_and_bidi_overrides() -> None:
    dirty = "a\x1b[31mred\x07\u202eevil\u2066x\u2069\r\n\tb"
    assert clean_text(dirty) == "a[31mredevilx b"


def test_isolate_only_rtl() -> None:
    assert isolate("Kidal") == "Kidal"
    assert isolate("باماكو 2025") == f"{RLI}باماكو 2025{PDI}"
    assert is_rtl("«باماكو» Total") and not is_rtl("Total باماكو")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://e.ml/a?b=1&c=2", "https://e.ml/a?b=1&c=2"),
        ('http://e.ml/a(b)<c>|d"e', "http://e.ml/a%28b%29%3Cc%3E%7Cd%22e"),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("vbscript:x", None),
        ("ftp://e.ml/x", None),
        ("https:///nohost", None),
        ("https://e.ml/a b", None),
        ("https://e.ml/\x00", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_format_published_in_timezone() -> None:
    moment = datetime(2025, 3, 4, 23, 50, tzinfo=UTC)
    assert format_published(moment, "Africa/Bamako") == "2025-03-04 23:50 GMT"
    assert format_published(moment, "Europe/Paris") == "2025-03-05 00:50 CET"
    paris = datetime(2025, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_published(paris, "Africa/Bamako") == "2025-07-01 10:00 GMT"
    assert format_published(None, "Africa/Bamako") is None


def test_alert_payload_shape() -> None:
    payload = alert_payload(arabic_alert())
    assert payload["id"] == 101
    assert payload["rule"] == "fuel-crisis" and payload["rules"] == ["fuel-crisis"]
    both = alert_payload(arabic_alert(rules=("fuel-crisis", "mali-security")))
    assert both["rules"] == ["fuel-crisis", "mali-security"]
    assert payload["published"] == "2025-03-04T09:30:00Z"
    assert payload["tags"] == ["fuel", "mali"]
    assert payload["matched_terms"] == ["الوقود", "باماكو", "الصهاريج"]
    first = payload["hits"][0]
    assert AR_TITLE[first["start"] : first["end"]] == first["text"] == "الوقود"
    assert set(payload) >= {
        "id", "rule", "rule_title", "tags", "severity", "title", "url", "feed", "published",
        "lang", "matched_terms", "hits", "story_id", "sources", "summary",
    }  # fmt: skip
    assert alert_payload(hostile_alert())["url"] is None
    assert alert_payload(french_alert(published=None))["published"] is None


def test_other_sources_excludes_own_feed() -> None:
    assert other_sources(arabic_alert()) == ("Mali Actu", "الجزيرة")
    assert other_sources(french_alert()) == ()


def test_clip_keeps_first_hit_and_shifts_offsets() -> None:
    text = "word " * 100 + "الوقود in the end " + "tail " * 20
    hits = (hit(text, "الوقود", "summary"),)
    clipped, shifted = clip(text, hits, "summary", 80)
    assert len(clipped) <= 82 and clipped.startswith("…") and clipped.endswith("…")
    (h,) = shifted
    assert clipped[h.start : h.end] == "الوقود"


def test_clip_short_text_unchanged() -> None:
    hits = (hit(AR_SUMMARY, "الوقود", "summary"),)
    assert clip(AR_SUMMARY, hits, "summary", 1000) == (AR_SUMMARY, hits)


@given(
    st.text(alphabet=st.sampled_from("ab مالي وقود<&>*_\n"), min_size=0, max_size=300),
    st.integers(min_value=1, max_value=120),
    st.data(),
)
def test_clip_hits_always_point_at_their_text(text: str, limit: int, data: st.DataObject) -> None:
    hits = []
    for _ in range(data.draw(st.integers(0, 4))):
        if not text:
            break
        start = data.draw(st.integers(0, len(text) - 1))
        end = data.draw(st.integers(start + 1, len(text)))
        hits.append(TermHit("t", "summary", start, end, text[start:end]))
    clipped, shifted = clip(text, hits, "summary", limit)
    assert len(clipped) <= limit + 2
    for h in shifted:
        assert clipped[h.start : h.end] == h.text


@given(st.text(st.characters(exclude_characters="⟦⟧"), max_size=200), st.data())
def test_highlight_without_markers_is_the_text(text: str, data: st.DataObject) -> None:
    hits = []
    if text:
        start = data.draw(st.integers(0, len(text) - 1))
        end = data.draw(st.integers(start + 1, len(text)))
        hits.append(TermHit("t", "title", start, end, text[start:end]))
    assert highlight(text, hits, "title", "", "", ident) == text
    marked = highlight(text, hits, "title", "⟦", "⟧", ident)
    assert marked.replace("⟦", "").replace("⟧", "") == text
    assert marked.count("⟦") == marked.count("⟧") == len(hits)


def test_view_per_flavor() -> None:
    ar = arabic_alert()
    html_view = view(ar, EMAIL_HTML, timezone="Africa/Bamako", snippet_chars=280)
    assert html_view.rtl and html_view.dir == "rtl" and html_view.lang == "ar"
    assert "<mark>الوقود</mark>" in html_view.title
    assert html_view.url == "https://www.example-ar.ml/news/123?utm_source=x&a=b"
    tg = view(ar, TELEGRAM, timezone="Africa/Bamako", snippet_chars=280)
    assert tg.title.startswith(RLI) and tg.title.endswith(PDI)
    assert tg.url.endswith("utm_source=x&amp;a=b")
    slack = view(hostile_alert(), SLACK, timezone="UTC", snippet_chars=280)
    assert "<script>" not in slack.title and slack.url is None
    md = view(hostile_alert(), MARKDOWN, timezone="UTC", snippet_chars=280)
    assert "@everyone" not in md.title and "@here" not in md.snippet
    plain = view(french_alert(), PLAIN, timezone="Africa/Bamako", snippet_chars=40)
    assert plain.snippet.endswith("…") and not plain.rtl and plain.lang == "fr"
    ansi = view(french_alert(), ANSI, timezone="UTC", snippet_chars=280)
    assert "\x1b[1mWagner\x1b[22m" in ansi.title


def test_group_by_topic_orders_by_severity() -> None:
    groups = group_by_topic([arabic_alert(), french_alert(), hostile_alert(tags=())])
    assert [topic for topic, _ in groups] == ["russia", "fuel", "other"]
