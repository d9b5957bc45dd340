"""INSERT … ON CONFLICT DO NOTHING RETURNING id, for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_ignore"]


def insert_ignore(session: Session, table: Table, values: dict[str, Any]) -> int | None:
    """Insert one row; return its id, or None if a unique key already held it."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).values(**values).on_conflict_do_nothing().returning(table.c.id)
    return session.execute(statement).scalar_one_or_none()
