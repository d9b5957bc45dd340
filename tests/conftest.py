from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.feedserver import FeedServer


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that runs the CLI points the root logger at that test's captured stderr; put
    the handlers back, so later log lines (e.g. from a test SMTP server's thread) never go
    to a stream pytest has closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The machine's PostgreSQL, or skip with the reason."""
    import os

    url = os.environ.get("RASD_TEST_POSTGRES", PG_URL)
    try:
        import psycopg

        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3):
            pass
    except Exception as exc:  # any connection failure means: no PostgreSQL here
        pytest.skip(f"PostgreSQL not reachable at {url}: {type(exc).__name__}: {exc}")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh empty database: a real SQLite file, or the real PostgreSQL (reset)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'rasd.db'}"
    url = postgres_url()
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url
