"""Engine setup for the two supported databases.

SQLite (embedded default, one process): WAL, a busy timeout, foreign keys on, and every transaction begun
with ``BEGIN IMMEDIATE`` so a claim holds the write lock from its first statement (SQLAlchemy's recipe; a
deferred read-then-write would fail with SQLITE_BUSY_SNAPSHOT whatever the busy timeout).
PostgreSQL via psycopg 3: sessions in UTC, pre-ping so a restarted server does not poison the pool.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from postpilot.domain.errors import ConfigError


def build_engine(url: str, *, pool_size: int = 10, connect_timeout_s: int = 5) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"connect_timeout": connect_timeout_s, "options": "-c timezone=UTC"},
        )

        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_conn: Any, _record: Any) -> None:
            # psycopg parses json columns itself, while fetching: one row nested thousands of levels deep
            # would raise from fetchone() and abort a whole claim batch. Parse leniently, as SQLite rows are.
            from psycopg.types.json import set_json_loads

            set_json_loads(_lenient_json, dbapi_conn)

        return engine
    raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://")


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    database = parsed.database
    if database and database != ":memory:":
        parent = Path(database).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the database directory {parent}: {exc.strerror}") from exc
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see "begin" below).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _lenient_json(data: str | bytes) -> Any:
    from postpilot.db.types import InvalidJSON

    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return InvalidJSON(data if isinstance(data, str) else data.decode(errors="replace"))


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
