"""The tables. ``scheduled_posts`` is a public contract: marketers INSERT into it with plain SQL, so its
user-facing names and defaults are stable, and the database checks what a database can check.

These ORM classes stay inside ``postpilot.db``; the rest of the code sees ``domain.model`` records.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from postpilot.db.types import LenientJSON, Money, UTCDateTime, db_now

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

POST_TYPES = ("photo", "carousel", "reel", "story")
ASPECTS = ("square", "portrait", "landscape")
# fmt: off
STATUSES = ("scheduled", "preparing", "ready", "publishing", "published", "failed", "unconfirmed", "cancelled",
            "simulated")
# fmt: on
ACTIVE_STATUS_SQL = "status IN ('scheduled', 'preparing', 'ready', 'publishing')"
# Live posts whose first comment is not posted yet (the daemon's first-comment job, issue 16).
FIRST_COMMENT_DUE_SQL = "first_comment IS NOT NULL AND first_comment_id IS NULL"
# Published posts whose permalink read was skipped (crash, drain timeout): the daemon fills them in later.
PERMALINK_MISSING_SQL = "status = 'published' AND ig_media_id IS NOT NULL AND permalink IS NULL"
PENDING_NOTICE_SQL = "done_at IS NULL"
# The partial indexes' WHERE clauses: the migrations create them, the ``Index`` entries below name them without
# (a ``postgresql_where`` argument loads that dialect into every process, 2 MB of an idle SQLite daemon);
# ``tests/integration/test_schema.py`` checks each predicate on both databases.
PARTIAL_INDEXES = {
    "ix_scheduled_posts_due": ACTIVE_STATUS_SQL,
    "ix_scheduled_posts_permalink_missing": PERMALINK_MISSING_SQL,
    "ix_scheduled_posts_first_comment_due": FIRST_COMMENT_DUE_SQL,
    "ix_notifications_pending": PENDING_NOTICE_SQL,
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("login_kind IN ('facebook', 'instagram')", name="login_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    ig_user_id: Mapped[str] = mapped_column(String(64))
    login_kind: Mapped[str] = mapped_column(String(16), server_default="facebook")
    # Fernet ciphertext of the access token (POSTPILOT_SECRET_KEY); never plaintext.
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dry_run: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    needs_reconnect: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    throttled_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # Why the daemon's automatic token refresh last failed (Instagram Login); cleared by a new token.
    token_refresh_error: Mapped[str | None] = mapped_column(Text)
    # The permissions Meta said it granted when the account was connected (space-separated); NULL: not known.
    granted_scopes: Mapped[str | None] = mapped_column(Text)
    # The last content_publishing_limit reading, shared by every replica (``instagram/quota.py``).
    quota_usage: Mapped[int | None] = mapped_column(Integer)
    quota_total: Mapped[int | None] = mapped_column(Integer)
    quota_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Every post waits for a person's approval once prepared (``post approve``).
    require_approval: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The IANA zone the account's people live in: notifications show times in it.
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    # How long before its time a post is prepared; NULL follows POSTPILOT_PREPARE_AHEAD_S.
    prepare_ahead_s: Mapped[int | None] = mapped_column(Integer)
    # Hold a post that repeats a recent one (issue 16); false turns the guard off for this account.
    duplicate_guard: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())


class PostRow(Base):
    __tablename__ = "scheduled_posts"
    __table_args__ = (
        CheckConstraint(_in("post_type", POST_TYPES), name="post_type"),
        CheckConstraint(_in("aspect", ASPECTS), name="aspect"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(caption) <= 2200", name="caption_length"),
        CheckConstraint("image_count IS NULL OR (image_count BETWEEN 2 AND 10)", name="image_count"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # "What is due" stays cheap however many finished rows pile up: only active rows are indexed.
        Index(
            "ix_scheduled_posts_due",
            "scheduled_at",
        ),
        Index("ix_scheduled_posts_account_id", "account_id"),
        Index(
            "ix_scheduled_posts_permalink_missing",
            "published_at",
        ),
        Index("uq_scheduled_posts_series_occurrence", "series_id", "occurrence_at", unique=True),
        # The first comments still to post (``db/comments.py``): a few rows, looked for every 30 s.
        Index(
            "ix_scheduled_posts_first_comment_due",
            "published_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    post_type: Mapped[str] = mapped_column(String(16), server_default="photo")
    caption: Mapped[str] = mapped_column(Text, server_default="")
    prompt: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    media_urls: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    video_url: Mapped[str | None] = mapped_column(Text)
    cover_url: Mapped[str | None] = mapped_column(Text)
    image_count: Mapped[int | None] = mapped_column(Integer)
    aspect: Mapped[str] = mapped_column(String(16), server_default="square")
    alt_text: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), server_default="scheduled")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    ig_media_id: Mapped[str | None] = mapped_column(String(64))
    permalink: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    # --- internal bookkeeping (not part of the marketer's contract) ---
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    container_id: Mapped[str | None] = mapped_column(String(64))
    container_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    publish_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    container_ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What preparation prepared, to tell a later edit apart (``domain/edits.py``); NULL until prepared.
    prepared_content: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    media_revision: Mapped[int] = mapped_column(Integer, server_default="0")
    # NULL follows the account's require_approval; approved_* say who approved and when (an edit clears them).
    requires_approval: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_content: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    # --- issue 16: more of what Instagram lets a scheduler do (public contract, all optional) ---
    first_comment: Mapped[str | None] = mapped_column(Text)
    first_comment_id: Mapped[str | None] = mapped_column(String(64))
    first_comment_error: Mapped[str | None] = mapped_column(Text)
    first_comment_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    first_comment_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_tags: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    collaborators: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    location_id: Mapped[str | None] = mapped_column(String(64))
    share_to_feed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    thumb_offset: Mapped[int | None] = mapped_column(Integer)
    audio_name: Mapped[str | None] = mapped_column(String(255))
    trial_params: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    # A person confirmed this post may repeat a recent one (``post retry --allow-duplicate``).
    allow_duplicate: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # A recurring post's series (``post_series``) and the instant its rule gave this occurrence: unique together,
    # so replicas expanding the same series create each occurrence once.
    series_id: Mapped[int | None] = mapped_column(ForeignKey("post_series.id", ondelete="SET NULL"))
    occurrence_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SeriesRow(Base):
    """A recurring post (``db/series.py``): the template each occurrence copies and the rule that says when.
    A public contract like ``scheduled_posts``; the rule's meaning is in ``domain/recurrence.py``."""

    __tablename__ = "post_series"
    __table_args__ = (
        CheckConstraint("freq IN ('daily', 'weekly', 'monthly')", name="freq"),
        CheckConstraint("every >= 1", name="every"),
        CheckConstraint("month_day IS NULL OR (month_day BETWEEN 1 AND 31)", name="month_day"),
        CheckConstraint("max_count IS NULL OR max_count >= 1", name="max_count"),
        CheckConstraint("until_on IS NULL OR until_on >= starts_on", name="until_after_start"),
        CheckConstraint(_in("post_type", POST_TYPES), name="post_type"),
        CheckConstraint(_in("aspect", ASPECTS), name="aspect"),
        CheckConstraint("length(caption) <= 2200", name="caption_length"),
        Index("ix_post_series_account_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    post_type: Mapped[str] = mapped_column(String(16), server_default="photo")
    caption: Mapped[str] = mapped_column(Text, server_default="")
    prompt: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    media_urls: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    video_url: Mapped[str | None] = mapped_column(Text)
    cover_url: Mapped[str | None] = mapped_column(Text)
    image_count: Mapped[int | None] = mapped_column(Integer)
    aspect: Mapped[str] = mapped_column(String(16), server_default="square")
    alt_text: Mapped[str | None] = mapped_column(Text)
    user_tags: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    collaborators: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    location_id: Mapped[str | None] = mapped_column(String(64))
    share_to_feed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    thumb_offset: Mapped[int | None] = mapped_column(Integer)
    audio_name: Mapped[str | None] = mapped_column(String(255))
    trial_params: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    first_comment: Mapped[str | None] = mapped_column(Text)
    requires_approval: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    freq: Mapped[str] = mapped_column(String(16))
    every: Mapped[int] = mapped_column(Integer, server_default="1")
    weekdays: Mapped[str | None] = mapped_column(String(64))  # weekly: 'mon,thu'; NULL: starts_on's weekday
    month_day: Mapped[int | None] = mapped_column(Integer)  # monthly; NULL: starts_on's day
    local_time: Mapped[str] = mapped_column(String(5))  # 'HH:MM', wall-clock time in time_zone
    time_zone: Mapped[str | None] = mapped_column(String(64))  # NULL: the account's
    starts_on: Mapped[date] = mapped_column(Date)
    until_on: Mapped[date | None] = mapped_column(Date)
    max_count: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Occurrences exist up to this instant; the next expansion starts after it.
    expanded_through: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)  # why the series is not expanded (a broken rule)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())


class PostMediaRow(Base):
    __tablename__ = "post_media"
    __table_args__ = (
        UniqueConstraint("post_id", "position", name="uq_post_media_post_position"),
        CheckConstraint("source IN ('provided', 'generated')", name="source"),
        CheckConstraint("kind IN ('image', 'video')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("scheduled_posts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8), server_default="image")
    source: Mapped[str] = mapped_column(String(16))
    source_url: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(64))
    cost_usd: Mapped[float] = mapped_column(Money(), server_default="0")
    stored_url: Mapped[str | None] = mapped_column(Text)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int | None] = mapped_column(Integer)
    checksum: Mapped[str | None] = mapped_column(String(80))
    alt_text: Mapped[str | None] = mapped_column(Text)
    container_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())


class PostEventRow(Base):
    """Append-only history: what happened to each post, when, and why."""

    __tablename__ = "post_events"
    __table_args__ = (Index("ix_post_events_post_id", "post_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("scheduled_posts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[Any] = mapped_column(LenientJSON(), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(128))


class WorkerRow(Base):
    """A running daemon or ``run-once`` and its heartbeat (``db/workers.py``): a lease whose holder stopped
    beating is free before it runs out."""

    __tablename__ = "workers"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())


class ImageSpendRow(Base):
    """One image generation's price, written before the request is sent (the estimate) and settled after
    (the real cost): the daily budget counts both, so a crash mid-generation never hides money spent."""

    __tablename__ = "image_spend"
    __table_args__ = (Index("ix_image_spend_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(64))
    estimate_usd: Mapped[float] = mapped_column(Money(), server_default="0")
    cost_usd: Mapped[float | None] = mapped_column(Money())
    owner: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationRow(Base):
    """The outbox (``db/outbox.py``): one row per event worth telling a person."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
        Index(
            "ix_notifications_pending",
            "created_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[int | None] = mapped_column(Integer)
    account_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationDeliveryRow(Base):
    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_channel"),
        CheckConstraint("state IN ('sent', 'failing', 'gave_up')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))  # the channel as shown: scheme and host, never a token
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())


class AccountChannelRow(Base):
    """An account's own notification URL (encrypted) and the events it wants."""

    __tablename__ = "account_channels"
    __table_args__ = (UniqueConstraint("account_id", "channel", name="uq_account_channels_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url_encrypted: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(64))
    events: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())


class ReviewUserRow(Base):
    """Who may log in to the review page (``review/``): an Argon2 hash, never the password."""

    __tablename__ = "review_users"
    __table_args__ = (
        UniqueConstraint("name", name="uq_review_users_name"),
        CheckConstraint("role IN ('reviewer', 'viewer')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), server_default="reviewer")
    # Consecutive wrong passwords; enough of them set locked_until (``review/auth.py``).
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=db_now())
