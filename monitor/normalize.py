"""Arabic and Latin folding and tokens; the same call for rule terms and text.

Folding is by script, so mixed Arabic/French text needs no language detection:
- Arabic: harakat, Quranic marks and tatweel removed; أ إ آ ٱ → ا, ى → ي, ة → ه, ؤ → و, ئ → ي;
  Arabic-Indic and Persian digits → ASCII; presentation forms unfolded (NFKD).
- Latin: compatibility forms unfolded, case folded, accents removed, œ → oe, æ → ae;
  elisions (l' d' qu' j' n' s' c' m' t' jusqu' lorsqu' puisqu', with ' ’ or ʼ) dropped.
Punctuation separates words and is not kept. No stemming.

Speed: text is split on whitespace (C speed) and each whitespace-separated chunk is folded
once and memoised in a plain dict (`chunk_words`), since news vocabulary repeats heavily: a
known chunk costs one C-level dict look-up. The memos are bounded (cleared when full).
Offsets are only computed by `word_spans()`/`tokenize()`, which callers need for the few
texts that produce hits.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import add

__all__ = [
    "ARABIC_ARTICLE",
    "Token",
    "arabic_forms",
    "chunk_offsets",
    "chunk_spans",
    "chunk_words",
    "clear_caches",
    "is_arabic",
    "normalize",
    "normalize_words",
    "script_of",
    "tokenize",
    "word_spans",
    "word_spans_at",
]

_MARKS = "\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
# A word: word characters plus the combining marks that str.isalnum() rejects (harakat,
# Latin accents in decomposed text). A leading French elision is consumed, not kept.
_TOKEN_RE = re.compile(
    r"(?i:(?:jusqu|lorsqu|puisqu|qu|[ldjnsctm])['’ʼ])?((?:\w|[" + _MARKS + r"])+)"
)

_FOLD_MAP = str.maketrans(
    {
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",  # Persian yeh, common in Arabic web text
        "ک": "ك",  # Persian keheh
        "ة": "ه",
        "ـ": None,  # tatweel
        "œ": "oe",
        "æ": "ae",
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)

ARABIC_ARTICLE = "ال"
_CONJUNCTIONS = ("", "و", "ف")
_PREPOSITIONS = ("", "ب", "ك", "ل")
_MIN_STEM_CHARS = 2


@dataclass(frozen=True, slots=True)
class Token:
    """One normalized word; `start:end` locate its source in the ORIGINAL text."""

    norm: str
    start: int
    end: int


class _FoldTable(dict[int, "str | int | None"]):
    """`str.translate` table: every combining mark (category M) deleted, `_FOLD_MAP` applied.

    Filled one character at a time on first sight, so that no table of all marks is built."""

    def __missing__(self, code: int) -> str | int | None:
        value: str | int | None
        if unicodedata.category(chr(code)).startswith("M"):
            value = None
        else:
            value = _FOLD_MAP.get(code, code)
        self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


def _fold_once(word: str) -> str:
    if word.isascii():
        return word.lower()
    text = unicodedata.normalize("NFKD", word).casefold()
    return unicodedata.normalize("NFKD", text).translate(_FOLD_TABLE)


class _Memo(dict[str, object]):
    """A dict that computes a missing key with `compute` and forgets everything when full.

    `memo[key]` on a known key stays a C-level look-up, usable from `map()`.
    """

    def __init__(self, compute: Callable[[str], object], limit: int) -> None:
        super().__init__()
        self.compute = compute
        self.limit = limit

    def __missing__(self, key: str) -> object:
        value = self.compute(key)
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


def _stable_characters() -> str:
    """The ASCII, Latin-1 and Arabic-block characters that folding leaves alone, alone or
    in a run: word characters without a decomposition, case fold, mark or mapping."""
    stable = []
    for code in (*range(0x80), *range(0xC0, 0x100), *range(0x600, 0x700)):
        char = chr(code)
        found = _TOKEN_RE.fullmatch(char)
        if (
            found is not None
            and found.group(1) == char
            and unicodedata.combining(char) == 0
            and not unicodedata.category(char).startswith("M")
            and unicodedata.normalize("NFKD", char) == char
            and char.casefold() == char
            and char.translate(_FOLD_MAP) == char
        ):
            stable.append(char)
    return "".join(stable)


# A word made only of these is its own fold and a single token (`_fold_word_uncached` gives
# it back unchanged): most Arabic words, which then skip NFKD, case folding and the regexes.
# `not word.strip(_STABLE)` tests that in C (faster here than a set or a regex).
_STABLE = _stable_characters()


def _simple_folds() -> dict[int, str]:
    """ASCII capitals, Latin-1 and Latin Extended-A letters, combining accents and
    Arabic-block characters that are not stable but fold, alone, into stable characters
    only (or into nothing: marks, tatweel), as one token.

    Folding commutes with concatenation for these (NFKD and case folding work character by
    character; combining marks, whose order NFKD may change, are deleted), so a chunk made
    of them and of stable characters folds by one `str.translate` instead of NFKD, case
    folding and the token regex."""
    table: dict[int, str] = {}
    blocks = (range(0x41, 0x5B), range(0xC0, 0x180), range(0x300, 0x370), range(0x600, 0x700))
    for code in chain.from_iterable(blocks):
        char = chr(code)
        found = _TOKEN_RE.fullmatch(char)
        if char in _STABLE or found is None or found.group(1) != char:
            continue
        folded = _fold_once(char)
        if not folded.strip(_STABLE) and _TOKEN_RE.findall(folded) in ([], [folded]):
            table[code] = folded
    return table


_SIMPLE_FOLDS = _simple_folds()


def _fold_word_uncached(word: str, depth: int = 0) -> tuple[str, ...]:
    if not word.strip(_STABLE):
        return (word,)
    pieces = tuple(_TOKEN_RE.findall(_fold_once(word)))
    if depth >= 3 or pieces == (word,):
        return pieces
    out: list[str] = []
    for piece in pieces:
        out.extend(_fold_word_uncached(piece, depth + 1) if piece != word else (piece,))
    return tuple(out)


def _fold_chunk(chunk: str) -> tuple[str, ...]:
    if chunk.isascii():
        if chunk.isalnum():  # one token, no elision (that needs an apostrophe)
            return (chunk.lower(),)
        # ASCII folding is lower-casing, which keeps every token a token: one pass suffices.
        return tuple(_TOKEN_RE.findall(chunk.lower()))
    if not chunk.strip(_STABLE):
        return (chunk,)
    folded = chunk.translate(_SIMPLE_FOLDS)
    if folded and not folded.strip(_STABLE):
        return (folded,)
    return tuple(p for surface in _TOKEN_RE.findall(chunk) for p in _FOLDED_WORDS[surface])


MAX_MEMO_WORDS = 1 << 18
# surface word (a _TOKEN_RE match) → the normalized words it becomes (usually one, maybe none)
_FOLDED_WORDS: dict[str, tuple[str, ...]] = _Memo(_fold_word_uncached, MAX_MEMO_WORDS)  # type: ignore[assignment]
# whitespace-free chunk of text → its normalized words
_CHUNKS: dict[str, tuple[str, ...]] = _Memo(_fold_chunk, MAX_MEMO_WORDS)  # type: ignore[assignment]
# The normalized words of one whitespace-free piece of text (memoised; a bound dict method,
# so that `map(chunk_words, text.split())` runs at C speed for known chunks).
chunk_words: Callable[[str], tuple[str, ...]] = _CHUNKS.__getitem__


def clear_caches() -> None:
    """Forget every memoised word (for benchmarks measuring a cold start)."""
    _FOLDED_WORDS.clear()
    _CHUNKS.clear()
    _FOLD_TABLE.clear()
    _CHUNK_SPANS.clear()
    _FORM_TEMPLATES.clear()


def normalize_words(text: str) -> list[str]:
    """The normalized words of `text`, in order (the hot path: no offsets)."""
    return list(chain.from_iterable(map(chunk_words, text.split())))


def normalize(text: str) -> str:
    """Folded text: normalized words joined by single spaces. Idempotent."""
    return " ".join(normalize_words(text))


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) in `text` of each word of `normalize_words(text)`, in order."""
    spans: list[tuple[int, int]] = []
    for match in _TOKEN_RE.finditer(text):
        count = len(_FOLDED_WORDS[match.group(1)])
        if count == 1:
            spans.append(match.span(1))
        elif count:
            spans.extend([match.span(1)] * count)
    return spans


def _chunk_spans_uncached(chunk: str) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    for found in _TOKEN_RE.finditer(chunk):
        spans.extend([found.span(1)] * len(_FOLDED_WORDS[found.group(1)]))
    return tuple(spans)


# whitespace-free chunk of text → (start, end) in it of each of its normalized words
_CHUNK_SPANS: dict[str, tuple[tuple[int, int], ...]] = _Memo(_chunk_spans_uncached, MAX_MEMO_WORDS)  # type: ignore[assignment]
# `word_spans(chunk)` of one whitespace-free piece of text (memoised).
chunk_spans: Callable[[str], tuple[tuple[int, int], ...]] = _CHUNK_SPANS.__getitem__


def chunk_offsets(text: str, chunks: Sequence[str]) -> list[int]:
    """Where each of `chunks` (`text.split()`) starts in `text`."""
    lead = len(text) - len(text.lstrip())
    if lead + sum(map(len, chunks)) + len(chunks) - 1 == len(text.rstrip()):
        # One whitespace character between chunks (the usual case): a chunk starts after
        # the characters of those before it, plus one space each.
        return list(map(add, accumulate(map(len, chunks), initial=lead), range(len(chunks))))
    offsets = []
    position = 0
    for chunk in chunks:
        position = text.find(chunk, position)
        offsets.append(position)
        position += len(chunk)
    return offsets


def word_spans_at(
    text: str,
    indices: Iterable[int],
    chunks: Sequence[str] | None = None,
    *,
    one_word_chunks: bool = False,
) -> dict[int, tuple[int, int]]:
    """`word_spans(text)[i]` for each i of `indices` (each < len(normalize_words(text))).

    Only the whitespace-separated chunks holding a wanted word are tokenized; the others are
    counted through the chunk memo. `chunks` may pass `text.split()` when already made, and
    `one_word_chunks` say that each of them folds into exactly one word.
    """
    wanted = set(indices)
    if not wanted:
        return {}
    if chunks is None:
        chunks = text.split()
    offsets = chunk_offsets(text, chunks)
    if one_word_chunks:
        return {i: _shift(chunk_spans(chunks[i])[0], offsets[i]) for i in wanted}
    ends = list(accumulate(map(len, map(chunk_words, chunks))))  # words up to each chunk
    spans: dict[int, tuple[int, int]] = {}
    for target in wanted:
        index = bisect_right(ends, target)
        first = ends[index - 1] if index else 0
        spans[target] = _shift(chunk_spans(chunks[index])[target - first], offsets[index])
    return spans


def _shift(span: tuple[int, int], offset: int) -> tuple[int, int]:
    return span[0] + offset, span[1] + offset


def tokenize(text: str) -> list[Token]:
    """Normalized words with offsets into the original `text`.

    Yields exactly the words of `normalize_words(text)`; a surface word that folds into
    several words (a ligature such as ½) gives each of them its full span.
    """
    return [
        Token(word, start, end)
        for word, (start, end) in zip(normalize_words(text), word_spans(text), strict=True)
    ]


def is_arabic(word: str) -> bool:
    return bool(word) and "\u0600" <= word[0] <= "\u06ff"


def script_of(word: str | Token) -> str:
    """'arabic', 'latin', 'digit' or 'other', judged on the first character."""
    text = word.norm if isinstance(word, Token) else word
    if not text:
        return "other"
    if is_arabic(text):
        return "arabic"
    first = text[0]
    if first.isdigit():
        return "digit"
    if first.isascii() or unicodedata.name(first, "").startswith("LATIN"):
        return "latin"
    return "other"


def _build_prefixes() -> tuple[tuple[str, bool, bool], ...]:
    prefixes: set[tuple[str, bool, bool]] = set()
    for conj in _CONJUNCTIONS:
        for prep in _PREPOSITIONS:
            for article in ("", ARABIC_ARTICLE):
                body = conj + (("ل" + "ل") if prep == "ل" and article else prep + article)
                prefixes.add((body, bool(conj or prep), bool(article)))
    return tuple(sorted(prefixes, key=lambda p: (len(p[0]), p[0])))


_PREFIXES = _build_prefixes()
# clitic body → its (has_proclitic, has_article) readings, and the lengths to try, ascending
_PREFIX_READINGS: dict[str, list[tuple[bool, bool]]] = {}
for _body, _proclitic, _article in _PREFIXES:
    _PREFIX_READINGS.setdefault(_body, []).append((_proclitic, _article))
_PREFIX_LENGTHS = sorted({len(body) for body in _PREFIX_READINGS})
_LONGEST_PREFIX = _PREFIX_LENGTHS[-1]
_CLITIC_LETTERS = "".join(sorted({letter for body in _PREFIX_READINGS for letter in body}))
# (leading clitic letters, at most 4 of 6 letters; letters clitics may take, -1 to 4) →
# _form_template(): a few thousand keys at most, so the memo needs no bound.
_FORM_TEMPLATES: dict[tuple[str, int], tuple[tuple[int, bool, bool], ...]] = {}


def arabic_forms(norm: str) -> tuple[tuple[str, bool, bool], ...]:
    """Every reading of a normalized Arabic word as clitics + stem.

    Returns (stem, has_proclitic, has_article) triples, the bare word first: والوقود gives
    (والوقود, False, False), (الوقود, True, False), (وقود, True, True), … Non-Arabic words
    give only themselves. The matcher decides which readings a term accepts.
    """
    if not (norm and "\u0600" <= norm[0] <= "\u06ff"):  # is_arabic(norm), inlined
        return ((norm, False, False),)
    if norm[0] not in _CLITIC_LETTERS:
        return ((norm, False, False),) if len(norm) >= _MIN_STEM_CHARS else ()
    # The readings depend only on the leading clitic letters and on how many a stem leaves.
    head = norm[:_LONGEST_PREFIX]
    head = head[: len(head) - len(head.lstrip(_CLITIC_LETTERS))]
    key = (head, min(len(norm) - _MIN_STEM_CHARS, _LONGEST_PREFIX))
    template = _FORM_TEMPLATES.get(key)
    if template is None:
        template = _FORM_TEMPLATES[key] = _form_template(*key)
    return tuple([(norm[length:], proclitic, article) for length, proclitic, article in template])


def _form_template(head: str, most: int) -> tuple[tuple[int, bool, bool], ...]:
    """(clitic length, has_proclitic, has_article) of each reading of a word whose leading
    clitic letters are `head` and whose clitics may take up to `most` letters."""
    template = []
    for length in _PREFIX_LENGTHS:
        if length > most or length > len(head):
            break
        for proclitic, article in _PREFIX_READINGS.get(head[:length], ()):
            template.append((length, proclitic, article))
    return tuple(template)
