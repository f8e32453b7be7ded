"""The claim queries: how a replica takes posts to work on without ever sharing one with another replica.

PostgreSQL: one statement; the CTE locks candidate rows with ``FOR UPDATE SKIP LOCKED`` (rows another replica
is claiming are skipped, not waited for), and ``MATERIALIZED`` keeps the planner from running it twice.
SQLite: the engine opens every transaction with ``BEGIN IMMEDIATE`` (the write lock is held from the first
statement), then one guarded ``UPDATE … WHERE id IN (SELECT … LIMIT n) … RETURNING``.

Leases are written in database time (``now()``), never a replica's clock.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from postpilot.db.types import SQLITE_NOW


def now_sql(dialect: str) -> str:
    return "now()" if dialect == "postgresql" else SQLITE_NOW


def plus_sql(dialect: str, param: str) -> str:
    """Database time + ``:param`` seconds."""
    if dialect == "postgresql":
        return f"(now() + make_interval(secs => :{param}))"
    return f"(strftime('%Y-%m-%d %H:%M:%f','now', printf('%+.3f seconds', :{param})) || '000')"


def lease_free_sql(dialect: str) -> str:
    return f"(lease_until IS NULL OR lease_until < {now_sql(dialect)})"


def claim(conn: Connection, *, where: str, set_: str, params: dict[str, object], batch: int) -> list[int]:
    """Atomically claim up to ``batch`` rows matching ``where`` (oldest ``scheduled_at`` first), applying
    ``set_``; returns the claimed ids. ``where``/``set_`` are fixed SQL fragments written in this package,
    never user input (values travel as bound parameters)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        sql = (
            "WITH due AS MATERIALIZED ("
            f" SELECT id FROM scheduled_posts WHERE {where}"
            " ORDER BY scheduled_at, id LIMIT :batch FOR UPDATE SKIP LOCKED)"
            f" UPDATE scheduled_posts AS p SET {set_} FROM due WHERE p.id = due.id"
            " RETURNING p.id"
        )
    else:
        sql = (
            f"UPDATE scheduled_posts SET {set_} WHERE id IN ("
            f" SELECT id FROM scheduled_posts WHERE {where} ORDER BY scheduled_at, id LIMIT :batch)"
            f" AND {where} RETURNING id"
        )
    rows = conn.execute(text(sql), {**params, "batch": batch}).all()
    return sorted(int(r[0]) for r in rows)


def due_for_prepare_where(dialect: str) -> str:
    """Scheduled posts inside the prepare window, plus preparations whose worker vanished (lease expired)."""
    now = now_sql(dialect)
    return (
        "is_active AND ("
        f"(status = 'scheduled' AND scheduled_at <= {plus_sql(dialect, 'ahead')}"
        f" AND (next_attempt_at IS NULL OR next_attempt_at <= {now}))"
        f" OR (status = 'preparing' AND {lease_free_sql(dialect)}))"
    )


def due_for_stage_where(dialect: str) -> str:
    """Prepared posts inside the stage window that have no container yet and are not due (due posts are
    staged inline by the publish step)."""
    now = now_sql(dialect)
    return (
        "is_active AND status = 'ready' AND container_id IS NULL"
        f" AND scheduled_at <= {plus_sql(dialect, 'ahead')} AND scheduled_at > {now}"
        f" AND {lease_free_sql(dialect)}"
        f" AND (next_attempt_at IS NULL OR next_attempt_at <= {now})"
    )


def due_for_publish_where(dialect: str, *, one: bool = False) -> str:
    now = now_sql(dialect)
    base = (
        f"is_active AND status = 'ready' AND scheduled_at <= {now}"
        f" AND {lease_free_sql(dialect)}"
        f" AND (next_attempt_at IS NULL OR next_attempt_at <= {now})"
    )
    return base + (" AND id = :post_id" if one else "")


def stale_publishing_where(dialect: str) -> str:
    """A publish whose worker died, lost its lease or gave it back: its outcome is unknown and must be
    reconciled. A publishing row without a lease belongs to nobody, so it counts as stale too."""
    return f"status = 'publishing' AND {lease_free_sql(dialect)}"
