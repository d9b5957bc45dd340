"""Hot reload: a valid edit takes effect, a broken one keeps the last good version."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.domain import Document
from monitor.rulebook import RuleBook

VOCAB = """\
vocabularies:
  fuel_words: [وقود, carburant]
"""
FUEL = """\
rules:
  - id: fuel
    title: Fuel
    tags: [fuel]
    match: {any: ["@fuel_words"]}
"""
ARMY = """\
rules:
  - id: army
    title: Army
    tags: [security]
    match: {any: [armée, الجيش]}
"""


def fired(book: RuleBook, text: str) -> set[str]:
    return {m.rule_id for m in book.current().match(Document(title=text))}


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()  # make sure the change is seen even within one mtime tick
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_valid_edit_takes_effect(tmp_path: Path) -> None:
    write(tmp_path / "a-vocab.yaml", VOCAB)
    write(tmp_path / "fuel.yaml", FUEL)
    book = RuleBook(tmp_path)
    assert book.reload_if_changed()
    assert fired(book, "pénurie de carburant") == {"fuel"}
    assert not book.reload_if_changed()  # nothing changed
    write(tmp_path / "army.yaml", ARMY)
    assert book.reload_if_changed()
    assert fired(book, "والجيش ينسحب") == {"army"}


def test_broken_edit_keeps_last_good_version_and_says_where(tmp_path: Path) -> None:
    write(tmp_path / "a-vocab.yaml", VOCAB)
    write(tmp_path / "fuel.yaml", FUEL)
    write(tmp_path / "army.yaml", ARMY)
    book = RuleBook(tmp_path)
    book.reload_if_changed()
    write(tmp_path / "fuel.yaml", FUEL.replace("@fuel_words", "@no_such_words"))
    assert book.reload_if_changed()
    assert fired(book, "pénurie de carburant") == {"fuel"}  # the last good fuel.yaml
    assert [str(p) for p in book.problems] == [
        f"{tmp_path / 'fuel.yaml'}:5:19: undefined vocabulary @no_such_words"
    ]
    write(tmp_path / "fuel.yaml", FUEL)
    assert book.reload_if_changed()
    assert book.problems == ()


def test_broken_vocabulary_file_does_not_silence_the_rules_using_it(tmp_path: Path) -> None:
    write(tmp_path / "a-vocab.yaml", VOCAB)
    write(tmp_path / "fuel.yaml", FUEL)
    book = RuleBook(tmp_path)
    book.reload_if_changed()
    write(tmp_path / "a-vocab.yaml", "vocabularies:\n  fuel_words: [unclosed\n")
    book.reload_if_changed()
    assert book.problems and book.problems[0].file.endswith("a-vocab.yaml")
    assert fired(book, "أزمة الوقود") == {"fuel"}


def test_new_broken_file_is_left_out_and_the_rest_load(tmp_path: Path) -> None:
    write(tmp_path / "a-vocab.yaml", VOCAB)
    write(tmp_path / "fuel.yaml", FUEL)
    write(tmp_path / "zz-bad.yaml", "rules:\n  - id: bad\n    severity: apocalyptic\n")
    book = RuleBook(tmp_path)
    assert book.reload_if_changed()
    assert fired(book, "carburant") == {"fuel"}
    assert all(p.file.endswith("zz-bad.yaml") for p in book.problems)
    assert book.problems
