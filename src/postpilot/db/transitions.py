"""Guarded transitions: the only way a post's status changes. Each is one ``UPDATE … WHERE id = :id AND
status IN (:expected) [AND lease_owner = :me]`` plus its event, refused by ``domain.lifecycle`` when the
table has no such transition. A guarded update that matches no row means another actor (a replica, a
marketer's cancel) got there first: the caller stops touching that post."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, null, select, update

from postpilot.db import claims, outbox
from postpilot.db.changes import clears_containers, column_values
from postpilot.db.posts import PostRecords
from postpilot.db.rows import channels, container_rule, events, media, posts
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain import lifecycle
from postpilot.domain.changes import PostChange
from postpilot.domain.errors import Conflict
from postpilot.domain.events import EventKind
from postpilot.domain.model import USER_FIELDS, Post, PostStatus, utcnow
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
            post_notice(kind, facts, reason=message, attempt=_latest_event_id(conn, post_id), link=link or None),
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

    def cancel(self, post_id: int, *, actor: str = "cli") -> Post:
        post = self.require_post(post_id)
        if post.status is PostStatus.CANCELLED:
            return post
        if post.status is PostStatus.PUBLISHED:
            raise Conflict(f"post {post_id} is already published; delete it on Instagram instead")
        if post.status is PostStatus.PUBLISHING:
            raise Conflict(f"post {post_id} is being published right now and can no longer be cancelled")
        ok = self.transition(
            post_id,
            expected=[
                PostStatus.SCHEDULED,
                PostStatus.PREPARING,
                PostStatus.READY,
                PostStatus.FAILED,
                PostStatus.UNCONFIRMED,
                PostStatus.SIMULATED,  # a dry run published nothing: closing it is all there is to do
            ],
            to=PostStatus.CANCELLED,
            owner=None,
            kind=EventKind.CANCELLED,
            message=f"cancelled by {actor}",
            detail=None,
            actor=actor,
        )
        if not ok:
            raise Conflict(f"post {post_id} changed while cancelling; look at it again (postpilot post show {post_id})")
        return self.require_post(post_id)

    def retry(
        self,
        post_id: int,
        *,
        force: bool = False,
        actor: str = "cli",
        max_lateness_s: float | None = None,
        allow_duplicate: bool = False,
    ) -> Post:
        post = self.require_post(post_id)
        if max_lateness_s is not None and post.scheduled_at < utcnow() - timedelta(seconds=max_lateness_s):
            raise Conflict(
                f"post {post_id} is scheduled for {post.scheduled_at.isoformat()}, more than "
                f"{max_lateness_s / 3600:g} h ago, so it would fail as missed again; give it a new time first: "
                f"postpilot post edit {post_id} --at '…', then retry it"
            )
        if post.status is PostStatus.UNCONFIRMED and not force:
            raise Conflict(
                f"post {post_id} is unconfirmed: Instagram may already show it. Check the account on Instagram; "
                f"if the post is not there, run: postpilot post retry {post_id} --force"
            )
        if post.status not in (PostStatus.FAILED, PostStatus.UNCONFIRMED, PostStatus.CANCELLED, PostStatus.SIMULATED):
            raise Conflict(
                f"post {post_id} is {post.status.value}; only failed, unconfirmed, cancelled or simulated posts "
                "can be retried"
            )
        values: dict[str, Any] = {
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": None,
            "container_attempts": 0,
            "publish_attempted_at": None,
        }
        if allow_duplicate:
            values["allow_duplicate"] = True  # a person confirmed the repeat (``domain/duplicates.py``)
        if post.status is PostStatus.SIMULATED:
            values.update(ig_media_id=None, permalink=None, published_at=None)
        if post.status is PostStatus.UNCONFIRMED or post.container_id:
            values["container_id"] = None  # a forced retry starts from fresh containers
        ok = self.transition(
            post_id,
            expected=post.status,
            to=PostStatus.SCHEDULED,
            owner=None,
            kind=EventKind.RETRY,
            message=(f"forced retry by {actor}" if force else f"retry requested by {actor}")
            + (", repeating a recent post on purpose" if allow_duplicate else ""),
            values=values,
            actor=actor,
        )
        if ok:
            with self._tx() as conn:
                conn.execute(update(media).where(media.c.post_id == post_id).values(container_id=None))
        else:
            raise Conflict(f"post {post_id} changed while retrying; look at it again")
        return self.require_post(post_id)

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

    def edit_post(self, post_id: int, values: dict[str, Any], *, actor: str = "cli") -> Post:
        """A person's edit through the CLI: the columns as given, exactly as an SQL ``UPDATE`` would write
        them. The pipeline sees the change the same way either way (``pipeline/edits.py``)."""
        unknown = set(values) - set(USER_FIELDS)
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        post = self.require_post(post_id)
        if post.status is PostStatus.PUBLISHING:
            raise Conflict(
                f"post {post_id} is being published right now, so the edit would come too late; if it goes live, "
                "edit it on Instagram"
            )
        if post.status in (PostStatus.PUBLISHED, PostStatus.SIMULATED):
            raise Conflict(
                f"post {post_id} is already {post.status.value}; edit it on Instagram, or add a new post"
                if post.status is PostStatus.PUBLISHED
                else f"post {post_id} is already {post.status.value}; run postpilot post retry {post_id} first"
            )
        editable = [
            PostStatus.SCHEDULED,
            PostStatus.PREPARING,
            PostStatus.READY,
            PostStatus.FAILED,
            PostStatus.UNCONFIRMED,
            PostStatus.CANCELLED,
        ]
        cleaned = {k: (null() if v is None else v) for k, v in values.items()}
        # A new time keeps the approval; new content withdraws it (what was approved is not what goes out).
        withdraw = {"approved_at": None, "approved_by": None} if set(values) - {"scheduled_at", "is_active"} else {}
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.status.in_([s.value for s in editable]))
                .values(updated_at=db_now(), **cleaned, **withdraw)
                .returning(posts.c.id)
            ).first()
            if row is None:
                raise Conflict(f"post {post_id} changed while editing; look at it again")
            self._event(
                conn,
                post_id,
                EventKind.EDITED,
                message=f"edited by {actor}: {', '.join(sorted(values))}",
                detail={"changed": sorted(values)},
                actor=actor,
            )
        return self.require_post(post_id)

    # --- approval ---------------------------------------------------------------------------------------------
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
            facts = outbox.post_facts(conn, post_id)
            if facts is not None:
                outbox.enqueue(
                    conn,
                    post_notice(
                        NoticeKind.APPROVAL, facts, reason=None, attempt=_latest_event_id(conn, post_id), link=None
                    ),
                )

    def approve(self, post_id: int, *, actor: str) -> Post:
        post = self.require_post(post_id)
        if post.status not in (PostStatus.SCHEDULED, PostStatus.PREPARING, PostStatus.READY):
            raise Conflict(f"post {post_id} is {post.status.value}; only a post still to publish can be approved")
        if post.approved_at is not None:
            return post
        with self._tx() as conn:
            conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.approved_at.is_(None))
                .values(
                    approved_at=db_now(),
                    approved_by=actor,
                    updated_at=db_now(),
                    last_error=case(
                        (posts.c.last_error.like("waiting for approval%"), null()), else_=posts.c.last_error
                    ),
                )
            )
            self._event(conn, post_id, EventKind.APPROVED, message=f"approved by {actor}", actor=actor)
        return self.require_post(post_id)

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

    def regenerate(self, post_id: int, *, actor: str, prompt: str | None) -> Post:
        """New images for a post not yet published: generated media go (paid once more), our fills from them
        are cleared, the approval is withdrawn, and the post is prepared again."""
        post = self.require_post(post_id)
        if post.status not in (PostStatus.SCHEDULED, PostStatus.READY, PostStatus.FAILED, PostStatus.CANCELLED):
            raise Conflict(
                f"post {post_id} is {post.status.value}; only a scheduled, ready, failed or cancelled post can be "
                "regenerated"
            )
        values: dict[str, Any] = {
            "container_id": None,
            "container_ready_at": None,
            "container_attempts": 0,
            "publish_attempted_at": None,
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": None,
            "approved_at": None,
            "approved_by": None,
            "prepared_content": None,
            "media_revision": posts.c.media_revision + 1,
        }
        if prompt is not None:
            values["prompt"] = prompt
        with self._tx() as conn:
            generated = [
                int(r[0])
                for r in conn.execute(
                    select(media.c.id).where(media.c.post_id == post_id, media.c.source == "generated")
                )
            ]
            stored = {
                str(r[0])
                for r in conn.execute(
                    select(media.c.stored_url).where(media.c.post_id == post_id, media.c.source == "generated")
                )
            }
        if not generated:
            raise Conflict(f"post {post_id} has no generated images (its media are your own URLs)")
        # Our own fills pointed at the old images: the new ones fill them again.
        if post.image_url in stored:
            values["image_url"] = null()
        if isinstance(post.media_urls, list) and set(map(str, post.media_urls)) <= stored:
            values["media_urls"] = null()
        ok = self.transition(
            post_id,
            expected=post.status,
            to=PostStatus.SCHEDULED,
            owner=None,
            kind=EventKind.REGENERATE,
            message=f"new images asked for by {actor}" + (" with a new prompt" if prompt is not None else ""),
            values=values,
            actor=actor,
        )
        if not ok:
            raise Conflict(f"post {post_id} changed meanwhile; look at it again")
        with self._tx() as conn:
            conn.execute(delete(media).where(media.c.id.in_(generated)))
        return self.require_post(post_id)

    def remind_unapproved(self, *, within_s: float = 3600.0) -> int:
        """Prepared posts still waiting for approval and due within ``within_s``: told once more, shortly before
        their time (the first notice came when they were prepared). Returns how many reminders were queued."""
        queued = 0
        with self._tx() as conn:
            rows = conn.execute(
                select(posts.c.id).where(
                    posts.c.status == PostStatus.READY.value,
                    posts.c.is_active,
                    posts.c.approved_at.is_(None),
                    claims.wants_approval().is_(True),
                    posts.c.scheduled_at <= db_now_plus(within_s),
                    posts.c.scheduled_at > db_now(),
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


def _latest_event_id(conn: Connection, post_id: int) -> int:
    """The event just written for ``post_id``: a notification's dedupe key names the very transition."""
    return int(conn.execute(select(func.max(events.c.id)).where(events.c.post_id == post_id)).scalar_one() or 0)
