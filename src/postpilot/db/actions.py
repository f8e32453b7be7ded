"""A person's actions on a post, from the CLI or the review page: cancel, retry, edit, new images.

Each reads the post, refuses with a ``Conflict`` that says what to do instead, and changes it through a
guarded ``transition`` (``db/transitions.py``), so a replica that got there first wins and the person is
told to look again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, null, select, update

from postpilot.db.rows import media, posts
from postpilot.db.transitions import Transitions
from postpilot.db.types import db_now
from postpilot.domain.errors import Conflict
from postpilot.domain.events import EventKind
from postpilot.domain.model import USER_FIELDS, Post, PostStatus, utcnow


class PostActions(Transitions):
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
