"""Alembic migrations on real SQLite files and the real PostgreSQL: the migrated schema is
exactly the models' schema, out-of-date databases are refused with a message that says what
to run, and replicas migrating at once take turns."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from storage.db import create_db_engine, ensure_schema, is_sqlite
from storage.migrate import (
    BASELINE_REVISION,
    SHIPPED_HEAD,
    SchemaError,
    check_schema,
    current_revision,
    head_revision,
    prepare_schema,
    schema_state,
    upgrade,
)
from storage.models import Base

ROOT = Path(__file__).resolve().parents[1]


def _diff(url: str) -> list[object]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": False, "target_metadata": Base.metadata},
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_the_shipped_head_constant_is_alembics_head() -> None:
    assert head_revision() == SHIPPED_HEAD


def test_a_start_on_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rasd.db'}"
    upgrade(url)
    probe = (
        "import sys\n"
        "from storage.db import create_db_engine\n"
        "from storage.migrate import prepare_schema\n"
        f"assert prepare_schema(create_db_engine({url!r})) is None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_upgrade_builds_exactly_the_models_schema(db_url: str) -> None:
    assert upgrade(db_url) == head_revision()
    assert _diff(db_url) == []
    engine = create_db_engine(db_url)
    try:
        assert check_schema(engine) is None
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
    finally:
        engine.dispose()
    assert upgrade(db_url) == head_revision()  # idempotent


def test_each_out_of_date_state_has_a_message_naming_the_command(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        empty = check_schema(engine)
        assert empty is not None and "rasd db upgrade" in empty and "no Rasd tables" in empty

        # A database from before migrations existed: the baseline's tables, no version row.
        upgrade(engine, BASELINE_REVISION)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        assert schema_state(engine) == ("unversioned", None)
        unversioned = check_schema(engine)
        assert unversioned is not None and "without migrations" in unversioned
        assert upgrade(engine) == head_revision()  # stamped at the baseline, then upgraded
        assert check_schema(engine) is None

        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
        newer = check_schema(engine)
        assert newer is not None and "ffff9999" in newer and "upgrade Rasd" in newer
        with pytest.raises(SchemaError, match="upgrade Rasd"):
            prepare_schema(engine, migrate=True)  # never "migrates" down an unknown schema
    finally:
        engine.dispose()


def test_prepare_schema_creates_only_an_empty_sqlite_database_unasked(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        if is_sqlite(engine):
            assert prepare_schema(engine) == head_revision()  # zero steps for `make run`
        else:
            with pytest.raises(SchemaError, match="rasd db upgrade"):
                prepare_schema(engine)
            assert schema_state(engine)[0] == "empty"
            assert prepare_schema(engine, migrate=True) == head_revision()
        assert prepare_schema(engine) is None
    finally:
        engine.dispose()


def test_ensure_schema_migrates_an_empty_database_and_leaves_others_alone(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        ensure_schema(engine)
        assert current_revision(engine) == head_revision()
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
        ensure_schema(engine)
        assert current_revision(engine) == "ffff9999"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_replicas_migrating_at_once_take_turns() -> None:
    from tests.conftest import postgres_url

    url = postgres_url()
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    with ThreadPoolExecutor(4) as pool:
        revisions = list(pool.map(lambda _: upgrade(url), range(4)))
    assert revisions == [head_revision()] * 4
    assert _diff(url) == []


def _rasd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_cli_db_check_and_upgrade(tmp_path: Path) -> None:
    config = tmp_path / "rasd.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'rasd.db'}\n", encoding="utf-8")
    before = _rasd(config, "db", "check")
    assert before.returncode == 1 and "rasd db upgrade" in before.stderr
    done = _rasd(config, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert f"revision {head_revision()}" in done.stdout
    after = _rasd(config, "db", "check")
    assert after.returncode == 0 and head_revision() in after.stdout


def test_cli_run_refuses_an_out_of_date_schema_unless_migrate(tmp_path: Path) -> None:
    db = tmp_path / "rasd.db"
    config = tmp_path / "rasd.yaml"
    config.write_text(
        f"database: sqlite:///{db}\nrules_dir: {ROOT / 'rules'}\nserver: {{enabled: false}}\n",
        encoding="utf-8",
    )
    engine = create_db_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)  # tables, but no migration version: out of date
    engine.dispose()
    refused = _rasd(config, "run")
    assert refused.returncode == 2
    assert "rasd db upgrade" in refused.stderr and "Traceback" not in refused.stderr
    once = _rasd(config, "once")
    assert once.returncode == 2 and "rasd db upgrade" in once.stderr
