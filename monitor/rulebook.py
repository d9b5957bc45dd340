"""The active rule set: loaded from rules_dir, reloaded when files change, last good kept.

A bad file is reported with `file:line` and left out; the other files still load, so one
broken edit never silences every rule."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import Problem, RuleError
from monitor.match import Matcher
from monitor.metrics import METRICS
from monitor.rules import RuleSet, load_rules

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
    skipped_files: tuple[str, ...]


def load_leniently(files: list[Path]) -> LoadResult:
    """Load every file that is valid together with the others; leave out the bad ones."""
    remaining = list(files)
    problems: list[Problem] = []
    skipped: list[str] = []
    while True:
        try:
            ruleset = load_rules(remaining)
            return LoadResult(ruleset, tuple(problems), tuple(skipped))
        except RuleError as exc:
            bad = {p.file for p in exc.problems}
            problems.extend(exc.problems)
            kept = [f for f in remaining if str(f) not in bad]
            if len(kept) == len(remaining):  # problems not tied to one of our files
                kept = []
            skipped.extend(str(f) for f in remaining if f not in kept)
            remaining = kept
            if not remaining:
                return LoadResult(load_rules([]), tuple(problems), tuple(skipped))


class RuleBook:
    def __init__(self, root: Path, *, on_error: Callable[[Problem], None] | None = None) -> None:
        self.root = root
        self.matcher: Matcher = Matcher.compile(load_rules([]))
        self.problems: tuple[Problem, ...] = ()
        self.loaded_files: tuple[str, ...] = ()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._on_error = on_error

    def current(self) -> Matcher:
        return self.matcher

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
        result = load_leniently(files)
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
        self.loaded_files = tuple(str(f) for f in files if str(f) not in result.skipped_files)
        log.info(
            "rules: %d rules from %d files active%s",
            self.matcher.rule_count,
            len(self.loaded_files),
            f" ({len(result.skipped_files)} file(s) left out)" if result.skipped_files else "",
        )
        return True
