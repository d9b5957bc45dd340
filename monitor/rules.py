"""Text of rule files → a validated RuleSet; every problem located as `file:line:col`.

The YAML is composed (not loaded) so that every node keeps its position; values are checked
by hand and all problems of all files are collected before raising one RuleError. The rule
language itself is described in docs/rules.md.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import yaml

from monitor.domain import FIELDS, SEVERITIES
from monitor.errors import Problem, RuleError
from monitor.normalize import normalize_words

__all__ = [
    "AllNode",
    "AnyNode",
    "Condition",
    "NearNode",
    "NoneNode",
    "Rule",
    "RuleSet",
    "ScopeNode",
    "ScoreNode",
    "Term",
    "TermNode",
    "VocabNode",
    "Vocabulary",
    "check_rules",
    "load_rules",
    "parse_rule_text",
]

# libyaml's composer when PyYAML has it (the same nodes and marks, several times faster).
_COMPOSER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RULE_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
DEFAULT_NEAR_WORDS = 10
MIN_PREFIX_CHARS = 2
_TOP_KEYS = ("vocabularies", "masks", "rules")
_RULE_KEYS = (
    "id",
    "title",
    "description",
    "severity",
    "tags",
    "enabled",
    "fields",
    "lang",
    "feeds",
    "feed_tags",
    "masks",
    "match",
)
_VOCAB_KEYS = ("proper", "terms", "description")
_TERM_KEYS = ("term", "weight", "proper")
_NODE_KEYS = ("any", "all", "none", "near", "within", "min_score", "terms", "fields")


@dataclass(frozen=True, slots=True)
class Term:
    """One term as the admin wrote it, with its normalized words.

    `words` is empty only for a regex term. `prefix` marks the last word as a prefix
    (`carburant*`), `exact` forbids clitics on the first word (`=Maliens`), `proper` allows
    Arabic proclitics but not the article.
    """

    text: str
    words: tuple[str, ...] = ()
    regex: str | None = None
    exact: bool = False
    prefix: bool = False
    proper: bool = False
    weight: float = 1.0
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)

    @property
    def kind(self) -> str:
        if self.regex is not None:
            return "regex"
        if len(self.words) > 1:
            return "phrase"
        return "prefix" if self.prefix else "word"

    @property
    def key(self) -> tuple[object, ...]:
        """Identity for matching: two terms with one key find the same places."""
        return (self.words, self.regex, self.exact, self.prefix, self.proper)


@dataclass(frozen=True, slots=True)
class TermNode:
    term: Term


@dataclass(frozen=True, slots=True)
class VocabNode:
    name: str
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class AnyNode:
    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AllNode:
    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class NoneNode:
    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class NearNode:
    items: tuple[TermNode | VocabNode, ...]
    within: int = DEFAULT_NEAR_WORDS


@dataclass(frozen=True, slots=True)
class ScoreNode:
    min_score: float
    items: tuple[TermNode | VocabNode, ...]


@dataclass(frozen=True, slots=True)
class ScopeNode:
    fields: tuple[str, ...]
    child: Condition


Condition: TypeAlias = (
    TermNode | VocabNode | AnyNode | AllNode | NoneNode | NearNode | ScoreNode | ScopeNode
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    name: str
    terms: tuple[Term, ...]
    proper: bool = False
    file: str = ""
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    match: Condition
    description: str = ""
    severity: str = "medium"
    tags: tuple[str, ...] = ()
    enabled: bool = True
    fields: tuple[str, ...] = FIELDS
    lang: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    feed_tags: tuple[str, ...] = ()
    masks: tuple[Term, ...] = ()
    file: str = ""
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    vocabularies: Mapping[str, Vocabulary] = field(default_factory=dict)
    masks: tuple[Term, ...] = ()
    files: tuple[str, ...] = ()


@dataclass
class _FilePart:
    """What one file contributes before the cross-file checks."""

    file: str
    rules: list[Rule] = field(default_factory=list)
    vocabularies: list[Vocabulary] = field(default_factory=list)
    masks: list[Term] = field(default_factory=list)
    vocab_refs: list[VocabNode] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)  # vocabulary names, even broken ones
    problems: list[Problem] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.part = _FilePart(filename)

    # -- helpers -------------------------------------------------------------------------
    def problem(self, node: yaml.Node | None, message: str) -> None:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.part.problems.append(Problem(self.part.file, line, message, col))

    def mapping(self, node: yaml.Node, what: str, keys: Sequence[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return {}
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key not in keys:
                allowed = ", ".join(keys)
                self.problem(key_node, f"unknown key {key!r} in {what} (allowed: {allowed})")
            elif key in out:
                self.problem(key_node, f"duplicate key {key!r} in {what}")
            else:
                out[key] = value
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list")
            return []
        return list(node.value)

    def string(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith((":null", ":bool")):
            self.problem(node, f"{what} must be a string")
            return None
        if not node.value.strip():
            self.problem(node, f"{what} must not be empty")
            return None
        return str(node.value)

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
            value = self.string(node, what)  # a lone string stands for a one-item list
            return (value,) if value else ()
        values = (self.string(item, f"each of {what}") for item in self.sequence(node, what))
        return tuple(v for v in values if v is not None)

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
            return str(node.value).lower() in ("true", "yes", "on")
        self.problem(node, f"{what} must be true or false")
        return None

    def number(self, node: yaml.Node, what: str, *, minimum: float = 0) -> float | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
            try:
                value = float(node.value.replace("_", ""))
            except ValueError:
                value = float("nan")
            if value >= minimum:
                return value
        self.problem(node, f"{what} must be a number ≥ {minimum:g}")
        return None

    # -- terms ---------------------------------------------------------------------------
    def term(self, node: yaml.Node, *, proper: bool = False) -> Term | None:
        weight = 1.0
        text_node = node
        if isinstance(node, yaml.MappingNode):
            keys = self.mapping(node, "term", _TERM_KEYS)
            if "term" not in keys:
                self.problem(node, "term mapping needs a 'term' key")
                return None
            text_node = keys["term"]
            if "weight" in keys:
                weight = self.number(keys["weight"], "weight", minimum=0) or 0.0
                if weight <= 0:
                    return None
            if "proper" in keys:
                proper = bool(self.boolean(keys["proper"], "proper"))
        if not isinstance(text_node, yaml.ScalarNode) or text_node.tag.endswith(":null"):
            self.problem(text_node, "term must be a string")
            return None
        text = str(text_node.value).strip()
        return self.term_text(text, text_node, proper=proper, weight=weight)

    def term_text(self, text: str, node: yaml.Node, *, proper: bool, weight: float) -> Term | None:
        where = {"file": self.part.file, "line": node.start_mark.line + 1}
        where_col = node.start_mark.column + 1
        if not text:
            self.problem(node, "term must not be empty")
            return None
        if len(text) > 2 and text.startswith("/") and text.endswith("/"):
            try:
                re.compile(text[1:-1])
            except re.error as exc:
                self.problem(node, f"bad regex {text}: {exc}")
                return None
            dead = _unmatchable_literal(text[1:-1])
            if dead is not None:
                char, folded = dead
                reads = f"it reads {folded!r}" if folded else "it is dropped"
                self.problem(
                    node,
                    f"regex {text}: {char!r} never occurs in the normalized text ({reads}); "
                    "write the regex in normalized form",
                )
                return None
            return Term(text, regex=text[1:-1], weight=weight, col=where_col, **where)  # type: ignore[arg-type]
        if text.startswith("@"):
            self.problem(node, f"vocabulary reference {text} is not allowed here")
            return None
        body = text
        exact = body.startswith("=")
        body = body.removeprefix("=")
        prefix = body.endswith("*")
        body = body.removesuffix("*")
        if "*" in body:
            self.problem(node, f"term {text!r}: '*' is only allowed at the end")
            return None
        words = tuple(normalize_words(body))
        if not words:
            self.problem(node, f"term {text!r} has no words after normalization")
            return None
        if prefix and len(words[-1]) < MIN_PREFIX_CHARS:
            self.problem(node, f"prefix {text!r} is too short")
            return None
        return Term(
            text,
            words=words,
            exact=exact,
            prefix=prefix,
            proper=proper,
            weight=weight,
            col=where_col,
            **where,  # type: ignore[arg-type]
        )

    def term_or_vocab(self, node: yaml.Node) -> TermNode | VocabNode | None:
        if isinstance(node, yaml.ScalarNode) and str(node.value).strip().startswith("@"):
            name = str(node.value).strip()[1:]
            ref = VocabNode(name, node.start_mark.line + 1, node.start_mark.column + 1)
            self.part.vocab_refs.append(ref)
            return ref
        if isinstance(node, yaml.ScalarNode | yaml.MappingNode):
            term = self.term(node)
            return TermNode(term) if term else None
        self.problem(node, "expected a term or @vocabulary")
        return None

    # -- conditions ----------------------------------------------------------------------
    def condition(self, node: yaml.Node) -> Condition | None:
        if isinstance(node, yaml.ScalarNode):
            return self.term_or_vocab(node)
        if isinstance(node, yaml.SequenceNode):
            self.problem(node, "a condition must be a term or a mapping (any/all/none/near/…)")
            return None
        if isinstance(node, yaml.MappingNode) and any(
            isinstance(k, yaml.ScalarNode) and k.value == "term" for k, _ in node.value
        ):
            return self.term_or_vocab(node)
        keys = self.mapping(node, "condition", _NODE_KEYS)
        if not keys:
            if isinstance(node, yaml.MappingNode) and not node.value:
                self.problem(node, "empty condition")
            return None
        parts: list[Condition] = []
        ok = True
        for name, cls in (("any", AnyNode), ("all", AllNode), ("none", NoneNode)):
            if name in keys:
                children = self.children(keys[name], name)
                ok = ok and children is not None
                if children:
                    parts.append(cls(children))
        ok = self.near(keys, parts) and ok
        ok = self.score(keys, parts) and ok
        if not parts:
            if ok:
                self.problem(node, "condition needs one of any, all, none, near, min_score")
            return None
        if not ok:
            return None
        result: Condition = parts[0] if len(parts) == 1 else AllNode(tuple(parts))
        if "fields" in keys:
            scope = self.fields(keys["fields"])
            if scope is None:
                return None
            result = ScopeNode(scope, result)
        return result

    def children(self, node: yaml.Node, name: str) -> tuple[Condition, ...] | None:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if isinstance(node, yaml.SequenceNode) and not items:
            self.problem(node, f"'{name}' must not be empty")
            return None
        out = [self.condition(item) for item in items]
        return None if any(c is None for c in out) else tuple(c for c in out if c)

    def items(self, node: yaml.Node, name: str) -> tuple[TermNode | VocabNode, ...] | None:
        out = [self.term_or_vocab(item) for item in self.sequence(node, f"'{name}'")]
        if not out or any(c is None for c in out):
            if not out and isinstance(node, yaml.SequenceNode):
                self.problem(node, f"'{name}' must not be empty")
            return None
        return tuple(c for c in out if c)

    def near(self, keys: dict[str, yaml.Node], parts: list[Condition]) -> bool:
        if "within" in keys and "near" not in keys:
            self.problem(keys["within"], "'within' only goes with 'near'")
            return False
        if "near" not in keys:
            return True
        items = self.items(keys["near"], "near")
        within = float(DEFAULT_NEAR_WORDS)
        if "within" in keys:
            within_node = keys["within"]
            value = self.number(within_node, "within", minimum=0)
            if value is None:
                return False
            if value != int(value):
                self.problem(within_node, "within must be a whole number of words")
                return False
            within = value
        if items is None:
            return False
        if len(items) < 2:
            self.problem(keys["near"], "'near' needs at least two terms")
            return False
        parts.append(NearNode(items, int(within)))
        return True

    def score(self, keys: dict[str, yaml.Node], parts: list[Condition]) -> bool:
        if ("terms" in keys) != ("min_score" in keys):
            present = "terms" if "terms" in keys else "min_score"
            self.problem(keys[present], "'min_score' and 'terms' go together")
            return False
        if "min_score" not in keys:
            return True
        minimum = self.number(keys["min_score"], "min_score", minimum=0)
        items = self.items(keys["terms"], "terms")
        if minimum is None or items is None:
            return False
        parts.append(ScoreNode(minimum, items))
        return True

    def fields(self, node: yaml.Node) -> tuple[str, ...] | None:
        values = self.strings(node, "fields")
        bad = [v for v in values if v not in FIELDS]
        if bad or not values:
            self.problem(node, f"fields must be a list of {', '.join(FIELDS)}")
            return None
        return tuple(dict.fromkeys(values))

    # -- sections ------------------------------------------------------------------------
    def vocabulary(self, name_node: yaml.Node, node: yaml.Node) -> None:
        name = self.string(name_node, "vocabulary name")
        if name is None:
            return
        self.part.declared.add(name)
        proper = False
        terms_node: yaml.Node | None = node
        if isinstance(node, yaml.MappingNode):
            keys = self.mapping(node, f"vocabulary {name!r}", _VOCAB_KEYS)
            if "proper" in keys:
                proper = bool(self.boolean(keys["proper"], "proper"))
            terms_node = keys.get("terms")
            if terms_node is None:
                self.problem(node, f"vocabulary {name!r} needs 'terms'")
                return
        if isinstance(terms_node, yaml.ScalarNode) and terms_node.tag.endswith(":null"):
            self.problem(terms_node, f"vocabulary {name!r} is empty")
            return
        items = self.sequence(terms_node, f"vocabulary {name!r}")
        if not items:
            if isinstance(terms_node, yaml.SequenceNode):
                self.problem(terms_node, f"vocabulary {name!r} is empty")
            return
        terms = [self.term(item, proper=proper) for item in items]
        self.part.vocabularies.append(
            Vocabulary(
                name,
                tuple(t for t in terms if t),
                proper,
                self.part.file,
                name_node.start_mark.line + 1,
                name_node.start_mark.column + 1,
            )
        )

    def rule(self, node: yaml.Node) -> None:
        keys = self.mapping(node, "rule", _RULE_KEYS)
        if not isinstance(node, yaml.MappingNode):
            return
        for required in ("id", "title", "match"):
            if required not in keys:
                self.problem(node, f"rule needs '{required}'")
        rule_id = self.string(keys["id"], "id") if "id" in keys else None
        if rule_id is not None and not RULE_ID_RE.match(rule_id):
            self.problem(keys["id"], f"rule id {rule_id!r} must match [a-z0-9][a-z0-9._-]*")
            rule_id = None
        title = self.string(keys["title"], "title") if "title" in keys else None
        match = self.condition(keys["match"]) if "match" in keys else None
        severity = "medium"
        if "severity" in keys:
            value = self.string(keys["severity"], "severity")
            if value is not None and value not in SEVERITIES:
                self.problem(keys["severity"], f"severity must be one of {', '.join(SEVERITIES)}")
                value = None
            severity = value or severity
        opt: dict[str, tuple[str, ...]] = {}
        for name in ("tags", "lang", "feeds", "feed_tags"):
            if name in keys:
                opt[name] = self.strings(keys[name], name)
        fields = self.fields(keys["fields"]) if "fields" in keys else FIELDS
        enabled = self.boolean(keys["enabled"], "enabled") if "enabled" in keys else True
        description = ""
        if "description" in keys:
            description = self.string(keys["description"], "description") or ""
        masks: list[Term] = []
        if "masks" in keys:
            masks = [m for m in map(self.term, self.sequence(keys["masks"], "masks")) if m]
        if rule_id and title and match is not None and fields is not None:
            self.part.rules.append(
                Rule(
                    id=rule_id,
                    title=title,
                    match=match,
                    description=description,
                    severity=severity,
                    tags=opt.get("tags", ()),
                    enabled=enabled is not False,
                    fields=fields,
                    lang=tuple(v.lower() for v in opt.get("lang", ())),
                    feeds=opt.get("feeds", ()),
                    feed_tags=opt.get("feed_tags", ()),
                    masks=tuple(masks),
                    file=self.part.file,
                    line=keys["id"].start_mark.line + 1,
                    col=keys["id"].start_mark.column + 1,
                )
            )

    def parse(self) -> _FilePart:
        loader = _COMPOSER(self.text)
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            detail = " ".join(str(s) for s in (exc.context, exc.problem) if s)
            self.part.problems.append(Problem(self.part.file, line, f"YAML: {detail}", col))
            return self.part
        except yaml.YAMLError as exc:
            self.part.problems.append(Problem(self.part.file, 1, f"YAML: {exc}", 1))
            return self.part
        finally:
            loader.dispose()
        if root is None:
            return self.part
        top = self.mapping(root, "rule file", _TOP_KEYS)
        if "vocabularies" in top:
            vocab_node = top["vocabularies"]
            if isinstance(vocab_node, yaml.MappingNode):
                seen: set[str] = set()
                for name_node, value in vocab_node.value:
                    if name_node.value in seen:
                        self.problem(name_node, f"vocabulary {name_node.value!r} defined twice")
                        continue
                    seen.add(name_node.value)
                    self.vocabulary(name_node, value)
            else:
                self.problem(vocab_node, "vocabularies must be a mapping of name → terms")
        if "masks" in top:
            masks = (self.term(m) for m in self.sequence(top["masks"], "masks"))
            self.part.masks.extend(m for m in masks if m)
        if "rules" in top:
            for rule_node in self.sequence(top["rules"], "rules"):
                self.rule(rule_node)
        return self.part


def _merge(parts: Iterable[_FilePart]) -> RuleSet:
    parts = list(parts)
    problems = [p for part in parts for p in part.problems]
    vocabularies: dict[str, Vocabulary] = {}
    rule_ids: dict[str, Rule] = {}
    for part in parts:
        for vocab in part.vocabularies:
            if vocab.name in vocabularies:
                first = vocabularies[vocab.name]
                problems.append(
                    Problem(
                        part.file,
                        vocab.line,
                        f"vocabulary {vocab.name!r} already defined at {first.file}:{first.line}",
                        vocab.col,
                    )
                )
            else:
                vocabularies[vocab.name] = vocab
        for rule in part.rules:
            if rule.id in rule_ids:
                first_rule = rule_ids[rule.id]
                where = f"{first_rule.file}:{first_rule.line}"
                problems.append(
                    Problem(
                        part.file,
                        rule.line,
                        f"duplicate rule id {rule.id!r} (first at {where})",
                        rule.col,
                    )
                )
            else:
                rule_ids[rule.id] = rule
    defined = {name for part in parts for name in part.declared}
    for part in parts:
        for ref in part.vocab_refs:
            if ref.name not in defined:
                problems.append(
                    Problem(part.file, ref.line, f"undefined vocabulary @{ref.name}", ref.col)
                )
    if problems:
        raise RuleError(sorted(problems, key=lambda p: (p.file, p.line, p.col or 0)))
    return RuleSet(
        rules=tuple(rule_ids.values()),
        vocabularies=vocabularies,
        masks=tuple(m for part in parts for m in part.masks),
        files=tuple(part.file for part in parts),
    )


def parse_rule_text(text: str, filename: str) -> RuleSet:
    """Parse one rule file's text; raise RuleError listing every problem."""
    return _merge([_Parser(text, filename).parse()])


def _rule_files(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = [p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()]
            files.extend(sorted(found))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), 0, "no such rule file or folder"))
    return files, problems


def load_rules(paths: Sequence[Path]) -> RuleSet:
    """Load rule files and folders (*.yaml, *.yml, sorted) into one RuleSet."""
    files, problems = _rule_files(paths)
    parts: list[_FilePart] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(file), 0, f"cannot read: {exc}"))
            continue
        parts.append(_Parser(text, str(file)).parse())
    try:
        ruleset = _merge(parts)
    except RuleError as exc:
        raise RuleError(problems + exc.problems) from None
    if problems:
        raise RuleError(problems)
    return ruleset


def check_rules(paths: Sequence[Path]) -> list[Problem]:
    """Every problem in the rule files (empty when they load)."""
    try:
        load_rules(paths)
    except RuleError as exc:
        return list(exc.problems)
    return []


def load_rule_texts(texts: Sequence[tuple[str, str]]) -> RuleSet:
    """Like load_rules, from (filename, text) pairs already read (e.g. a last good copy)."""
    return _merge([_Parser(text, filename).parse() for filename, text in texts])


def _unmatchable_literal(pattern: str) -> tuple[str, str] | None:
    """A literal character of `pattern` that normalized text never holds, with what
    normalization makes of it ("" if it drops it): the part of the regex holding it can
    never match. Regexes run on normalized text, and an admin writes them by hand: مئات where
    the text reads ميات, "Mali" where it reads "mali", a hyphen where words are split."""
    parsed = sre_parse.parse(pattern)
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    for char, case_free in _literal_chars(list(parsed), ignore_case):
        if char == " ":
            continue
        folded = "".join(normalize_words(char))
        if folded != (char.lower() if case_free else char):
            return char, folded
    return None


def _literal_chars(
    items: list[tuple[object, object]], ignore_case: bool
) -> Iterator[tuple[str, bool]]:
    """(character, case-insensitive there) of every literal a match may have to contain:
    classes and negative lookarounds are left out."""
    for op, av in items:
        if op is sre.LITERAL:
            yield chr(av), ignore_case  # type: ignore[arg-type]
        elif op is sre.SUBPATTERN:
            _, add_flags, del_flags, sub = av  # type: ignore[misc]
            local = (
                ignore_case or bool(add_flags & re.IGNORECASE)
            ) and not del_flags & re.IGNORECASE
            yield from _literal_chars(list(sub), local)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            yield from _literal_chars(list(av[2]), ignore_case)  # type: ignore[index]
        elif op is sre.ATOMIC_GROUP:
            yield from _literal_chars(list(av), ignore_case)  # type: ignore[call-overload]
        elif op is sre.BRANCH:
            for alternative in av[1]:  # type: ignore[index]
                yield from _literal_chars(list(alternative), ignore_case)
        elif op is sre.ASSERT:
            yield from _literal_chars(list(av[1]), ignore_case)  # type: ignore[index]
