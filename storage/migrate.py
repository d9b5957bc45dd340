"""Schema migrations (Alembic, configured in code so they run from an installed package):
upgrade a database, read its revision, and say in one sentence what is wrong with it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from monitor.errors import RasdError
from storage.db import create_db_engine, is_sqlite

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "BASELINE_REVISION",
    "MIGRATIONS_DIR",
    "SHIPPED_HEAD",
    "SchemaError",
    "SchemaState",
    "check_schema",
    "current_revision",
    "head_revision",
    "prepare_schema",
    "schema_state",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The schema that `ensure_schema` (create_all) built before migrations existed.
BASELINE_REVISION = "0001"
# The newest shipped revision (tests/test_migrations.py checks it against Alembic's head). It
# lets a start on an up-to-date database skip importing Alembic (~0.6 s of CPU).
SHIPPED_HEAD = "0003"
# Any fixed number: replicas started together with --migrate take turns on it (PostgreSQL).
_PG_LOCK_KEY = 0x52415344  # "RASD"


class SchemaError(RasdError):
    """The database schema does not fit this Rasd; the message says what to run."""


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its versions
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine | Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    if isinstance(engine, Connection):
        return MigrationContext.configure(engine).get_current_revision()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


SchemaState = str  # "current" | "empty" | "behind" | "unversioned" | "unknown"


def schema_state(engine: Engine) -> tuple[SchemaState, str | None]:
    """(state, revision): where this database stands against the shipped migrations."""
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" in tables:
            stored = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            if [tuple(row) for row in stored] == [(SHIPPED_HEAD,)]:
                return "current", SHIPPED_HEAD
        revision = current_revision(conn)
    if revision is None:
        return ("unversioned" if "feeds" in tables else "empty"), None
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    if revision == head_revision():
        return "current", revision
    try:
        script.get_revision(revision)
    except Exception:  # a revision this version of Rasd does not know: newer code wrote it
        return "unknown", revision
    return "behind", revision


def check_schema(engine: Engine) -> str | None:
    """None when the schema is at the shipped head, else what is wrong and what to run."""
    state, revision = schema_state(engine)
    head = head_revision()
    where = engine.url.render_as_string(hide_password=True)
    if state == "current":
        return None
    if state == "empty":
        return (
            f"database {where} has no Rasd tables: run `rasd db upgrade` "
            "(or start with `rasd run --migrate`)"
        )
    if state == "unversioned":
        return (
            f"database {where} was created without migrations: run `rasd db upgrade` "
            "to put it under migration control"
        )
    if state == "unknown":
        return (
            f"database {where} is at schema revision {revision}, which this Rasd does not "
            f"know (its newest is {head}): a newer Rasd migrated it; upgrade Rasd"
        )
    return (
        f"database {where} is at schema revision {revision}, this Rasd needs {head}: "
        "run `rasd db upgrade` (or start with `rasd run --migrate`)"
    )


def upgrade(url: str | Engine, revision: str = "head") -> str:
    """Bring the database to `revision`; return the revision it is at afterwards.

    A database built by create_all before migrations existed is stamped at the baseline
    first. On PostgreSQL an advisory lock makes replicas that migrate at once take turns."""
    from alembic import command

    engine = create_db_engine(url) if isinstance(url, str) else url
    try:
        config = _config()
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            config.attributes["connection"] = conn
            tables = set(inspect(conn).get_table_names())
            if current_revision(conn) is None and "feeds" in tables:
                command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, revision)
            return current_revision(conn) or ""
    finally:
        if isinstance(url, str):
            engine.dispose()


def prepare_schema(engine: Engine, *, migrate: bool = False) -> str | None:
    """Make sure the daemon may start on this database; return the revision migrated to, if
    any. An empty SQLite database (the embedded default) is created by running the
    migrations; anything else out of date raises SchemaError unless `migrate` is set."""
    state, _revision = schema_state(engine)
    if state == "current":
        return None
    if state != "unknown" and (migrate or (state == "empty" and is_sqlite(engine))):
        return upgrade(engine)
    raise SchemaError(check_schema(engine) or state)
