"""The first comment's own bookkeeping (issue 16): posted after the post is live, claimed with a lease like any
work (so one replica posts it), retried on its own schedule, and never a change of the post's status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, update

from postpilot.db import claims
from postpilot.db.leases import Leases
from postpilot.db.rows import posts
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain.errors import Conflict
from postpilot.domain.events import EventKind
from postpilot.domain.model import Post, PostStatus
from postpilot.domain.publish_options import FIRST_COMMENT_MAX_ATTEMPTS


def _first_comment_due(post_id: int | None) -> claims.Condition:
    due = and_(
        posts.c.status.in_([PostStatus.PUBLISHED.value, PostStatus.SIMULATED.value]),
        posts.c.ig_media_id.is_not(None),
        posts.c.first_comment.is_not(None),
        func.length(func.trim(posts.c.first_comment)) > 0,
        posts.c.first_comment_id.is_(None),
        posts.c.first_comment_attempts < FIRST_COMMENT_MAX_ATTEMPTS,
        or_(posts.c.first_comment_next_at.is_(None), posts.c.first_comment_next_at <= db_now()),
        claims.lease_free(),
    )
    return due if post_id is None else and_(due, posts.c.id == post_id)


class FirstComments(Leases):
    def claim_first_comments(
        self, *, owner: str, lease_s: float, batch: int = 10, post_id: int | None = None
    ) -> list[Post]:
        """Live posts whose first comment is still to be posted (and due for a try)."""
        return self._claim(
            where=_first_comment_due(post_id),
            values={"lease_owner": owner, "lease_until": db_now_plus(lease_s), "updated_at": db_now()},
            batch=batch,
            owner=owner,
            from_status=None,
            to_status=None,
            kind=None,
        )

    def first_comment_posted(self, post_id: int, *, owner: str, comment_id: str, found: bool) -> bool:
        """``found``: it was already there (a crash after Instagram made it), so it was not posted again."""
        with self._tx() as conn:
            done = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.lease_owner == owner, posts.c.first_comment_id.is_(None))
                .values(
                    first_comment_id=comment_id,
                    first_comment_error=None,
                    first_comment_next_at=None,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=db_now(),
                )
            ).rowcount
            if done:
                message = (
                    "the first comment was already on the post (found after an interruption)"
                    if found
                    else "the first comment is posted"
                )
                self._event(
                    conn,
                    post_id,
                    EventKind.FIRST_COMMENT,
                    message=message,
                    detail={"comment_id": comment_id},
                    actor=owner,
                )
            return bool(done)

    def first_comment_failed(self, post_id: int, *, owner: str, error: str, retry_in_s: float | None) -> None:
        """A failed try: retried after ``retry_in_s``, or given up (None). The post itself is untouched."""
        gave_up = f"{error} (given up; postpilot post comment-retry {post_id} tries again)"
        with self._tx() as conn:
            values: dict[str, Any] = {
                "first_comment_error": error if retry_in_s is not None else gave_up,
                "first_comment_attempts": posts.c.first_comment_attempts + 1,
                "first_comment_next_at": db_now_plus(retry_in_s) if retry_in_s is not None else None,
                "lease_owner": None,
                "lease_until": None,
                "updated_at": db_now(),
            }
            if retry_in_s is None:
                values["first_comment_attempts"] = FIRST_COMMENT_MAX_ATTEMPTS
            done = conn.execute(
                update(posts).where(posts.c.id == post_id, posts.c.lease_owner == owner).values(**values)
            ).rowcount
            if done:
                when = "given up" if retry_in_s is None else f"tried again in {retry_in_s:.0f} s"
                self._event(conn, post_id, EventKind.FIRST_COMMENT_FAILED, message=f"{error} ({when})", actor=owner)

    def retry_first_comment(self, post_id: int, *, actor: str) -> Post:
        """``post comment-retry``: a given-up (or failing) first comment is tried again at once."""
        post = self.require_post(post_id)
        if not (post.first_comment or "").strip():
            raise Conflict(f"post {post_id} has no first_comment")
        if post.first_comment_id:
            raise Conflict(f"post {post_id}'s first comment is already posted (comment {post.first_comment_id})")
        with self._tx() as conn:
            conn.execute(
                update(posts)
                .where(posts.c.id == post_id)
                .values(first_comment_attempts=0, first_comment_next_at=None, updated_at=db_now())
            )
            self._event(conn, post_id, EventKind.RETRY, message="first comment: tried again", actor=actor)
        return self.require_post(post_id)
