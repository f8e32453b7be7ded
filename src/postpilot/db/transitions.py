"""Guarded transitions: the only way a post's status changes. Each is one ``UPDATE … WHERE id = :id AND
status IN (:expected) [AND lease_owner = :me]`` plus its event, refused by ``domain.lifecycle`` when the
table has no such transition. A guarded update that matches no row means another actor (a replica, a
marketer's cancel) got there first: the caller stops touching that post.

These are the changes the pipeline makes to posts it holds; a person's actions (``db/actions.py``) and the
approval step (``db/approval.py``) are built on ``transition``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, null, select, update

from postpilot.db import outbox
from postpilot.db.changes import clears_containers, column_values
from postpilot.db.posts import PostRecords
from postpilot.db.rows import channels, container_rule, events, media, posts
from postpilot.db.types import db_now
from postpilot.domain import lifecycle
from postpilot.domain.changes import PostChange
from postpilot.domain.events import EventKind
from postpilot.domain.model import PostStatus
from postpilot.domain.notifications import NoticeKind, post_notice


class Transitions(PostRecords):
    # Whether a live post is worth a notification for every account (POSTPILOT_NOTIFY_PUBLISHED; set by the
    # composition root). An account's own channel can also ask for it.
    notify_published: bool = False

    def transition(
        self,
        post_id: int,
        *,
        expected: PostStatus | Sequence[PostStatus],
        to: PostStatus,
        owner: str | None,
        kind: EventKind | str,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        change: PostChange | None = None,
        values: dict[str, Any] | None = None,
        release: bool = True,
        actor: str | None = None,
    ) -> bool:
        """Move a post from ``expected`` to ``to`` if it is still there (and still ours when ``owner``
        is given), applying ``change``. Returns False when the guard did not match: someone else owns the
        post now. ``values`` is for this package's own marketer actions (retry); the pipeline sends changes."""
        expected_list = [expected] if isinstance(expected, PostStatus) else list(expected)
        lifecycle.check(expected_list, to)
        if change is not None:
            values = {**column_values(change), **(values or {})}
        conditions = [posts.c.id == post_id, posts.c.status.in_([s.value for s in expected_list])]
        if owner is not None:
            conditions.append(posts.c.lease_owner == owner)
        new_values: dict[str, Any] = {"status": to.value, "updated_at": db_now(), **container_rule(values or {})}
        if release:
            new_values.update(lease_owner=None, lease_until=None)
        with self._tx() as conn:
            row = conn.execute(
                update(posts).where(and_(*conditions)).values(**new_values).returning(posts.c.status)
            ).first()
            if row is None:
                return False
            if change is not None and clears_containers(change):
                conn.execute(update(media).where(media.c.post_id == post_id).values(container_id=None))
            from_status = expected_list[0].value if len(expected_list) == 1 else None
            self._event(
                conn,
                post_id,
                kind,
                from_status=from_status,
                to_status=to.value,
                message=message,
                detail=detail,
                actor=actor or owner,
            )
            self._notify_transition(conn, post_id, to, message=message, detail=detail)
            return True

    def _notify_transition(
        self,
        conn: Connection,
        post_id: int,
        to: PostStatus,
        *,
        message: str | None,
        detail: dict[str, Any] | None,
    ) -> None:
        """The notification a status change causes, in the same transaction (the outbox: never lost)."""
        kind = {
            PostStatus.FAILED: NoticeKind.FAILED,
            PostStatus.UNCONFIRMED: NoticeKind.UNCONFIRMED,
            PostStatus.PUBLISHED: NoticeKind.PUBLISHED,
        }.get(to)
        if kind is None:
            return
        # Most deployments want no word of a live post: decide that first, so publishing pays one cheap query.
        if kind is NoticeKind.PUBLISHED and not self._wants_published(conn, post_id):
            return
        facts = outbox.post_facts(conn, post_id)
        if facts is None:
            return
        link = (detail or {}).get("permalink") if kind is NoticeKind.PUBLISHED else None
        outbox.enqueue(
            conn,
            post_notice(kind, facts, reason=message, attempt=latest_event_id(conn, post_id), link=link or None),
        )

    def _wants_published(self, conn: Connection, post_id: int) -> bool:
        # Good news is told only when asked for: globally, or by the post's account.
        if self.notify_published:
            return True
        account = select(posts.c.account_id).where(posts.c.id == post_id).scalar_subquery()
        found = conn.execute(
            select(channels.c.id).where(channels.c.account_id == account, channels.c.events.contains("published"))
        ).first()
        return found is not None

    def update_owned(
        self,
        post_id: int,
        *,
        owner: str,
        status: PostStatus,
        change: PostChange | None = None,
        values: dict[str, Any] | None = None,
        kind: EventKind | str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Change bookkeeping fields of a post we hold, without changing its status (container ids, the
        publish attempt marker, the media id)."""
        values = {**(column_values(change) if change is not None else {}), **(values or {})}
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.status == status.value, posts.c.lease_owner == owner)
                .values(**container_rule(values), updated_at=db_now())
                .returning(posts.c.id)
            ).first()
            if row is None:
                return False
            if change is not None and clears_containers(change):
                conn.execute(update(media).where(media.c.post_id == post_id).values(container_id=None))
            if kind:
                self._event(conn, post_id, kind, message=message, detail=detail, actor=owner)
            return True

    def reopen_edited(
        self,
        post_id: int,
        *,
        owner: str,
        expected: PostStatus,
        clear_fields: Sequence[str],
        drop_media: Sequence[int],
        media_alt_text: dict[int, str | None],
        message: str,
        detail: dict[str, Any],
    ) -> bool:
        """Send a post we hold, edited after preparation, back to ``scheduled`` in one transaction: its stale
        media and containers go, our own fills from the old inputs are cleared. Never once a publish was
        attempted (that post may be live)."""
        lifecycle.check([expected], PostStatus.SCHEDULED)
        # SQL NULL, not JSON null: a JSON column given None stores the text 'null', which COALESCE keeps.
        cleared = {name: null() for name in clear_fields if name in ("image_url", "media_urls", "alt_text")}
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
                    status=PostStatus.SCHEDULED.value,
                    container_id=None,
                    container_ready_at=None,
                    container_attempts=0,
                    prepared_content=None,
                    next_attempt_at=None,
                    last_error=None,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=db_now(),
                    media_revision=posts.c.media_revision + (1 if drop_media else 0),
                    # What was approved is not what will go out any more: a person looks again.
                    approved_at=None,
                    approved_by=None,
                    **cleared,
                )
                .returning(posts.c.id)
            ).first()
            if row is None:
                return False
            if drop_media:
                conn.execute(delete(media).where(media.c.post_id == post_id, media.c.id.in_(list(drop_media))))
            conn.execute(update(media).where(media.c.post_id == post_id).values(container_id=None))
            for media_id, alt_text in media_alt_text.items():
                conn.execute(update(media).where(media.c.id == media_id).values(alt_text=alt_text))
            self._event(
                conn,
                post_id,
                EventKind.EDITED,
                from_status=expected.value,
                to_status=PostStatus.SCHEDULED.value,
                message=message,
                detail=detail,
                actor=owner,
            )
            return True


def latest_event_id(conn: Connection, post_id: int) -> int:
    """The event just written for ``post_id``: a notification's dedupe key names the very transition."""
    return int(conn.execute(select(func.max(events.c.id)).where(events.c.post_id == post_id)).scalar_one() or 0)
