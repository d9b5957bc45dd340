"""The module map stays honest: the pure core imports no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = [
    "monitor/domain.py",
    "monitor/errors.py",
    "monitor/normalize.py",
    "monitor/rules.py",
    "monitor/match.py",
    "monitor/dedup.py",
    "monitor/stories.py",
    "monitor/backoff.py",
    "monitor/alerting.py",
    "monitor/health.py",
    "monitor/opml.py",
    "monitor/discover.py",
    "monitor/evaluate.py",
    "notifiers/routes.py",
]
FORBIDDEN = {
    "httpx",
    "sqlalchemy",
    "feedparser",
    "apscheduler",
    "storage",
    "aiosmtplib",
    "socket",
    "subprocess",
    "requests",
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io(module: str) -> None:
    assert not imported(ROOT / module) & FORBIDDEN


def test_storage_is_the_only_sql() -> None:
    for path in (ROOT / "notifiers").glob("*.py"):
        if path.name != "dispatcher.py":  # the outbox reads through the repositories
            assert "sqlalchemy" not in imported(path), path.name
