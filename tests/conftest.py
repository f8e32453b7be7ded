"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL (the ``engine`` fixture).

PostgreSQL: ``POSTPILOT_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) is the admin
connection; a fresh database is created for the session, migrated with ``alembic upgrade head`` and truncated
between tests. Without a server the PostgreSQL tests skip locally, and fail under CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from postpilot.db import migrate
from postpilot.db.engine import build_engine

PG_ADMIN_URL = os.environ.get("POSTPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def create_pg_database(prefix: str = "postpilot_test") -> str:
    """A new empty PostgreSQL database; returns its SQLAlchemy URL. Skips (fails under CI) without a server."""
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI but is not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session; yields its SQLAlchemy URL."""
    url = create_pg_database()
    engine = build_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = build_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


def _truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE post_events, post_media, scheduled_posts, accounts, workers, image_spend, notifications, "
                "notification_deliveries, account_channels, review_users "
                "RESTART IDENTITY CASCADE"
            )
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "postpilot.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        engine = build_engine(url)
        _truncate(engine)
        engine.dispose()
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = build_engine(db_url)
    yield eng
    eng.dispose()
