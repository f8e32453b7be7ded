"""Column types and SQL expressions that behave the same on SQLite and PostgreSQL.

Timestamps: PostgreSQL stores ``timestamptz``. SQLite has no timestamp type, so every timestamp is stored as
UTC text in one canonical form, ``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts chronologically as text. Marketers'
plain-SQL inserts are canonicalised by triggers (see the first migration); our own writes go through
``UTCDateTime``; database time comes from ``db_now()`` / ``db_now_plus()``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f','now') || '000')"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; naive datetimes are refused at the boundary."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: postpilot stores instants (use an aware datetime)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)  # stored by SQLAlchemy as canonical UTC text
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a raw value that bypassed the canonical form
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class LenientJSON(TypeDecorator[Any]):
    """JSON that never raises on read: a marketer's malformed JSON comes back as ``InvalidJSON`` so validation
    can fail that one post with a message instead of crashing the daemon on the whole batch."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        # Python None is SQL NULL, as a marketer's INSERT would leave it, never the JSON text 'null' (which
        # ``WHERE media_urls IS NULL`` and COALESCE would both take for a value).
        return dialect.type_descriptor(JSON(none_as_null=True))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        def process(value: Any) -> Any:
            if value is None or not isinstance(value, str | bytes):
                return value
            try:
                return json.loads(value)
            except (ValueError, RecursionError):
                # RecursionError: JSON nested a thousand levels deep, which nothing legitimate writes.
                return InvalidJSON(value if isinstance(value, str) else value.decode(errors="replace"))

        return process


class InvalidJSON(str):
    """Marks text in a JSON column that is not valid JSON."""


class Money(TypeDecorator[float]):
    impl = Float
    cache_ok = True


class db_now(FunctionElement[datetime]):
    """The database's clock: leases and due checks use it, so replicas with skewed clocks agree."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(db_now, "postgresql")
def _pg_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "now()"


@compiles(db_now, "sqlite")
def _sqlite_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return SQLITE_NOW


class db_now_plus(FunctionElement[datetime]):
    """Database time plus a number of seconds (may be negative)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(db_now_plus, "postgresql")
def _pg_now_plus(element: db_now_plus, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"(now() + make_interval(secs => {compiler.process(arg, **kw)}))"


@compiles(db_now_plus, "sqlite")
def _sqlite_now_plus(element: db_now_plus, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    seconds = compiler.process(arg, **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f','now', printf('%+.3f seconds', {seconds})) || '000')"
