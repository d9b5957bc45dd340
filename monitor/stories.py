"""Story signatures: word shingles of an item's normalized text and their MinHash. Pure.

Two items whose title + summary share most word pairs get nearly equal signatures; the share
of equal MinHash values estimates the Jaccard similarity of their shingle sets. The hash
family is fixed forever, since signatures are stored (`Fingerprint.to_json`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

from monitor.normalize import arabic_forms, is_arabic, normalize_words

__all__ = ["MINHASH_SIZE", "SHINGLE_WORDS", "Fingerprint", "fingerprint", "shingles"]


# MinHash rather than SimHash: its agreement rate is an unbiased Jaccard estimate, so the
# threshold reads as "this share of word pairs in common", and LSH bands over it give the
# sub-linear candidate lookup of the story index. One-permutation hashing (Li, Owen & Zhang
# 2012) with rotation densification (Shrivastava & Li 2014): one 64-bit hash per shingle
# picks a bin and a value, instead of 64 hash functions per shingle, which cost ~2 ms an item
# in pure Python. Own ~30 lines rather than datasketch: no numpy in the pure core, and the
# hash must never change because signatures are stored.
MINHASH_SIZE = 64
SHINGLE_WORDS = 2
_BIN_BITS = 6  # 2**6 == MINHASH_SIZE bins
_EMPTY = 1 << 64
_MASK32 = 0xFFFFFFFF
_ROTATION = 0x9E3779B1  # offset per bin borrowed across, so borrowed values stay distinct


@lru_cache(maxsize=65536)
def _shingle_word(word: str) -> str:
    """An Arabic word without its article and the clitics before it (والوقود, للوقود → وقود),
    so that one wording with and without "the"/"and" still shares its shingles."""
    if is_arabic(word):
        for stem, _, article in arabic_forms(word):
            if article:
                return stem
    return word


def shingles(title: str, summary: str) -> frozenset[str]:
    """Word n-grams of the normalized title and summary (single words for very short text)."""
    words = [_shingle_word(w) for w in normalize_words(f"{title}\n{summary}")]
    if len(words) < SHINGLE_WORDS:
        return frozenset(words)
    columns = (words[i:] for i in range(SHINGLE_WORDS))  # shifted copies: rows are n-grams
    return frozenset(map(" ".join, zip(*columns, strict=False)))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """MinHash signature of an item's shingles; `values` is empty for text without words."""

    values: tuple[int, ...]

    def similarity(self, other: Fingerprint) -> float:
        """Estimated Jaccard similarity of the two shingle sets, 0.0 … 1.0."""
        if not self.values or len(self.values) != len(other.values):
            return 0.0
        same = sum(1 for x, y in zip(self.values, other.values, strict=True) if x == y)
        return same / len(self.values)

    def bands(self, rows: int) -> tuple[tuple[int, ...], ...]:
        """The signature cut into LSH bands of `rows` values each."""
        v = self.values
        return tuple(v[i : i + rows] for i in range(0, len(v) - rows + 1, rows))

    def to_json(self) -> str:
        return json.dumps({"v": 1, "minhash": "".join(f"{x:08x}" for x in self.values)})

    @classmethod
    def from_json(cls, text: str) -> Fingerprint:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("dedup: unknown fingerprint format")
        digits = data["minhash"]
        if not isinstance(digits, str) or len(digits) % 8:
            raise ValueError("dedup: malformed fingerprint")
        return cls(tuple(int(digits[i : i + 8], 16) for i in range(0, len(digits), 8)))


@lru_cache(maxsize=32768)
def _gram_hash(gram: str) -> int:
    """Stable 64-bit hash (never the salted built-in hash(): signatures are stored)."""
    return int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "big")


def fingerprint(title: str, summary: str) -> Fingerprint:
    """MinHash of the item's word shingles: identical normalized text, identical value."""
    grams = shingles(title, summary)
    if not grams:
        return Fingerprint(())
    bins = [_EMPTY] * MINHASH_SIZE
    for gram in grams:
        h = _gram_hash(gram)
        slot, value = h & (MINHASH_SIZE - 1), h >> _BIN_BITS
        if value < bins[slot]:
            bins[slot] = value
    # An empty bin borrows from the next full bin on its right, wrapping around; one lap
    # right to left, starting from the first full bin as the one "beyond the end".
    first = next(i for i, value in enumerate(bins) if value != _EMPTY)
    borrowed, distance = bins[first] >> 26, first
    values = [0] * MINHASH_SIZE
    for i in range(MINHASH_SIZE - 1, -1, -1):
        value = bins[i]
        if value != _EMPTY:
            borrowed, distance = value >> 26, 0
        else:
            distance += 1
        values[i] = (borrowed + distance * _ROTATION) & _MASK32
    return Fingerprint(tuple(values))
