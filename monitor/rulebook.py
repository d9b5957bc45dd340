"""The active rule set: loaded from rules_dir, reloaded when files change, last good kept.

A bad file is reported with `file:line` and left out; the other files still load, so one
broken edit never silences every rule."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import Problem, RuleError
from monitor.match import Matcher
from monitor.metrics import METRICS
from monitor.rules import RuleSet, load_rule_texts, load_rules

__all__ = ["RuleBook", "rule_files"]

log = logging.getLogger("rasd.rules")


def rule_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def _signature(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LoadResult:
    ruleset: RuleSet
    problems: tuple[Problem, ...]
    skipped_files: tuple[str, ...]  # left out: broken, with no good version to fall back on
    stale_files: tuple[str, ...] = ()  # broken now: their last good version stays active
    texts: tuple[tuple[str, str], ...] = ()  # what was loaded, by file


def _read(files: list[Path]) -> tuple[list[tuple[str, str]], list[Problem]]:
    texts, problems = [], []
    for path in files:
        try:
            texts.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 0, f"cannot read: {exc}"))
    return texts, problems


def load_leniently(files: list[Path], last_good: dict[str, str] | None = None) -> LoadResult:
    """Load every file that is valid together with the others. A broken file falls back to
    its last good text when there is one, else it is left out; the problems are reported."""
    last_good = last_good or {}
    texts, problems = _read(files)
    current = dict(texts)
    stale: list[str] = []
    skipped = [p.file for p in problems]
    while True:
        try:
            ruleset = load_rule_texts(list(current.items()))
            return LoadResult(
                ruleset, tuple(problems), tuple(skipped), tuple(stale), tuple(current.items())
            )
        except RuleError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
            bad = {p.file for p in exc.problems} & set(current)
            if not bad:  # not tied to a file we hold: nothing more can be saved
                return LoadResult(load_rule_texts([]), tuple(problems), tuple(current))
            for name in bad:
                good = last_good.get(name)
                if good is not None and name not in stale and current[name] != good:
                    current[name] = good
                    stale.append(name)
                else:
                    del current[name]
                    if name in stale:
                        stale.remove(name)
                    skipped.append(name)


# Rule-set versions are unique in the process: several RuleBooks (apps, tests, replays) share
# the parse workers, which keep a compiled rule set by version.
_VERSIONS = itertools.count(1)


class RuleBook:
    def __init__(self, root: Path, *, on_error: Callable[[Problem], None] | None = None) -> None:
        self.root = root
        self.ruleset: RuleSet = load_rules([])
        self.matcher: Matcher = Matcher.compile(self.ruleset)
        self.version = next(_VERSIONS)  # a new one whenever a new rule set becomes active
        self.problems: tuple[Problem, ...] = ()
        self.loaded_files: tuple[str, ...] = ()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._last_good: dict[str, str] = {}
        self._on_error = on_error

    def current(self) -> Matcher:
        return self.matcher

    def snapshot(self) -> tuple[int, RuleSet]:
        """The active rule set and its version, for processes that compile their own."""
        return self.version, self.ruleset

    def reload_if_changed(self) -> bool:
        """Reload when a rule file changed; return True if a new rule set became active."""
        files = rule_files(self.root) if self.root.exists() else []
        signature = _signature(files)
        if signature == self._signature:
            return False
        self._signature = signature
        if not files:
            self.problems = (Problem(str(self.root), 0, "no rule files (*.yaml) found"),)
            METRICS.rule_reload_errors.inc()
            log.error("rules: %s: no rule files found; keeping the previous rule set", self.root)
            return False
        result = load_leniently(files, self._last_good)
        self.problems = result.problems
        if result.problems:
            METRICS.rule_reload_errors.inc()
        for problem in result.problems:
            log.error("rules: %s", problem)
            if self._on_error:
                self._on_error(problem)
        if result.skipped_files and not result.ruleset.rules:
            log.error("rules: no valid rule file; keeping the previous rule set")
            return False
        self.matcher = Matcher.compile(result.ruleset)
        self.ruleset = result.ruleset
        self.version = next(_VERSIONS)
        self._last_good.update(result.texts)
        self.loaded_files = tuple(str(f) for f in files if str(f) not in result.skipped_files)
        log.info(
            "rules: %d rules from %d files active%s",
            self.matcher.rule_count,
            len(self.loaded_files),
            (f" ({len(result.skipped_files)} file(s) left out)" if result.skipped_files else "")
            + (
                f" (last good version kept for {', '.join(result.stale_files)})"
                if result.stale_files
                else ""
            ),
        )
        return True
