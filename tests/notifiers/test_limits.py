from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.limits import (
    MARKDOWN_ATOMS,
    SLACK_ATOMS,
    Block,
    fit_blocks,
    truncate_html,
    truncate_text,
    utf16_len,
)
from tests.notifiers.chatservers import telegram_visible_text


def test_truncate_html_closes_tags_and_keeps_entities() -> None:
    text = "<b>" + "&amp;" * 50 + '</b> <a href="https://e.ml">' + "x" * 100 + "</a>"
    for limit in range(10, len(text), 7):
        cut = truncate_html(text, limit)
        assert len(cut) <= limit
        telegram_visible_text(cut)  # raises when a tag or entity is broken


def test_truncate_html_fits_already() -> None:
    assert truncate_html("<b>ok</b>", 100) == "<b>ok</b>"


html_pieces = st.lists(
    st.sampled_from(["<b>", "</b>", "<i>", "</i>", "&lt;", "&amp;", "باماكو", "Kidal ", "😀", " "]),
    max_size=60,
)


@given(html_pieces, st.integers(min_value=12, max_value=200))
def test_truncate_html_property(pieces: list[str], limit: int) -> None:
    # balance the random pieces first so the input is valid Telegram HTML
    stack: list[str] = []
    out: list[str] = []
    for piece in pieces:
        if piece in ("</b>", "</i>"):
            if stack and stack[-1] == piece[2]:
                out.append(stack.pop() and piece)
            continue
        if piece in ("<b>", "<i>"):
            stack.append(piece[1])
        out.append(piece)
    out.extend(f"</{t}>" for t in reversed(stack))
    text = "".join(out)
    telegram_visible_text(text)
    cut = truncate_html(text, limit, measure=utf16_len)
    assert utf16_len(cut) <= limit
    telegram_visible_text(cut)


@pytest.mark.parametrize(
    ("text", "atoms", "limit", "expected"),
    [
        ("short", None, 10, "short"),
        ("one two three four", None, 12, "one two…"),
        ("see [the link](https://e.ml/x) now", MARKDOWN_ATOMS, 20, "see…"),
        ("a &amp; b &amp; c", SLACK_ATOMS, 8, "a…"),
        ("<https://e.ml|title here> more", SLACK_ATOMS, 15, "…"),
    ],
)
def test_truncate_text(text: str, atoms, limit: int, expected: str) -> None:  # type: ignore[no-untyped-def]
    cut = truncate_text(text, limit, atoms=atoms)
    assert cut == expected and len(cut) <= limit


def test_truncate_text_never_ends_inside_escape() -> None:
    text = "x" * 9 + r"\*" + "y" * 20
    cut = truncate_text(text, 11, atoms=MARKDOWN_ATOMS)
    assert not cut.rstrip("…").endswith("\\")


def _blocks(n: int, size: int) -> list[Block]:
    return [Block(f"[{i}]" + "x" * size) for i in range(n)]


def test_fit_blocks_drops_whole_alerts_and_counts_them() -> None:
    text = fit_blocks("HEAD", _blocks(10, 50), 200, more=lambda n: f"+{n}", truncate=truncate_text)
    assert len(text) <= 200
    assert text.startswith("HEAD\n\n[0]")
    shown = text.count("[")
    assert text.endswith(f"+{10 - shown}")


def test_fit_blocks_adds_rollup_count() -> None:
    text = fit_blocks(
        "", _blocks(1, 5), 200, more=lambda n: f"+{n}", already_left_out=7, truncate=truncate_text
    )
    assert text == "[0]xxxxx\n\n+7"


def test_fit_blocks_cuts_a_single_huge_alert() -> None:
    text = fit_blocks("H", _blocks(3, 5000), 300, more=lambda n: f"+{n}", truncate=truncate_text)
    assert len(text) <= 300 and text.startswith("H\n\n[0]") and text.endswith("+2")


def test_fit_blocks_drops_dangling_heading() -> None:
    blocks = [Block("#a", False), Block("A" * 50), Block("#b", False), Block("B" * 50)]
    text = fit_blocks("", blocks, 70, more=lambda n: f"+{n}", truncate=truncate_text)
    assert "#b" not in text and text.endswith("+1")
