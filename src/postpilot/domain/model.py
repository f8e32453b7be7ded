"""The vocabulary of postpilot: post types, statuses, aspects, and the frozen records the pipeline sees.

The repository turns database rows into these records; nothing outside ``db/`` sees an ORM object.
Every datetime here is timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    """The one clock of the application code (database time is used for leases)."""
    return datetime.now(UTC)


class PostType(enum.StrEnum):
    PHOTO = "photo"
    CAROUSEL = "carousel"
    REEL = "reel"
    STORY = "story"


class Aspect(enum.StrEnum):
    SQUARE = "square"
    PORTRAIT = "portrait"
    LANDSCAPE = "landscape"
    # Not a value of the aspect column: a story's images are always 9:16 (``effective_aspect``).
    STORY = "story"


# The aspects a marketer chooses for feed posts (the aspect column's check).
FEED_ASPECTS = (Aspect.SQUARE, Aspect.PORTRAIT, Aspect.LANDSCAPE)

# Instagram's common sizes, one per aspect (width, height); stories fill the phone's 9:16 screen.
TARGET_SIZES: dict[Aspect, tuple[int, int]] = {
    Aspect.SQUARE: (1080, 1080),
    Aspect.PORTRAIT: (1080, 1350),
    Aspect.LANDSCAPE: (1080, 566),
    Aspect.STORY: (1080, 1920),
}


class PostStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    PREPARING = "preparing"
    READY = "ready"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    CANCELLED = "cancelled"
    SIMULATED = "simulated"


ACTIVE_STATUSES = (PostStatus.SCHEDULED, PostStatus.PREPARING, PostStatus.READY, PostStatus.PUBLISHING)
FINAL_STATUSES = (
    PostStatus.PUBLISHED,
    PostStatus.FAILED,
    PostStatus.UNCONFIRMED,
    PostStatus.CANCELLED,
    PostStatus.SIMULATED,
)


class LoginKind(enum.StrEnum):
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"


class MediaSource(enum.StrEnum):
    PROVIDED = "provided"
    GENERATED = "generated"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    ig_user_id: str
    login_kind: LoginKind
    dry_run: bool
    is_active: bool
    has_token: bool
    token_expires_at: datetime | None
    needs_reconnect: bool
    last_error: str | None
    created_at: datetime | None = None
    token_issued_at: datetime | None = None
    token_refresh_error: str | None = None  # the daemon's last automatic refresh failed, and why
    # The last content_publishing_limit reading, shared by the replicas (``instagram/quota.py``).
    quota_usage: int | None = None
    quota_total: int | None = None
    quota_read_at: datetime | None = None
    require_approval: bool = False
    time_zone: str = "UTC"
    prepare_ahead_s: int | None = None  # None: POSTPILOT_PREPARE_AHEAD_S
    duplicate_guard: bool = True  # hold posts that repeat a recent one (``domain.duplicates``)
    # What Meta granted at ``account connect``; None when not known (a token given by hand, or older).
    granted_scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """A scheduled post as read from the table. Fields are raw where a marketer may have written nonsense
    (post_type, aspect, media_urls): validation turns them into errors with messages, never crashes."""

    id: int
    account_id: int
    post_type: str
    caption: str
    prompt: str | None
    image_url: str | None
    media_urls: Any
    video_url: str | None
    cover_url: str | None
    image_count: int | None
    aspect: str
    alt_text: str | None
    scheduled_at: datetime
    status: PostStatus
    is_active: bool
    last_error: str | None
    attempts: int
    ig_media_id: str | None = None
    permalink: str | None = None
    published_at: datetime | None = None
    container_id: str | None = None
    publish_attempted_at: datetime | None = None
    container_ready_at: datetime | None = None  # when the container was last read FINISHED
    container_attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    prepared_content: Any = None  # what preparation prepared (``domain.edits.PreparedContent`` as JSON)
    media_revision: int = 0  # bumped when an edit throws media away (``media.ports.MediaKey``)
    requires_approval: bool | None = None  # None: as the account says
    approved_at: datetime | None = None
    approved_by: str | None = None
    approved_content: Any = None  # what the approver saw (``domain.edits.approved_content``), as JSON
    # --- issue 16 (all optional; raw as written, validated by ``domain.publish_options``) ---
    first_comment: str | None = None
    first_comment_id: str | None = None
    first_comment_error: str | None = None
    first_comment_attempts: int = 0
    first_comment_next_at: datetime | None = None  # when a failed first comment is tried again
    user_tags: Any = None
    collaborators: Any = None
    location_id: str | None = None
    share_to_feed: bool | None = None
    thumb_offset: Any = None
    audio_name: str | None = None
    trial_params: Any = None
    allow_duplicate: bool = False
    series_id: int | None = None  # an occurrence of a recurring series (``db/series.py``)
    occurrence_at: datetime | None = None  # the series' time this post was made for (an edit may move scheduled_at)


@dataclass(frozen=True, slots=True)
class PostMedia:
    id: int
    post_id: int
    position: int
    kind: str  # "image" | "video"
    source: MediaSource
    source_url: str | None
    prompt: str | None
    model: str | None
    cost_usd: float
    stored_url: str | None
    width: int | None
    height: int | None
    bytes: int | None
    checksum: str | None
    container_id: str | None
    alt_text: str | None = None


@dataclass(frozen=True, slots=True)
class PostEvent:
    id: int
    post_id: int
    at: datetime
    kind: str
    from_status: str | None
    to_status: str | None
    message: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None  # who did it: a worker, cli:NAME, web:NAME


# What a post publishes: the columns whose change means "prepare or stage again" (issue of edits), in the
# order the CLI, the CSV files and the table show them.
CONTENT_FIELDS = (
    "post_type",
    "caption",
    "prompt",
    "image_url",
    "media_urls",
    "video_url",
    "cover_url",
    "image_count",
    "aspect",
    "alt_text",
    "user_tags",
    "collaborators",
    "location_id",
    "share_to_feed",
    "thumb_offset",
    "audio_name",
    "trial_params",
)
# The columns a marketer writes (SQL, CLI, import); the rest of the row is postpilot's bookkeeping. The first
# comment is not in a container, so changing it never makes one again (it is read when it is posted);
# requires_approval says whether a person must approve it (NULL: as its account says).
USER_FIELDS = ("account_id", *CONTENT_FIELDS, "first_comment", "scheduled_at", "is_active", "requires_approval")
# What the rules look at (``domain.validation.PostDraft`` has exactly these).
DRAFT_FIELDS = (*CONTENT_FIELDS, "first_comment", "scheduled_at")


def effective_aspect(post_type: str, aspect: str) -> Aspect:
    """The shape a post's images are made in: a story's are 9:16 whatever the aspect column says."""
    return Aspect.STORY if post_type == PostType.STORY.value else Aspect(aspect)


def needs_approval(post: Post, account: Account | None) -> bool:
    """Whether ``post`` waits for a person before it is staged or published (``db.claims.approval_ok``)."""
    wanted = (
        post.requires_approval if post.requires_approval is not None else bool(account and account.require_approval)
    )
    return wanted and post.approved_at is None
