"""The claim queries: how a replica takes posts to work on without ever sharing one with another replica.

PostgreSQL: one statement; the CTE locks candidate rows with ``FOR UPDATE SKIP LOCKED`` (rows another replica
is claiming are skipped, not waited for), and ``MATERIALIZED`` keeps the planner from running it twice.
SQLite: the engine opens every transaction with ``BEGIN IMMEDIATE`` (the write lock is held from the first
statement), then one guarded ``UPDATE … WHERE id IN (SELECT … LIMIT n) AND <the same condition> RETURNING``.

Written as SQLAlchemy Core expressions; leases and due checks are in database time (``db_now``), never a
replica's clock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Table,
    Update,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    update,
)

from postpilot.db.rows import accounts, posts, workers
from postpilot.db.types import db_now, db_now_plus
from postpilot.db.workers import DEAD_AFTER_S

Condition = ColumnElement[bool]


def lease_free(table: Table = posts) -> Condition:
    """No lease, an expired one, or one whose holder stopped beating (``db/workers.py``: dead within seconds
    rather than at the end of a minutes-long lease). A holder without a worker row counts by its lease only.
    ``table``: any table with ``lease_owner`` and ``lease_until`` (posts, the notification outbox)."""
    dead_holders = select(workers.c.owner).where(workers.c.heartbeat_at < db_now_plus(-DEAD_AFTER_S))
    return or_(
        table.c.lease_until.is_(None),
        table.c.lease_until < db_now(),
        table.c.lease_owner.in_(dead_holders),
    )


def _not_deferred() -> Condition:
    return or_(posts.c.next_attempt_at.is_(None), posts.c.next_attempt_at <= db_now())


def claim_statement(
    dialect: str, *, where: Condition, values: dict[str, Any], batch: int, table: Table = posts, oldest: str = ""
) -> Update:
    """The one statement that claims up to ``batch`` rows of ``table`` matching ``where`` (oldest first: by
    ``scheduled_at`` for posts, or the ``oldest`` column), applying ``values`` and returning the ids (``bench/``
    EXPLAINs this very statement)."""
    first = table.c[oldest or "scheduled_at"]
    candidates = select(table.c.id).where(where).order_by(first, table.c.id).limit(batch)
    if dialect == "postgresql":
        due = candidates.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        statement = update(table).where(table.c.id == due.c.id)
    else:
        statement = update(table).where(table.c.id.in_(candidates), where)
    return statement.values(**values).returning(table.c.id)


def claim(conn: Connection, *, where: Condition, values: dict[str, Any], batch: int) -> list[int]:
    """Atomically claim up to ``batch`` rows matching ``where``; returns the claimed ids."""
    rows = conn.execute(claim_statement(conn.dialect.name, where=where, values=values, batch=batch)).all()
    return sorted(int(r[0]) for r in rows)


def prepare_window(ahead_s: float) -> Condition:
    """Inside the post's prepare window: its account's ``prepare_ahead_s``, or else ``ahead_s``. The widest
    window of any account bounds ``scheduled_at`` first (one uncorrelated subquery, evaluated once), so the
    scheduled_at index still narrows the scan to the next hours."""
    own = select(accounts.c.prepare_ahead_s).where(accounts.c.id == posts.c.account_id).scalar_subquery()
    widest = select(func.max(accounts.c.prepare_ahead_s)).scalar_subquery()
    bound = case((widest > ahead_s, widest), else_=literal(ahead_s))
    # Without any account window (the usual case) the per-row look at the account is never made.
    window = case((widest.is_(None), literal(ahead_s)), else_=func.coalesce(own, ahead_s))
    return and_(
        posts.c.scheduled_at <= db_now_plus(cast(bound, Float)),
        posts.c.scheduled_at <= db_now_plus(cast(window, Float)),
    )


def due_for_prepare(ahead_s: float) -> Condition:
    """Scheduled posts inside their prepare window, plus preparations whose worker vanished (lease expired)."""
    return and_(
        posts.c.is_active,
        or_(
            and_(posts.c.status == "scheduled", prepare_window(ahead_s), _not_deferred()),
            and_(posts.c.status == "preparing", lease_free()),
        ),
    )


def wants_approval() -> ColumnElement[Any]:
    """The post's own ``requires_approval``, or else its account's (true or false)."""
    account_wants = select(accounts.c.require_approval).where(accounts.c.id == posts.c.account_id).scalar_subquery()
    return func.coalesce(posts.c.requires_approval, account_wants)


def approval_ok() -> Condition:
    """Approved, or not in need of it."""
    return or_(posts.c.approved_at.is_not(None), wants_approval().is_(False))


def prepare_now(post_ids: list[int] | None, within_s: float | None) -> Condition:
    """``post prepare``: scheduled posts named, or due within ``within_s``, whatever the prepare window says."""
    chosen = posts.c.id.in_(post_ids) if post_ids else posts.c.scheduled_at <= db_now_plus(within_s or 0.0)
    return and_(posts.c.is_active, posts.c.status == "scheduled", chosen, lease_free())


def due_for_stage(ahead_s: float) -> Condition:
    """Prepared posts inside the stage window that have no container yet and are not due (due posts are
    staged inline by the publish step)."""
    return and_(
        posts.c.is_active,
        posts.c.status == "ready",
        posts.c.container_id.is_(None),
        posts.c.scheduled_at <= db_now_plus(ahead_s),
        posts.c.scheduled_at > db_now(),
        lease_free(),
        _not_deferred(),
        approval_ok(),
    )


def due_for_publish(post_id: int | None = None) -> Condition:
    due = and_(
        posts.c.is_active,
        posts.c.status == "ready",
        posts.c.scheduled_at <= db_now(),
        lease_free(),
        _not_deferred(),
        approval_ok(),
    )
    return due if post_id is None else and_(due, posts.c.id == post_id)


def stale_publishing() -> Condition:
    """A publish whose worker died, lost its lease or gave it back: its outcome is unknown and must be
    reconciled. A publishing row without a lease belongs to nobody, so it counts as stale too."""
    return and_(posts.c.status == "publishing", lease_free())


def missed(max_lateness_s: float) -> Condition:
    """Posts more than ``max_lateness_s`` late that never started publishing."""
    return and_(
        posts.c.status.in_(["scheduled", "preparing", "ready"]),
        posts.c.is_active,
        posts.c.scheduled_at < db_now_plus(-max_lateness_s),
        lease_free(),
    )
