"""The approval step: a prepared post that needs a person waits in ``ready`` until approved or rejected.

Waiting is said on the row, in the history and to the notification channels (the outbox, in the same
transaction); a reminder goes out once more shortly before the post is due."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection, case, null, select, update

from postpilot.db import claims, outbox
from postpilot.db.rows import events, post_from_row, posts
from postpilot.db.transitions import Transitions, latest_event_id
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain import lifecycle
from postpilot.domain.edits import approved_content
from postpilot.domain.errors import Conflict
from postpilot.domain.events import EventKind
from postpilot.domain.model import Post, PostStatus
from postpilot.domain.notifications import NoticeKind, post_notice


class Approvals(Transitions):
    def await_approval(self, post_id: int, *, owner: str) -> None:
        """The post is prepared and needs a person: say so on the row, in the history and to the channels."""
        message = f"waiting for approval: run postpilot post approve {post_id} (or post reject {post_id})"
        with self._tx() as conn:
            changed = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.status == PostStatus.READY.value, posts.c.approved_at.is_(None))
                .values(last_error=message, updated_at=db_now())
            ).rowcount
            if not changed:
                return
            self._event(conn, post_id, EventKind.AWAITING_APPROVAL, message=message, actor=owner)
            _tell_approval_needed(conn, post_id, reason=None)

    def approve(self, post_id: int, *, actor: str) -> Post:
        post = self.require_post(post_id)
        if post.status not in (PostStatus.SCHEDULED, PostStatus.PREPARING, PostStatus.READY):
            raise Conflict(f"post {post_id} is {post.status.value}; only a post still to publish can be approved")
        if post.approved_at is not None:
            return post
        with self._tx() as conn:
            # What is approved is the row as it is now, read under the same lock as the update (PostgreSQL),
            # so an edit cannot slip in between: ``withdraw_edited_approval`` compares later rows with it.
            row = conn.execute(select(posts).where(posts.c.id == post_id).with_for_update()).mappings().first()
            seen = approved_content(post_from_row(row)) if row is not None else None
            conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.approved_at.is_(None))
                .values(
                    approved_at=db_now(),
                    approved_by=actor,
                    approved_content=seen,
                    updated_at=db_now(),
                    last_error=case(
                        (posts.c.last_error.like("waiting for approval%"), null()), else_=posts.c.last_error
                    ),
                )
            )
            self._event(conn, post_id, EventKind.APPROVED, message=f"approved by {actor}", actor=actor)
        return self.require_post(post_id)

    def withdraw_edited_approval(
        self, post_id: int, *, owner: str, expected: PostStatus, changed: tuple[str, ...]
    ) -> str | None:
        """A post we hold whose approval no longer covers what it says (``domain.edits.edits_since_approved``):
        the approval goes, the post waits in ``ready`` for a person (its images and container are kept: they
        did not change), and the channels are told, in one transaction. Returns the message, or None when the
        post is no longer ours. Never once a publish was attempted."""
        lifecycle.check([expected], PostStatus.READY)
        names = ", ".join(changed)
        message = (
            f"edited after approval ({names}): waiting for approval again: run postpilot post approve {post_id} "
            f"(or post reject {post_id})"
        )
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(
                    posts.c.id == post_id,
                    posts.c.status == expected.value,
                    posts.c.lease_owner == owner,
                    posts.c.publish_attempted_at.is_(None),
                )
                .values(
                    status=PostStatus.READY.value,
                    approved_at=None,
                    approved_by=None,
                    last_error=message,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=db_now(),
                )
                .returning(posts.c.id)
            ).first()
            if row is None:
                return None
            self._event(
                conn,
                post_id,
                EventKind.AWAITING_APPROVAL,
                from_status=expected.value,
                to_status=PostStatus.READY.value,
                message=message,
                detail={"changed": list(changed)},
                actor=owner,
            )
            _tell_approval_needed(conn, post_id, reason=f"it was edited after approval ({names})")
        return message

    def reject(self, post_id: int, *, actor: str, reason: str) -> Post:
        post = self.require_post(post_id)
        if post.status not in (PostStatus.SCHEDULED, PostStatus.PREPARING, PostStatus.READY, PostStatus.FAILED):
            raise Conflict(f"post {post_id} is {post.status.value}; it can no longer be rejected")
        message = f"rejected by {actor}: {reason}"
        ok = self.transition(
            post_id,
            expected=post.status,
            to=PostStatus.CANCELLED,
            owner=None,
            kind=EventKind.REJECTED,
            message=message,
            values={"last_error": message, "approved_at": None, "approved_by": None},
            actor=actor,
        )
        if not ok:
            raise Conflict(f"post {post_id} changed while rejecting; look at it again")
        return self.require_post(post_id)

    def remind_unapproved(self, *, within_s: float = 900.0) -> int:
        """Prepared posts still waiting for approval and due within ``within_s``: told once more, shortly before
        their time (the first notice came when they were prepared), unless that first notice is itself younger
        than ``within_s``: two messages in the same minute would be one too many. Returns how many reminders
        were queued."""
        queued = 0
        told_lately = (
            select(events.c.id)
            .where(
                events.c.post_id == posts.c.id,
                events.c.kind == EventKind.AWAITING_APPROVAL.value,
                events.c.at > db_now_plus(-within_s),
            )
            .exists()
        )
        with self._tx() as conn:
            rows = conn.execute(
                select(posts.c.id).where(
                    posts.c.status == PostStatus.READY.value,
                    posts.c.is_active,
                    posts.c.approved_at.is_(None),
                    claims.wants_approval().is_(True),
                    posts.c.scheduled_at <= db_now_plus(within_s),
                    posts.c.scheduled_at > db_now(),
                    ~told_lately,
                )
            ).all()
            for (post_id,) in rows:
                facts = outbox.post_facts(conn, int(post_id))
                if facts is None:
                    continue
                notice = post_notice(NoticeKind.APPROVAL, facts, reason="it is due soon", attempt=0, link=None)
                reminder = replace(
                    notice,
                    dedupe_key=f"approval-reminder:post:{post_id}:{facts.scheduled_at:%Y%m%d%H%M}",
                    title=notice.title.replace("is ready and waits for approval", "is due soon and still not approved"),
                )
                queued += outbox.enqueue(conn, reminder)
        return queued


def _tell_approval_needed(conn: Connection, post_id: int, *, reason: str | None) -> None:
    """The approval notice, in the caller's transaction (the outbox), keyed to the event just written so a
    second time the post needs a person is a notice of its own."""
    facts = outbox.post_facts(conn, post_id)
    if facts is not None:
        outbox.enqueue(
            conn,
            post_notice(NoticeKind.APPROVAL, facts, reason=reason, attempt=latest_event_id(conn, post_id), link=None),
        )
