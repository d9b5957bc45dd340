from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import normalize as normalize_module
from monitor.normalize import (
    Token,
    arabic_forms,
    chunk_offsets,
    chunk_spans,
    chunk_words,
    normalize,
    normalize_words,
    script_of,
    tokenize,
    word_spans,
    word_spans_at,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("مُحَمَّدٌ", "محمد"),  # harakat
        ("الجيـــش", "الجيش"),  # tatweel
        ("أحمد إبراهيم آمن ٱلله", "احمد ابراهيم امن الله"),  # alef forms
        ("مستشفى", "مستشفي"),  # ى → ي
        ("مدرسة", "مدرسه"),  # ة → ه
        ("٢٠٢٥", "2025"),  # Arabic-Indic digits
        ("۱۴۰۳", "1403"),  # Persian digits
        ("ﻣﺎﻟﻲ", "مالي"),  # presentation forms
        ("ﻻ", "لا"),  # lam-alef ligature
        ("Bamako\u00a0Mali", "bamako mali"),  # NBSP
        ("Sécurité", "securite"),
        ("ÉTAT", "etat"),
        ("l'armée", "armee"),
        ("l’armée", "armee"),
        ("d’Ibrahim qu'il", "ibrahim il"),
        ("Jusqu’à", "a"),
        ("Œuvre cœur", "oeuvre coeur"),
        ("Lætitia", "laetitia"),
        ("ﬁn", "fin"),
        ("Straße", "strasse"),
        ("Mali, Bamako; Gao!", "mali bamako gao"),
        ("e\u0301te\u0301", "ete"),  # decomposed accents stay inside the word
    ],
)
def test_normalize_examples(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_securite_matches_securite_with_accents() -> None:
    assert normalize("securite") == normalize("sécurité") == normalize("SÉCURITÉ")


def test_elision_yields_the_word_with_offsets_into_the_original() -> None:
    text = "Selon l’armée malienne"
    tokens = tokenize(text)
    assert [t.norm for t in tokens] == ["selon", "armee", "malienne"]
    assert text[tokens[1].start : tokens[1].end] == "armée"


def test_token_offsets_point_into_the_original_arabic() -> None:
    text = "هاجم مسلّحون قافلةَ الوقود"
    for token in tokenize(text):
        assert normalize(text[token.start : token.end]) == token.norm


def test_token_is_frozen() -> None:
    token = Token("mali", 0, 4)
    with pytest.raises(AttributeError):
        token.norm = "x"  # type: ignore[misc]


def test_script_of() -> None:
    assert script_of("مالي") == "arabic"
    assert script_of(Token("mali", 0, 4)) == "latin"
    assert script_of("2025") == "digit"
    assert script_of("") == "other"


def test_arabic_forms_lists_clitic_readings() -> None:
    forms = arabic_forms("والوقود")
    assert ("والوقود", False, False) in forms
    assert ("وقود", True, True) in forms
    assert ("وقود", True, True) in arabic_forms("للوقود")
    assert ("مالي", True, False) in arabic_forms("بمالي")
    assert all(not article for stem, _, article in arabic_forms("بمالي") if stem == "مالي")
    assert arabic_forms("mali") == (("mali", False, False),)


text_strategy = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x24F),
        st.characters(min_codepoint=0x600, max_codepoint=0x6FF),
        st.characters(min_codepoint=0xFB50, max_codepoint=0xFEFF),
        st.sampled_from(" \u00a0’'ـ\u0301"),
    ),
    max_size=60,
)


@given(text_strategy)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(max_size=40))
def test_normalize_is_idempotent_on_any_unicode(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(text_strategy)
def test_tokenize_agrees_with_normalize_words(text: str) -> None:
    tokens = tokenize(text)
    assert [t.norm for t in tokens] == normalize_words(text)
    assert [(t.start, t.end) for t in tokens] == word_spans(text)
    for token in tokens:
        assert 0 <= token.start < token.end <= len(text)


@given(st.text(alphabet=st.sampled_from("ab é½ﷺ,.-'’\u00a0\t\nمالي"), max_size=40), st.data())
def test_chunk_offsets_and_spans_give_word_spans(text: str, data: st.DataObject) -> None:
    chunks = text.split()
    offsets = chunk_offsets(text, chunks)
    located = list(zip(offsets, chunks, strict=False))
    assert [text[o : o + len(c)] for o, c in located] == chunks
    spans = [(o + s, o + e) for o, c in located for s, e in chunk_spans(c)]
    assert spans == word_spans(text)
    if spans:
        wanted = data.draw(st.sets(st.integers(0, len(spans) - 1), min_size=1))
        simple = all(len(chunk_words(c)) == 1 for c in chunks)
        for one_word_chunks in {False, simple}:
            got = word_spans_at(text, wanted, chunks, one_word_chunks=one_word_chunks)
            assert got == {i: spans[i] for i in wanted}


def _reference_fold_once(word: str) -> str:
    text = unicodedata.normalize("NFKD", word).casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("M"))
    return text.translate(normalize_module._FOLD_MAP)


def _reference_fold_word(word: str, depth: int = 0) -> tuple[str, ...]:
    """Folding as specified, with no fast path: fold, re-tokenize, repeat until stable."""
    pieces = tuple(normalize_module._TOKEN_RE.findall(_reference_fold_once(word)))
    if depth >= 3 or pieces == (word,):
        return pieces
    out: list[str] = []
    for piece in pieces:
        out.extend(_reference_fold_word(piece, depth + 1) if piece != word else (piece,))
    return tuple(out)


def _reference_words(text: str) -> list[str]:
    return [
        word
        for surface in normalize_module._TOKEN_RE.findall(text)
        for word in _reference_fold_word(surface)
    ]


@pytest.mark.parametrize(
    "text",
    ["والجيش", "أحمد", "Bamako", "BAMAKO2025", "l'armée", "a_b", "ðøþ", "ٻٺ", "ﻣﺎﻟﻲ", "ـال"],
)
def test_fast_paths_fold_as_the_reference(text: str) -> None:
    normalize_module.clear_caches()
    assert normalize_words(text) == _reference_words(text)


def test_stable_characters_fold_to_themselves() -> None:
    stable = normalize_module._STABLE
    assert "ا" in stable and "a" in stable and "_" in stable
    assert not set("أإآةىéÉA٠ـ'\u0301 ").intersection(stable)
    for char in stable:
        assert _reference_fold_word(char) == (char,)


@given(text_strategy)
def test_normalize_words_agrees_with_the_reference(text: str) -> None:
    assert normalize_words(text) == _reference_words(text)


@given(st.text(max_size=40))
def test_normalize_words_agrees_with_the_reference_on_any_unicode(text: str) -> None:
    normalize_module.clear_caches()
    assert normalize_words(text) == _reference_words(text)


def test_simple_folds_fold_each_character_as_the_reference() -> None:
    simple = normalize_module._SIMPLE_FOLDS
    assert simple[ord("É")] == "e" and simple[ord("أ")] == "ا" and simple[ord("\u064e")] == ""
    for code, folded in simple.items():
        assert _reference_words(chr(code)) == ([folded] if folded else [])


_SIMPLE_ALPHABET = "".join(map(chr, normalize_module._SIMPLE_FOLDS)) + normalize_module._STABLE


@given(st.lists(st.text(alphabet=_SIMPLE_ALPHABET, min_size=1, max_size=12), max_size=6))
def test_chunks_of_simple_characters_fold_as_the_reference(words: list[str]) -> None:
    normalize_module.clear_caches()
    text = " ".join(words)
    assert normalize_words(text) == _reference_words(text)


def _reference_arabic_forms(norm: str) -> tuple[tuple[str, bool, bool], ...]:
    """Every split of `norm` into a clitic body and a stem of two letters or more."""
    if not normalize_module.is_arabic(norm):
        return ((norm, False, False),)
    return tuple(
        (norm[len(body) :], proclitic, article)
        for body, proclitic, article in normalize_module._PREFIXES
        if norm.startswith(body) and len(norm) - len(body) >= 2
    )


@given(st.text(alphabet="والفبكلتمي", max_size=9))
def test_arabic_forms_are_every_clitic_split(norm: str) -> None:
    assert arabic_forms(norm) == _reference_arabic_forms(norm)
