"""Between table rows and domain objects: the table handles, the row mappers, the ``post_media`` row to
insert, and the column rules every post update follows. No queries run here; ``repository`` runs them.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, RowMapping, Table, func

from postpilot.db.models import (
    AccountChannelRow,
    AccountRow,
    ImageSpendRow,
    NotificationDeliveryRow,
    NotificationRow,
    PostEventRow,
    PostMediaRow,
    PostRow,
    WorkerRow,
)
from postpilot.db.types import db_now
from postpilot.domain.model import Account, LoginKind, MediaSource, Post, PostMedia, PostStatus

posts = cast(Table, PostRow.__table__)
accounts = cast(Table, AccountRow.__table__)
media = cast(Table, PostMediaRow.__table__)
events = cast(Table, PostEventRow.__table__)
workers = cast(Table, WorkerRow.__table__)
spend = cast(Table, ImageSpendRow.__table__)
notifications = cast(Table, NotificationRow.__table__)
deliveries = cast(Table, NotificationDeliveryRow.__table__)
channels = cast(Table, AccountChannelRow.__table__)


def published_at_or_now() -> ColumnElement[Any]:
    """``published_at`` keeps the moment ``media_publish`` returned, when it was recorded then."""
    return func.coalesce(posts.c.published_at, db_now())


def container_rule(values: dict[str, Any]) -> dict[str, Any]:
    """Whoever replaces or clears a post's container also forgets when the old one was seen FINISHED: the
    publish step trusts ``container_ready_at`` to skip the status read."""
    if "container_id" in values and "container_ready_at" not in values:
        return {**values, "container_ready_at": None}
    return values


def post_from_row(row: RowMapping) -> Post:
    return Post(
        id=row["id"],
        account_id=row["account_id"],
        post_type=row["post_type"],
        caption=row["caption"] or "",
        prompt=row["prompt"],
        image_url=row["image_url"],
        media_urls=row["media_urls"],
        video_url=row["video_url"],
        cover_url=row["cover_url"],
        image_count=row["image_count"],
        aspect=row["aspect"],
        alt_text=row["alt_text"],
        scheduled_at=row["scheduled_at"],
        status=PostStatus(row["status"]),
        is_active=bool(row["is_active"]),
        last_error=row["last_error"],
        attempts=row["attempts"],
        ig_media_id=row["ig_media_id"],
        permalink=row["permalink"],
        published_at=row["published_at"],
        container_id=row["container_id"],
        publish_attempted_at=row["publish_attempted_at"],
        container_ready_at=row["container_ready_at"],
        container_attempts=row["container_attempts"],
        next_attempt_at=row["next_attempt_at"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        prepared_content=row["prepared_content"],
        media_revision=row["media_revision"] or 0,
        requires_approval=None if row["requires_approval"] is None else bool(row["requires_approval"]),
        approved_at=row["approved_at"],
        approved_by=row["approved_by"],
        approved_content=row["approved_content"],
        first_comment=row["first_comment"],
        first_comment_id=row["first_comment_id"],
        first_comment_error=row["first_comment_error"],
        first_comment_attempts=row["first_comment_attempts"] or 0,
        first_comment_next_at=row["first_comment_next_at"],
        user_tags=row["user_tags"],
        collaborators=row["collaborators"],
        location_id=row["location_id"],
        share_to_feed=None if row["share_to_feed"] is None else bool(row["share_to_feed"]),
        thumb_offset=row["thumb_offset"],
        audio_name=row["audio_name"],
        trial_params=row["trial_params"],
        allow_duplicate=bool(row["allow_duplicate"]),
        series_id=row["series_id"],
        occurrence_at=row["occurrence_at"],
    )


def account_from_row(row: RowMapping) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        ig_user_id=row["ig_user_id"],
        login_kind=LoginKind(row["login_kind"]),
        dry_run=bool(row["dry_run"]),
        is_active=bool(row["is_active"]),
        has_token=row["access_token_encrypted"] is not None,
        token_expires_at=row["token_expires_at"],
        needs_reconnect=bool(row["needs_reconnect"]),
        last_error=row["last_error"],
        created_at=row["created_at"],
        token_issued_at=row["token_issued_at"],
        token_refresh_error=row["token_refresh_error"],
        quota_usage=row["quota_usage"],
        quota_total=row["quota_total"],
        quota_read_at=row["quota_read_at"],
        require_approval=bool(row["require_approval"]),
        time_zone=str(row["time_zone"] or "UTC"),
        prepare_ahead_s=row["prepare_ahead_s"],
        duplicate_guard=bool(row["duplicate_guard"]),
        granted_scopes=tuple(row["granted_scopes"].split()) if row["granted_scopes"] else None,
    )


def media_from_row(row: RowMapping) -> PostMedia:
    return PostMedia(
        id=row["id"],
        post_id=row["post_id"],
        position=row["position"],
        kind=row["kind"],
        source=MediaSource(row["source"]),
        source_url=row["source_url"],
        prompt=row["prompt"],
        model=row["model"],
        cost_usd=float(row["cost_usd"] or 0),
        stored_url=row["stored_url"],
        width=row["width"],
        height=row["height"],
        bytes=row["bytes"],
        checksum=row["checksum"],
        container_id=row["container_id"],
        alt_text=row["alt_text"],
    )
