"""Typed post changes (``domain.changes``) as column values. The one place where a change meets SQL, so
database time ("now", "now plus a delay") never leaves ``db/``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal

from postpilot.db.rows import posts, published_at_or_now
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain import changes as c


def _new_container(values: dict[str, Any], container_attempts: int) -> None:
    # A dead container is forgotten with its FINISHED reading and any publish attempt made with it.
    values.update(
        container_id=None,
        container_ready_at=None,
        publish_attempted_at=None,
        container_attempts=container_attempts,
    )


def column_values(change: c.PostChange) -> dict[str, Any]:
    """The columns ``change`` sets on ``scheduled_posts``."""
    values: dict[str, Any]
    match change:
        case c.MediaFilled(
            image_url=image_url,
            media_urls=media_urls,
            alt_text=alt_text,
            prepared_content=prepared_content,
            refill=refill,
        ):
            filled = {"image_url": image_url, "media_urls": media_urls, "alt_text": alt_text}
            # Only where the column is still empty (or still holds our own earlier fill): a marketer who wrote
            # one meanwhile keeps it, and the edit check then sees it differs from what was prepared.
            values = {
                k: v if k in refill else func.coalesce(posts.c[k], literal(v, type_=posts.c[k].type))
                for k, v in filled.items()
                if v is not None
            }
            values.update(last_error=None, next_attempt_at=None, prepared_content=prepared_content)
        case c.ContainerCreated(container_id=container_id):
            values = {"container_id": container_id, "container_ready_at": None}
        case c.ContainerReady():
            values = {"container_ready_at": db_now()}
        case c.PublishAttempted(at=at):
            values = {"publish_attempted_at": at, "container_ready_at": None}
        case c.PublishRefused():
            values = {"publish_attempted_at": None}
        case c.MediaIdReceived(media_id=media_id):
            values = {"ig_media_id": media_id, "published_at": db_now()}
        case c.Published(media_id=media_id, permalink=permalink):
            values = {
                "ig_media_id": media_id,
                "permalink": permalink,
                "published_at": published_at_or_now(),
                "last_error": None,
                "next_attempt_at": None,
            }
        case c.StagingTrouble(message=message, drop_container=drop, container_attempts=n):
            values = {"last_error": f"staging: {message}"}
            if drop:
                values.update(container_id=None, container_ready_at=None, container_attempts=n)
        case c.TryLater(message=message, delay_s=delay_s, attempts=attempts, drop_container=drop):
            values = {"last_error": message, "next_attempt_at": db_now_plus(delay_s)}
            if drop and delay_s <= 0:
                values["next_attempt_at"] = None  # a dead container is remade at once
            if attempts is not None:
                values["attempts"] = attempts
            if drop:
                _new_container(values, change.container_attempts)
        case c.CheckingLater(message=message):
            values = {"last_error": message}
        case c.Failed(message=message, attempts=attempts):
            values = {"last_error": message, "attempts": attempts}
        case c.MarkedUnconfirmed(message=message):
            values = {"last_error": message}
    return values


def clears_containers(change: c.PostChange) -> bool:
    """Whether the post's per-item (carousel child) containers go with the change."""
    return isinstance(change, c.StagingTrouble | c.TryLater) and change.drop_container
