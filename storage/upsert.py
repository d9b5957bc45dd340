"""INSERT … ON CONFLICT DO NOTHING RETURNING id, for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_ignore", "insert_ignore_many"]


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def insert_ignore_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in one executemany; rows a unique key already held are skipped."""
    if rows:
        session.execute(_insert(session, table), rows)


def insert_ignore(session: Session, table: Table, values: dict[str, Any]) -> int | None:
    """Insert one row; return its id, or None if a unique key already held it."""
    statement = _insert(session, table).values(**values).returning(table.c.id)
    return session.execute(statement).scalar_one_or_none()
