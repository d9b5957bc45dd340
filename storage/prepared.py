"""Run a prebuilt Core statement on the session's DBAPI cursor, with SQLAlchemy's own SQL,
bind processors and result processors, compiled once per dialect.

For the statements that run several times per polled feed. `Connection.execute` costs
~60 µs a statement on this machine (execution context, cache lookup, parameter
construction, result wrapping, events) against ~3 µs for the cursor itself; SQLAlchemy has
no lighter public path for a statement that is already compiled. The statement runs in the
session's transaction; DBAPI errors come through unwrapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement

__all__ = ["run", "run_many"]

_Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    order: tuple[str, ...] | None  # positional parameter names (qmark); None: named
    defaults: tuple[tuple[str, Any], ...]  # values written into the statement (processed)
    column_defaults: tuple[tuple[str, Any, _Processor | None], ...]  # Python-side defaults
    binds: tuple[tuple[str, _Processor], ...]  # parameters that need converting
    results: tuple[_Processor | None, ...] | None  # None: no column needs converting


@cache
def _plan(statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    binds: list[tuple[str, _Processor]] = []
    defaults: list[tuple[str, Any]] = []
    column_defaults: list[tuple[str, Any, _Processor | None]] = []
    prefetch = {c.key: c for c in [*compiled.insert_prefetch, *compiled.update_prefetch]}
    for name, bind in compiled.binds.items():
        assert not bind.expanding, f"prepared: expanding parameter {name}"
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in keys:
            if process is not None:
                binds.append((name, process))
        elif name in prefetch:  # a column's Python-side default (Column(default=...))
            column_defaults.append((name, prefetch[name].default, process))
        else:  # a value given in the statement itself, e.g. .values(consecutive_errors=0)
            assert not bind.required, f"prepared: parameter {name} not given"
            defaults.append((name, process(bind.value) if process else bind.value))
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in getattr(statement, "exported_columns", ())
    ]
    return _Plan(
        sql=compiled.string,
        order=tuple(compiled.positiontup) if compiled.positiontup is not None else None,
        defaults=tuple(defaults),
        column_defaults=tuple(column_defaults),
        binds=tuple(binds),
        results=tuple(processors) if any(processors) else None,
    )


def run(
    session: Session, statement: ClauseElement, params: Mapping[str, Any]
) -> tuple[list[tuple[Any, ...]], int]:
    """Execute `statement` with `params`; return its rows (RETURNING or SELECT, converted
    as SQLAlchemy would) and the row count."""
    connection = session.connection()
    plan = _plan(statement, connection.dialect, tuple(params))
    values = dict(params)
    values.update(plan.defaults)
    for name, default, process in plan.column_defaults:
        values[name] = _column_default(default, process)
    for name, process in plan.binds:
        values[name] = process(values[name])
    cursor = connection.connection.cursor()
    try:
        if plan.order is None:
            cursor.execute(plan.sql, values)
        else:
            cursor.execute(plan.sql, tuple(values[name] for name in plan.order))
        rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        count = cursor.rowcount
    finally:
        cursor.close()
    if plan.results is not None:
        rows = [
            tuple(p(v) if p else v for p, v in zip(plan.results, row, strict=True)) for row in rows
        ]
    return rows, count


def run_many(session: Session, statement: ClauseElement, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute `statement` once per row in one DBAPI executemany; every row has the same
    keys. Converted column by column, so a value repeated down a column (the feed, the
    fetch time) is converted once: SQLAlchemy's own executemany spends ~30 µs a row
    building and processing parameters, half the cost of storing a new item."""
    if not rows:
        return
    connection = session.connection()
    plan = _plan(statement, connection.dialect, tuple(rows[0]))
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in rows[0]}
    for name, value in plan.defaults:
        columns[name] = [value] * len(rows)
    for name, default, process in plan.column_defaults:
        columns[name] = [_column_default(default, process) for _ in rows]
    for name, process in plan.binds:
        columns[name] = _converted(columns[name], process)
    names = plan.order if plan.order is not None else tuple(columns)
    params: list[Any] = list(zip(*(columns[name] for name in names), strict=True))
    if plan.order is None:  # named parameters (psycopg)
        params = [dict(zip(names, values, strict=True)) for values in params]
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(plan.sql, params)
    finally:
        cursor.close()


def _column_default(default: Any, process: _Processor | None) -> Any:
    value = default.arg if default.is_scalar else default.arg(None)
    return process(value) if process else value


def _converted(column: list[Any], process: _Processor) -> list[Any]:
    out = []
    last: Any = _UNSET
    converted: Any = None
    for value in column:
        if value is not last:
            last, converted = value, process(value)
        out.append(converted)
    return out


_UNSET = object()
