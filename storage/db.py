"""Engine and sessionmaker from a URL: SQLite pragmas (WAL, busy timeout, BEGIN IMMEDIATE)
and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "create_db_engine",
    "ensure_schema",
    "is_sqlite",
    "lock_startup",
    "make_sessionmaker",
    "open_sessions",
    "reader_of",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option of sessions that only read: on SQLite they BEGIN DEFERRED, so in WAL mode
# they neither wait for nor hold up the one writer.
READ_ONLY = "rasd_read_only"
_PG_STARTUP_LOCK = 0x52415345


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _sqlite_pragmas(engine)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE itself: pysqlite's implicit
        # deferred BEGIN lets two writers both read, then one fails with "database is locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def lock_startup(session: Session) -> None:
    """Serialise replicas that start together (PostgreSQL advisory lock, released at commit);
    on SQLite the BEGIN IMMEDIATE transaction already does."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_STARTUP_LOCK})


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    options = {READ_ONLY: True} if read_only else {}
    return sessionmaker(engine, expire_on_commit=False, execution_options=options)


def reader_of(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on the same engine as `sessions` for transactions that only read."""
    return make_sessionmaker(sessions.kw["bind"], read_only=True)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database by running the migrations; an existing schema
    is left as it is (`rasd db upgrade` moves it)."""
    from storage.migrate import schema_state, upgrade

    if schema_state(engine)[0] == "empty":
        upgrade(engine)


def open_sessions(url: str) -> sessionmaker[Session]:
    """Sessions on `url` for a short-lived command (CLI): engine, new schema if empty."""
    engine = create_db_engine(url)
    ensure_schema(engine)
    return make_sessionmaker(engine)
