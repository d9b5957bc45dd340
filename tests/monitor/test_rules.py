from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.errors import Problem, RuleError
from monitor.rules import (
    AllNode,
    AnyNode,
    NearNode,
    NoneNode,
    ScopeNode,
    ScoreNode,
    TermNode,
    VocabNode,
    check_rules,
    load_rules,
    parse_rule_text,
)

GOOD = textwrap.dedent(
    """\
    vocabularies:
      jnim:
        - JNIM
        - "جماعة نصرة الإسلام والمسلمين"
      mali:
        proper: true
        terms: [Mali, مالي, "=Maliens"]
      fuel:
        terms:
          - وقود
          - {term: "محروقات", weight: 2}
          - carburant*
    masks:
      - "دعم مالي"
    rules:
      - id: mali-security-attack
        title: "Attack in Mali"
        severity: high
        tags: [security]
        fields: [title, summary]
        lang: [ar, FR]
        feeds: ["RFI Afrique"]
        feed_tags: [sahel]
        masks: ["Aigles du Mali"]
        match:
          all:
            - any: ["@mali", Bamako, باماكو]
            - any: ["@jnim", attaque*, هجوم]
          none: ["@fuel"]
      - id: fuel.score
        title: Fuel
        enabled: false
        match:
          min_score: 3
          terms: ["@fuel", {term: pénurie, weight: 2}]
      - id: near-one
        title: Near
        match: {near: ["@mali", "/wag+ner/"], within: 5, fields: [title]}
    """
)


def problems_of(text: str, name: str = "r.yaml") -> list[str]:
    with pytest.raises(RuleError) as info:
        parse_rule_text(textwrap.dedent(text), name)
    return [str(p) for p in info.value.problems]


def test_parses_the_contract_example() -> None:
    ruleset = parse_rule_text(GOOD, "good.yaml")
    assert [r.id for r in ruleset.rules] == ["mali-security-attack", "fuel.score", "near-one"]
    attack, fuel, near = ruleset.rules
    assert attack.severity == "high"
    assert attack.lang == ("ar", "fr")
    assert attack.feeds == ("RFI Afrique",)
    assert attack.masks[0].words == ("aigles", "du", "mali")
    assert isinstance(attack.match, AllNode)
    any_part, none_part = attack.match.children
    assert isinstance(any_part, AllNode) and isinstance(none_part, NoneNode)
    assert isinstance(any_part.children[0], AnyNode)
    assert isinstance(any_part.children[0].children[0], VocabNode)
    assert not fuel.enabled
    assert isinstance(fuel.match, ScoreNode) and fuel.match.min_score == 3
    assert isinstance(near.match, ScopeNode) and near.match.fields == ("title",)
    assert isinstance(near.match.child, NearNode) and near.match.child.within == 5
    mali = ruleset.vocabularies["mali"]
    assert mali.proper and all(t.proper for t in mali.terms)
    assert mali.terms[2].exact and mali.terms[2].words == ("maliens",)
    fuel_terms = ruleset.vocabularies["fuel"].terms
    assert fuel_terms[1].weight == 2
    assert fuel_terms[2].prefix and fuel_terms[2].words == ("carburant",)
    assert ruleset.masks[0].words == ("دعم", "مالي")
    assert ruleset.files == ("good.yaml",)


def test_term_kinds() -> None:
    ruleset = parse_rule_text(
        'rules: [{id: a, title: A, match: {any: [x, "a b", "pre*", "/r+/", "=x"]}}]', "k"
    )
    node = ruleset.rules[0].match
    assert isinstance(node, AnyNode)
    kinds = [c.term.kind for c in node.children if isinstance(c, TermNode)]
    assert kinds == ["word", "phrase", "prefix", "regex", "word"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - id: a\n    title: A\n    colour: red\n    match: x\n",
            "r.yaml:4:5: unknown key 'colour'",
        ),
        ("vocabularies:\n  empty: []\n", "r.yaml:2:10: vocabulary 'empty' is empty"),
        ("vocabularies:\n  empty:\n", "r.yaml:2:9: vocabulary 'empty' is empty"),
        (
            "rules:\n  - id: a\n    title: A\n    match: {any: [x, '@nope']}\n",
            "r.yaml:4:22: undefined vocabulary @nope",
        ),
        ("rules:\n  - id: a\n    title: A\n    match: '/(unclosed/'\n", "r.yaml:4:12: bad regex"),
        (
            "rules:\n  - {id: a, title: A, match: x}\n  - {id: a, title: B, match: y}\n",
            "r.yaml:3:10: duplicate rule id 'a'",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    severity: urgent\n    match: x\n",
            "r.yaml:4:15: severity must be one of",
        ),
        ("rules:\n  - title: A\n    match: x\n", "r.yaml:2:5: rule needs 'id'"),
        ("rules:\n  - id: a\n    match: x\n", "r.yaml:2:5: rule needs 'title'"),
        ("rules:\n  - id: a\n    title: A\n", "r.yaml:2:5: rule needs 'match'"),
        (
            "rules:\n  - id: Bad Id\n    title: A\n    match: x\n",
            "r.yaml:2:9: rule id 'Bad Id' must match",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    tags: {a: 1}\n    match: x\n",
            "r.yaml:4:11: tags must be a list",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    enabled: maybe\n    match: x\n",
            "r.yaml:4:14: enabled must be true or false",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    fields: [body]\n    match: x\n",
            "r.yaml:4:13: fields must be a list of title, summary",
        ),
        ("rules: {id: a}\n", "r.yaml:1:8: rules must be a list"),
        (
            "rules:\n  - id: a\n    title: A\n    match: {any: []}\n",
            "r.yaml:4:18: 'any' must not be empty",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: {near: [x, y], within: 2.5}\n",
            "r.yaml:4:35: within must be a whole number",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: {near: [x]}\n",
            "r.yaml:4:19: 'near' needs at least two terms",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: {min_score: 2}\n",
            "r.yaml:4:24: 'min_score' and 'terms' go together",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: {any: [{term: x, weight: -1}]}\n",
            "r.yaml:4:37: weight must be a number",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: {any: ['car*bu']}\n",
            "r.yaml:4:19: term 'car*bu'",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: {any: ['؟!']}\n",
            "r.yaml:4:19: term '؟!' has no words",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: {some: [x]}\n",
            "r.yaml:4:13: unknown key 'some' in condition",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    match: [x, y]\n",
            "r.yaml:4:12: a condition must be a term",
        ),
        (
            "rules:\n  - id: a\n    id: b\n    title: A\n    match: x\n",
            "r.yaml:3:5: duplicate key 'id'",
        ),
        ("vocabularies:\n  v: [a]\n  v: [b]\n", "r.yaml:3:3: vocabulary 'v' defined twice"),
        ("rules:\n  - id: a\n    title: [A\n", "r.yaml:4:1: YAML:"),
        ("rules:\n\t- id: a\n", "r.yaml:2:1: YAML:"),
        ("rules:\n  - id: a\n    title: A\n    match: {any: [x, 'y]}\n", "r.yaml:5:1: YAML:"),
    ],
)
def test_each_problem_is_located(text: str, expected: str) -> None:
    found = problems_of(text)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("(عشرات|مئات) قتيلا", "'ئ' never occurs in the normalized text (it reads 'ي')"),
        (r"\b30 Morts", "'M' never occurs in the normalized text (it reads 'm')"),
        ("tués", "'é' never occurs in the normalized text (it reads 'e')"),
        ("camions-citernes", "'-' never occurs in the normalized text (it is dropped)"),
        ("(?=x)(?:ab|ـc)d", "'ـ' never occurs in the normalized text (it is dropped)"),
    ],
)
def test_a_regex_that_normalized_text_cannot_hold_is_a_problem(regex: str, message: str) -> None:
    text = f"rules:\n  - id: a\n    title: A\n    match: '/{regex}/'\n"
    found = problems_of(text)
    assert found == [f"r.yaml:4:12: regex /{regex}/: {message}; write the regex in normalized form"]


@pytest.mark.parametrize(
    "regex",
    [
        "(عشرات|ميات) قتيلا",
        "(?i)MORTS",
        "(?i:Tues) x",
        "[A-Z0-9]+ morts",  # a class may hold characters the text never has
        "morts(?!-)",  # so may a negative lookahead
        r"\d+ tues",
    ],
)
def test_regexes_in_normalized_form_pass(regex: str) -> None:
    ruleset = parse_rule_text(
        f"rules:\n  - id: a\n    title: A\n    match: '/{regex}/'\n", "r.yaml"
    )
    assert [rule.id for rule in ruleset.rules] == ["a"]


def test_all_problems_are_listed_at_once() -> None:
    found = problems_of(
        """\
        vocabularies:
          e: []
        rules:
          - id: a
            title: A
            severity: huge
            match: {any: ["@e", "@missing", "/(/"]}
        """
    )
    assert len(found) == 4, found
    assert found[0].startswith("r.yaml:2:")
    # a broken vocabulary is reported once, not again at each use
    assert not any("undefined vocabulary @e" in p for p in found)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_rules_merges_sorted_files_and_folders(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "rules:\n  - {id: b, title: B, match: '@v'}\n")
    write(tmp_path, "a.yml", "vocabularies:\n  v: [x]\nmasks: [m n]\n")
    write(tmp_path, "notes.txt", "not: rules: at all")
    ruleset = load_rules([tmp_path])
    assert [r.id for r in ruleset.rules] == ["b"]
    assert set(ruleset.vocabularies) == {"v"}
    assert [m.text for m in ruleset.masks] == ["m n"]
    assert [Path(f).name for f in ruleset.files] == ["a.yml", "b.yaml"]


def test_load_rules_lists_problems_across_files(tmp_path: Path) -> None:
    first = write(
        tmp_path, "1.yaml", "vocabularies:\n  v: [x]\nrules:\n  - {id: a, title: A, match: x}\n"
    )
    second = write(
        tmp_path,
        "2.yaml",
        "vocabularies:\n  v: [y]\nrules:\n  - {id: a, title: B, match: '@w'}\n",
    )
    problems = check_rules([tmp_path])
    text = [str(p) for p in problems]
    assert any(t.startswith(f"{second}:2:") and "already defined" in t for t in text), text
    assert any(t.startswith(f"{second}:4:") and "duplicate rule id 'a'" in t for t in text), text
    assert any(t.startswith(f"{second}:4:") and "undefined vocabulary @w" in t for t in text), text
    assert check_rules([first]) == []


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    problems = check_rules([tmp_path / "nope.yaml"])
    assert problems == [Problem(str(tmp_path / "nope.yaml"), 0, "no such rule file or folder")]


def test_empty_file_is_an_empty_ruleset() -> None:
    assert parse_rule_text("", "empty.yaml").rules == ()
