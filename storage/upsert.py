"""INSERT … ON CONFLICT DO NOTHING RETURNING id, for SQLite and PostgreSQL."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.prepared import run, run_many

__all__ = ["insert_ignore", "insert_ignore_many"]


@cache
def _insert(dialect: str, table: Table, returning: bool) -> Any:
    """One statement object per (dialect, table): values travel as parameters, so SQLAlchemy
    neither rebuilds the statement nor recomputes its cache key on every insert."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).on_conflict_do_nothing()
    return statement.returning(table.c.id) if returning else statement


def insert_ignore_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys) in one executemany; rows a unique key
    already held are skipped."""
    run_many(session, _insert(session.get_bind().dialect.name, table, False), rows)


def insert_ignore(session: Session, table: Table, values: dict[str, Any]) -> int | None:
    """Insert one row; return its id, or None if a unique key already held it."""
    statement = _insert(session.get_bind().dialect.name, table, True)
    rows, _ = run(session, statement, values)
    return rows[0][0] if rows else None
