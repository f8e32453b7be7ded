"""Claims and leases: how a replica takes posts to work on without ever sharing one with another replica,
and gives them back. The claim queries themselves are in ``db/claims.py``; leases are in database time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, insert, literal, select, update

from postpilot.db import claims, outbox
from postpilot.db.posts import PostRecords
from postpilot.db.rows import events, post_from_row, posts
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain.events import EventKind
from postpilot.domain.model import Post, PostStatus
from postpilot.domain.notifications import NoticeKind, post_notice
from postpilot.logging import get_logger

log = get_logger("postpilot.db")


class Leases(PostRecords):
    def _claim(
        self,
        *,
        where: ColumnElement[bool],
        values: dict[str, Any],
        batch: int,
        owner: str,
        from_status: str | None,
        to_status: str | None,
        kind: EventKind | None,
    ) -> list[Post]:
        with self._tx() as conn:
            ids = claims.claim(conn, where=where, values=values, batch=batch)
            if ids and kind:
                conn.execute(
                    insert(events),
                    [
                        {
                            "post_id": i,
                            "kind": kind.value,
                            "from_status": from_status,
                            "to_status": to_status,
                            "actor": owner,
                            "message": None,
                            "detail": None,
                        }
                        for i in ids
                    ],
                )
            if not ids:
                return []
            try:
                rows = conn.execute(select(posts).where(posts.c.id.in_(ids)).order_by(posts.c.scheduled_at))
                return [post_from_row(r) for r in rows.mappings()]
            except Exception as exc:  # a row the database let in but Python cannot read (the claim stands)
                log.warning("claimed_rows_unreadable", count=len(ids), error=type(exc).__name__)
        readable: list[Post] = []
        # Outside the claim's transaction, which the failed read may have spoilt: one row at a time, so a row
        # that cannot be read is set aside with the column that is wrong and the others go on.
        for post_id in ids:
            post = self._read_or_set_aside(post_id, owner=owner)
            if post is not None:
                readable.append(post)
        return sorted(readable, key=lambda p: (p.scheduled_at, p.id))

    def _read_or_set_aside(self, post_id: int, *, owner: str) -> Post | None:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(posts).where(posts.c.id == post_id)).mappings().one()
                return post_from_row(row)
        except Exception as exc:  # what is wrong is found and said below
            problem = self.unreadable_column(post_id) or f"the row could not be read ({type(exc).__name__})"
        message = _held_message(post_id, problem)
        with self._tx() as conn:
            # A post that may be live (a publish was attempted) goes to a person rather than to failed.
            held = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.lease_owner == owner)
                .values(
                    status=case(
                        (posts.c.publish_attempted_at.is_not(None), literal(PostStatus.UNCONFIRMED.value)),
                        else_=literal(PostStatus.FAILED.value),
                    ),
                    last_error=message,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=db_now(),
                )
            )
            if held.rowcount:
                self._event(conn, post_id, EventKind.FAILED, message=message, actor=owner)
        log.warning("unreadable_post_set_aside", post_id=post_id, problem=problem)
        return None

    @staticmethod
    def _lease(owner: str, lease_s: float, status: PostStatus | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {"lease_owner": owner, "lease_until": db_now_plus(lease_s), "updated_at": db_now()}
        if status is not None:
            values["status"] = status.value
        return values

    def claim_for_prepare(self, *, owner: str, ahead_s: float, lease_s: float, batch: int) -> list[Post]:
        return self._claim(
            where=claims.due_for_prepare(ahead_s),
            values=self._lease(owner, lease_s, PostStatus.PREPARING),
            batch=batch,
            owner=owner,
            from_status="scheduled",
            to_status="preparing",
            kind=EventKind.CLAIMED,
        )

    def claim_to_prepare_now(
        self, *, owner: str, lease_s: float, post_ids: list[int] | None = None, within_s: float | None = None
    ) -> list[Post]:
        """Posts a person asked to prepare now (``post prepare``), days before their window."""
        return self._claim(
            where=claims.prepare_now(post_ids, within_s),
            values=self._lease(owner, lease_s, PostStatus.PREPARING),
            batch=1000,
            owner=owner,
            from_status="scheduled",
            to_status="preparing",
            kind=EventKind.CLAIMED,
        )

    def claim_for_stage(self, *, owner: str, ahead_s: float, lease_s: float, batch: int) -> list[Post]:
        return self._claim(
            where=claims.due_for_stage(ahead_s),
            values=self._lease(owner, lease_s),
            batch=batch,
            owner=owner,
            from_status=None,
            to_status=None,
            kind=None,
        )

    def claim_for_publish(self, *, owner: str, lease_s: float, batch: int, post_id: int | None = None) -> list[Post]:
        return self._claim(
            where=claims.due_for_publish(post_id),
            values=self._lease(owner, lease_s, PostStatus.PUBLISHING),
            batch=batch,
            owner=owner,
            from_status="ready",
            to_status="publishing",
            kind=EventKind.CLAIMED,
        )

    def claim_stale_publishing(self, *, owner: str, lease_s: float, batch: int) -> list[Post]:
        return self._claim(
            where=claims.stale_publishing(),
            values=self._lease(owner, lease_s),
            batch=batch,
            owner=owner,
            from_status="publishing",
            to_status="publishing",
            kind=EventKind.RECONCILE,
        )

    def renew_leases(self, post_ids: Sequence[int], *, owner: str, lease_s: float) -> int:
        if not post_ids:
            return 0
        with self._tx() as conn:
            result = conn.execute(
                update(posts)
                .where(posts.c.id.in_(list(post_ids)), posts.c.lease_owner == owner)
                .values(lease_until=db_now_plus(lease_s))
            )
            return result.rowcount

    def upcoming_ready(self, *, within_s: float, limit: int = 1000) -> list[tuple[int, datetime]]:
        """Prepared posts due within ``within_s`` seconds: each replica schedules a precise publish job for
        them; the claim at that instant decides which replica publishes."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posts.c.id, posts.c.scheduled_at)
                .where(
                    posts.c.status == "ready",
                    posts.c.is_active,
                    posts.c.scheduled_at <= db_now_plus(within_s),
                    posts.c.scheduled_at > db_now(),
                )
                .order_by(posts.c.scheduled_at)
                .limit(limit)
            ).all()
            return [(int(r[0]), r[1]) for r in rows]

    def unclaim(self, post_id: int, *, owner: str, status: PostStatus) -> bool:
        """Give back a claimed post whose work never started (shutdown): back to the status it was claimed from.
        A post with a publish attempt on record cannot go back to ready (it may be live): it keeps its status
        and only loses the lease, so a reconcile picks it up."""
        back = {PostStatus.PREPARING: PostStatus.SCHEDULED, PostStatus.PUBLISHING: PostStatus.READY}.get(status)
        if back is None:
            return self.release_lease(post_id, owner=owner)
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(
                    posts.c.id == post_id,
                    posts.c.status == status.value,
                    posts.c.lease_owner == owner,
                    posts.c.publish_attempted_at.is_(None),
                )
                .values(status=back.value, lease_owner=None, lease_until=None, updated_at=db_now())
                .returning(posts.c.id)
            ).first()
            if row is None:
                released = conn.execute(
                    update(posts)
                    .where(posts.c.id == post_id, posts.c.status == status.value, posts.c.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )
                return released.rowcount == 1
            self._event(
                conn,
                post_id,
                EventKind.RELEASED,
                from_status=status.value,
                to_status=back.value,
                message="work not started before shutdown",
                actor=owner,
            )
            return True

    def release_lease(self, post_id: int, *, owner: str, delay_s: float = 0.0) -> bool:
        """Give a post back without changing its status (used after staging and on shutdown)."""
        with self._tx() as conn:
            result = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=db_now_plus(delay_s) if delay_s else None)
            )
            return result.rowcount == 1

    def fail_missed(self, *, max_lateness_s: float, batch: int = 500) -> list[int]:
        """Posts more than ``max_lateness_s`` late that never started publishing are failed as missed:
        publishing a post a day late would surprise everyone. ``publishing`` rows are never touched here:
        they may be live and are reconciled instead."""
        message = "missed: it was not published within the allowed lateness"
        last_error = case(
            (posts.c.last_error.is_(None), literal(message)),
            else_=literal(message) + " (last problem: " + posts.c.last_error + ")",
        )
        values = {
            "status": PostStatus.FAILED.value,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": db_now(),
            "last_error": last_error,
        }
        unreadable: list[int] = []
        with self._tx() as conn:
            ids = claims.claim(conn, where=claims.missed(max_lateness_s), values=values, batch=batch)
            if ids:
                conn.execute(
                    insert(events),
                    [
                        {
                            "post_id": i,
                            "kind": EventKind.MISSED.value,
                            "from_status": None,
                            "to_status": "failed",
                            "message": message,
                            "detail": None,
                            "actor": None,
                        }
                        for i in ids
                    ],
                )
                for i in ids:  # told in the same transaction (the outbox)
                    try:
                        facts = outbox.post_facts(conn, i)
                    except Exception:  # its time cannot be read (Python's side: the transaction is intact)
                        unreadable.append(i)
                        continue
                    if facts is not None:
                        outbox.enqueue(conn, post_notice(NoticeKind.MISSED, facts, reason=None, attempt=0, link=None))
        for post_id in unreadable:
            self._say_unreadable(post_id)
        return ids

    def _say_unreadable(self, post_id: int) -> None:
        """A post failed as missed whose row cannot be read (a time out of range, written around the guards):
        its ``last_error`` says which column is wrong instead of "missed", which was not the reason."""
        problem = self.unreadable_column(post_id) or "the row could not be read"
        message = _held_message(post_id, problem)
        with self._tx() as conn:
            conn.execute(update(posts).where(posts.c.id == post_id).values(last_error=message, updated_at=db_now()))
            self._event(conn, post_id, EventKind.FAILED, message=message, actor=None)
        log.warning("unreadable_post_set_aside", post_id=post_id, problem=problem)


def _held_message(post_id: int, problem: str) -> str:
    """``last_error`` of a post set aside because its row cannot be read (``problem`` names the column)."""
    return f"{problem}; the post is held: correct the row, then run postpilot post retry {post_id}"
