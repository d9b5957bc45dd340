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


# MinHash rather than SimHash: its agreement rate is an unbiased Jaccard estimate, so a
# threshold means "this share of shingles in common", and LSH banding over it gives the
# sub-linear candidate lookup the story index needs. Own implementation (≈40 lines) instead
# of datasketch: no numpy/scipy in a pure core, and the hash family must stay fixed forever
# because signatures are stored.
MINHASH_SIZE = 64
SHINGLE_WORDS = 2
_MASK64 = (1 << 64) - 1


def _hash_family(size: int) -> tuple[tuple[int, int], ...]:
    params = []
    for i in range(size):
        digest = hashlib.blake2b(f"rasd-minhash-{i}".encode(), digest_size=16).digest()
        a = int.from_bytes(digest[:8], "big") | 1  # odd multiplier: a bijection mod 2^64
        b = int.from_bytes(digest[8:], "big")
        params.append((a, b))
    return tuple(params)


_FAMILY = _hash_family(MINHASH_SIZE)


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
    return frozenset(
        " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
    )


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


def fingerprint(title: str, summary: str) -> Fingerprint:
    """MinHash of the item's word shingles: identical normalized text, identical value."""
    grams = shingles(title, summary)
    if not grams:
        return Fingerprint(())
    hashes = [
        int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest(), "big")
        for g in grams
    ]
    return Fingerprint(tuple(min((a * h + b) & _MASK64 for h in hashes) >> 32 for a, b in _FAMILY))
