"""Recurring posts: the ``post_series`` rows and their occurrences in ``scheduled_posts``.

Occurrences are created ahead of time (``expand_series``, from the daemon and ``run-once``), each one its own
post. Exactly once, whatever the number of replicas: the unique index on ``(series_id, occurrence_at)``
makes a second insert of the same occurrence do nothing (PostgreSQL ``ON CONFLICT DO NOTHING``, SQLite
``INSERT … ON CONFLICT DO NOTHING``), and on PostgreSQL the series row is locked ``FOR UPDATE SKIP LOCKED``
so a replica skips a series another one is expanding instead of waiting to do nothing.

Editing or cancelling a series changes only the occurrences not yet prepared: ``scheduled``, nothing
prepared and no media made. Prepared ones are left as they are and reported, so a person can decide.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    RowMapping,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    not_,
    null,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from postpilot.db.base import RepoBase
from postpilot.db.models import SeriesRow
from postpilot.db.rows import account_from_row, accounts, media, posts
from postpilot.db.types import db_now
from postpilot.domain import lifecycle
from postpilot.domain.errors import NotFound
from postpilot.domain.events import EventKind
from postpilot.domain.model import ACTIVE_STATUSES, Account, Post, PostStatus, utcnow
from postpilot.domain.recurrence import occurrences, to_instant
from postpilot.domain.series_rules import (
    RULE_FIELDS,
    TEMPLATE_FIELDS,
    Series,
    SeriesChange,
    rule_problems,
    template_problems,
)
from postpilot.logging import get_logger

series_table = cast(Table, SeriesRow.__table__)
log = get_logger("postpilot.series")

# Occurrences exist this far ahead: far enough that a marketer sees the next two weeks in ``post list`` and a
# daemon stopped for days still has them, near enough that editing a series touches few rows.
SERIES_AHEAD_S = 14 * 86_400.0
# A series is expanded again once what exists reaches less than this far past the horizon's start: once a
# day rather than on every five-minute pass.
REFILL_SLACK_S = 86_400.0


def horizon_s(prepare_ahead_s: float) -> float:
    """How far ahead to create occurrences: two weeks, or twice the prepare window if that is longer (a post
    must exist before its preparation is due)."""
    return max(SERIES_AHEAD_S, 2 * prepare_ahead_s)


def _ahead_s(horizon_s: float, account_prepare_ahead_s: int | None) -> float:
    # An account that prepares its posts days ahead needs them to exist before that.
    return max(horizon_s, 2 * float(account_prepare_ahead_s or 0))


def _series_from_row(row: RowMapping) -> Series:
    return Series(
        id=row["id"],
        account_id=row["account_id"],
        template={k: row[k] for k in TEMPLATE_FIELDS},
        rule_values={k: row[k] for k in RULE_FIELDS},
        is_active=bool(row["is_active"]),
        cancelled_at=row["cancelled_at"],
        expanded_through=row["expanded_through"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


def not_prepared() -> ColumnElement[bool]:
    """An occurrence a series edit may still change: scheduled, nothing prepared, no media made."""
    return and_(
        posts.c.status == PostStatus.SCHEDULED.value,
        posts.c.prepared_content.is_(None),
        not_(exists().where(media.c.post_id == posts.c.id)),
    )


class SeriesRecords(RepoBase):
    # ------------------------------------------------------------------ reading
    def series(self, series_id: int) -> Series | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(series_table).where(series_table.c.id == series_id)).mappings().first()
            return _series_from_row(row) if row else None

    def require_series(self, series_id: int) -> Series:
        found = self.series(series_id)
        if found is None:
            raise NotFound(f"no series with id {series_id} (see postpilot series list)")
        return found

    def list_series(self, *, account_id: int | None = None) -> list[Series]:
        query = select(series_table).order_by(series_table.c.id)
        if account_id is not None:
            query = query.where(series_table.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [_series_from_row(r) for r in conn.execute(query).mappings()]

    def series_posts(self, series_id: int) -> list[tuple[datetime | None, Post]]:
        """The series' posts so far, each with the instant its rule gave it (``post edit`` may have moved the
        post's own ``scheduled_at``), in the rule's order."""
        from postpilot.db.rows import post_from_row

        query = select(posts).where(posts.c.series_id == series_id).order_by(posts.c.occurrence_at, posts.c.id)
        with self.engine.connect() as conn:
            return [(r["occurrence_at"], post_from_row(r)) for r in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ writing
    def add_series(self, values: dict[str, Any], *, actor: str = "cli") -> int:
        """A new series (checked by the caller: ``domain.series_rules.check_series``)."""
        allowed = {"account_id", *TEMPLATE_FIELDS, *RULE_FIELDS}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not series fields: {sorted(unknown)}")
        clean = {k: v for k, v in values.items() if v is not None}
        with self._tx() as conn:
            series_id = int(
                conn.execute(insert(series_table).values(**clean).returning(series_table.c.id)).scalar_one()
            )
        log.info("series_added", series_id=series_id, actor=actor)
        return series_id

    def expand_series(
        self, *, horizon_s: float = SERIES_AHEAD_S, series_id: int | None = None, now: datetime | None = None
    ) -> list[int]:
        """Create the occurrences of every active series up to ``horizon_s`` ahead, one transaction per series;
        returns the new posts' ids. Safe to run from any number of replicas at once."""
        now = now or utcnow()
        slack = timedelta(seconds=min(REFILL_SLACK_S, horizon_s / 2))
        query = (
            select(series_table.c.id, series_table.c.expanded_through, accounts.c.prepare_ahead_s)
            .join(accounts, accounts.c.id == series_table.c.account_id)
            .where(series_table.c.is_active.is_(True), series_table.c.cancelled_at.is_(None))
            .order_by(series_table.c.id)
        )
        if series_id is not None:
            query = query.where(series_table.c.id == series_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        # Only the series whose occurrences reach less far than their horizon (minus a day's slack) are looked at
        # in a transaction of their own: one small read per pass when nothing is due.
        candidates = [
            int(r[0]) for r in rows if r[1] is None or r[1] < now + timedelta(seconds=_ahead_s(horizon_s, r[2])) - slack
        ]
        created: list[int] = []
        for candidate in candidates:
            with self._tx() as conn:
                created += self._expand_one(conn, candidate, now=now, horizon_s=horizon_s)
        return created

    def _lock_series(self, conn: Connection, series_id: int, *, skip_locked: bool) -> RowMapping | None:
        query = select(series_table).where(series_table.c.id == series_id)
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=skip_locked)
        return conn.execute(query).mappings().first()

    def _expand_one(self, conn: Connection, series_id: int, *, now: datetime, horizon_s: float) -> list[int]:
        row = self._lock_series(conn, series_id, skip_locked=True)
        if row is None or not row["is_active"] or row["cancelled_at"] is not None:
            return []  # another replica holds it (it is expanding it now), or it changed meanwhile
        found = _series_from_row(row)
        account_row = conn.execute(select(accounts).where(accounts.c.id == found.account_id)).mappings().first()
        account = account_from_row(account_row) if account_row else None
        rule, problems = rule_problems(found.rule_values, default_zone=account.time_zone if account else "UTC")
        problems += template_problems(found.template, rule, None)
        if problems or rule is None:
            message = "; ".join(problems)
            if message != found.last_error:
                conn.execute(update(series_table).where(series_table.c.id == series_id).values(last_error=message))
                log.warning("series_not_expanded", series_id=series_id, error=message[:300])
            return []
        through = now + timedelta(seconds=_ahead_s(horizon_s, account.prepare_ahead_s if account else None))
        after = max(found.expanded_through or now, now)
        # "N times in all" counts the posts the series made, also under an earlier rule (``edit_series``).
        room = None
        if rule.max_count is not None:
            made = conn.execute(select(func.count()).where(posts.c.series_id == series_id)).scalar_one()
            room = rule.max_count - int(made)
        created: list[int] = []
        for occurrence in occurrences(rule, after=after, through=through):
            if room is not None and len(created) >= room:
                break
            post_id = self._insert_occurrence(conn, found, occurrence.at, occurrence.number)
            if post_id is not None:
                created.append(post_id)
        conn.execute(
            update(series_table)
            .where(series_table.c.id == series_id)
            .values(expanded_through=max(through, found.expanded_through or through), last_error=None)
        )
        if created:
            log.info("series_expanded", series_id=series_id, created=len(created))
        return created

    def _insert_occurrence(self, conn: Connection, found: Series, at: datetime, number: int) -> int | None:
        values = {k: v for k, v in found.template.items() if v is not None}
        values.update(account_id=found.account_id, scheduled_at=at, series_id=found.id, occurrence_at=at)
        # Imported here: only the database in use needs its dialect's module (the other one costs memory).
        statement: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            statement = postgresql.insert(posts).on_conflict_do_nothing(index_elements=["series_id", "occurrence_at"])
        else:
            from sqlalchemy.dialects import sqlite

            statement = sqlite.insert(posts).on_conflict_do_nothing(index_elements=["series_id", "occurrence_at"])
        statement = statement.values(**values).returning(posts.c.id)
        post_id = conn.execute(statement).scalar()
        if post_id is None:
            return None  # it exists already: another replica, or an earlier pass, made it
        self._event(
            conn,
            int(post_id),
            EventKind.CREATED,
            to_status=PostStatus.SCHEDULED.value,
            message=f"occurrence {number} of series {found.id}",
            actor=f"series:{found.id}",
        )
        return int(post_id)

    def edit_series(
        self,
        series_id: int,
        values: dict[str, Any],
        *,
        actor: str = "cli",
        now: datetime | None = None,
        horizon_s: float = SERIES_AHEAD_S,
    ) -> SeriesChange:
        """Change the template or the rule (checked by the caller). The occurrences not yet prepared follow:
        new content is written into them; those a new rule no longer has are removed, and the new times are
        created at once. Prepared ones are left as they are (``SeriesChange.left``)."""
        now = now or utcnow()
        unknown = set(values) - {*TEMPLATE_FIELDS, *RULE_FIELDS}
        if unknown:
            raise ValueError(f"not series fields: {sorted(unknown)}")
        template = {k: v for k, v in values.items() if k in TEMPLATE_FIELDS}
        rule_changed = any(k in RULE_FIELDS for k in values)
        changed: list[int] = []
        removed: list[int] = []
        with self._tx() as conn:
            row = self._lock_series(conn, series_id, skip_locked=False)
            if row is None:
                raise NotFound(f"no series with id {series_id} (see postpilot series list)")
            conn.execute(
                update(series_table)
                .where(series_table.c.id == series_id)
                .values(updated_at=db_now(), last_error=None, **values)
            )
            edited = _series_from_row(self._lock_series(conn, series_id, skip_locked=False) or row)
            mine = and_(posts.c.series_id == series_id, not_prepared())
            if rule_changed:
                account_row = conn.execute(select(accounts).where(accounts.c.id == edited.account_id)).mappings().one()
                account = account_from_row(account_row)
                removed = self._remove_not_in_rule(conn, edited, account, mine)
                conn.execute(
                    update(series_table)
                    .where(series_table.c.id == series_id)
                    .values(expanded_through=self._resume_after(conn, edited, account))
                )
            if template:
                # SQL NULL, not JSON null, for a cleared JSON column (as ``post edit`` writes it).
                cleaned = {k: (null() if v is None else v) for k, v in template.items()}
                changed = [
                    int(r[0])
                    for r in conn.execute(
                        update(posts).where(mine).values(updated_at=db_now(), **cleaned).returning(posts.c.id)
                    )
                ]
                for post_id in changed:
                    self._event(
                        conn,
                        post_id,
                        EventKind.EDITED,
                        message=f"series {series_id} edited by {actor}: {', '.join(sorted(template))}",
                        detail={"changed": sorted(template), "series_id": series_id},
                        actor=actor,
                    )
            left = self._left_prepared(conn, series_id)
        created = self.expand_series(series_id=series_id, now=now, horizon_s=horizon_s) if rule_changed else []
        return SeriesChange(changed=changed, removed=removed, created=created, left=left)

    def _resume_after(self, conn: Connection, edited: Series, account: Account) -> datetime | None:
        """Where a new rule takes over: after the local day of the last occurrence already prepared (which
        stays), so moving 09:00 to 12:15 never puts two posts on that day; from now when none is prepared.
        What the new rule has that exists already is recognised by the unique index."""
        rule = edited.rule(account.time_zone)
        latest = conn.execute(
            select(func.max(posts.c.occurrence_at)).where(
                posts.c.series_id == edited.id,
                posts.c.status.in_([s.value for s in ACTIVE_STATUSES]),
                not_(not_prepared()),
            )
        ).scalar()
        if latest is None or rule is None:
            return None
        zone = ZoneInfo(rule.time_zone)
        next_day = latest.astimezone(zone).date() + timedelta(days=1)
        return to_instant(next_day, time(0, 0), zone) - timedelta(microseconds=1)

    def _remove_not_in_rule(
        self, conn: Connection, edited: Series, account: Account, mine: ColumnElement[bool]
    ) -> list[int]:
        rule = edited.rule(account.time_zone)
        pending = {int(r[0]): r[1] for r in conn.execute(select(posts.c.id, posts.c.occurrence_at).where(mine))}
        times = [at for at in pending.values() if at is not None]
        if rule is None or not times:
            return []
        keep = {o.at for o in occurrences(rule, after=min(times) - timedelta(microseconds=1), through=max(times))}
        gone = sorted(post_id for post_id, at in pending.items() if at not in keep)
        if gone:
            # Never prepared, so nothing was made or paid for them: they go, and the unique index is free for
            # the new rule's times.
            conn.execute(delete(posts).where(posts.c.id.in_(gone)))
        return gone

    def _left_prepared(self, conn: Connection, series_id: int) -> list[int]:
        rows = conn.execute(
            select(posts.c.id).where(
                posts.c.series_id == series_id,
                posts.c.status.in_([s.value for s in ACTIVE_STATUSES]),
                not_(not_prepared()),
            )
        )
        return sorted(int(r[0]) for r in rows)

    def cancel_series(self, series_id: int, *, actor: str = "cli") -> SeriesChange:
        """No more occurrences; the ones not yet prepared are cancelled (kept, with the reason), the prepared
        ones are left to publish unless a person cancels them (``post cancel``)."""
        lifecycle.check([PostStatus.SCHEDULED], PostStatus.CANCELLED)
        message = f"series {series_id} cancelled by {actor}"
        with self._tx() as conn:
            row = self._lock_series(conn, series_id, skip_locked=False)
            if row is None:
                raise NotFound(f"no series with id {series_id} (see postpilot series list)")
            conn.execute(
                update(series_table)
                .where(series_table.c.id == series_id)
                .values(is_active=False, cancelled_at=row["cancelled_at"] or db_now(), updated_at=db_now())
            )
            cancelled = [
                int(r[0])
                for r in conn.execute(
                    update(posts)
                    .where(posts.c.series_id == series_id, not_prepared())
                    .values(status=PostStatus.CANCELLED.value, last_error=message, updated_at=db_now())
                    .returning(posts.c.id)
                )
            ]
            for post_id in cancelled:
                self._event(
                    conn,
                    post_id,
                    EventKind.CANCELLED,
                    from_status=PostStatus.SCHEDULED.value,
                    to_status=PostStatus.CANCELLED.value,
                    message=message,
                    actor=actor,
                )
            left = self._left_prepared(conn, series_id)
        return SeriesChange(changed=sorted(cancelled), left=left)
