"""The initial schema: accounts, scheduled_posts, post_media, post_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import LenientJSON, Money, UTCDateTime, db_now

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = "status IN ('scheduled', 'preparing', 'ready', 'publishing')"
CANONICAL_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]'"
CANONICAL_SQL = "strftime('%Y-%m-%d %H:%M:%f', {value}) || '000'"
SCHEDULED_AT_HELP = (
    "scheduled_at must be an ISO 8601 timestamp such as 2026-12-01T09:00:00+01:00 or 2026-12-01T08:00:00Z"
)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=db_now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("ig_user_id", sa.String(64), nullable=False),
        sa.Column("login_kind", sa.String(16), server_default="facebook", nullable=False),
        sa.Column("access_token_encrypted", sa.Text()),
        sa.Column("token_expires_at", UTCDateTime()),
        sa.Column("token_issued_at", UTCDateTime()),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("needs_reconnect", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("throttled_until", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        *_timestamps(),
        sa.CheckConstraint("login_kind IN ('facebook', 'instagram')", name="login_kind"),
        sa.UniqueConstraint("name", name="uq_accounts_name"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_table(
        "scheduled_posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("post_type", sa.String(16), server_default="photo", nullable=False),
        sa.Column("caption", sa.Text(), server_default="", nullable=False),
        sa.Column("prompt", sa.Text()),
        sa.Column("image_url", sa.Text()),
        sa.Column("media_urls", LenientJSON()),
        sa.Column("video_url", sa.Text()),
        sa.Column("cover_url", sa.Text()),
        sa.Column("image_count", sa.Integer()),
        sa.Column("aspect", sa.String(16), server_default="square", nullable=False),
        sa.Column("alt_text", sa.Text()),
        sa.Column("scheduled_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), server_default="scheduled", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ig_media_id", sa.String(64)),
        sa.Column("permalink", sa.Text()),
        sa.Column("published_at", UTCDateTime()),
        *_timestamps(),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("container_id", sa.String(64)),
        sa.Column("container_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("publish_attempted_at", UTCDateTime()),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_scheduled_posts_account_id_accounts", ondelete="RESTRICT"
        ),
        sa.CheckConstraint("post_type IN ('photo', 'carousel', 'reel')", name="post_type"),
        sa.CheckConstraint("aspect IN ('square', 'portrait', 'landscape')", name="aspect"),
        sa.CheckConstraint(
            "status IN ('scheduled', 'preparing', 'ready', 'publishing', 'published', 'failed', "
            "'unconfirmed', 'cancelled', 'simulated')",
            name="status",
        ),
        sa.CheckConstraint("length(caption) <= 2200", name="caption_length"),
        sa.CheckConstraint("image_count IS NULL OR (image_count BETWEEN 2 AND 10)", name="image_count"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduled_posts"),
    )
    op.create_index(
        "ix_scheduled_posts_due",
        "scheduled_posts",
        ["scheduled_at"],
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index("ix_scheduled_posts_account_id", "scheduled_posts", ["account_id"])
    op.create_table(
        "post_media",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), server_default="image", nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_url", sa.Text()),
        sa.Column("prompt", sa.Text()),
        sa.Column("model", sa.String(64)),
        sa.Column("cost_usd", Money(), server_default="0", nullable=False),
        sa.Column("stored_url", sa.Text()),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("bytes", sa.Integer()),
        sa.Column("checksum", sa.String(80)),
        sa.Column("alt_text", sa.Text()),
        sa.Column("container_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["scheduled_posts.id"], name="fk_post_media_post_id_scheduled_posts", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("post_id", "position", name="uq_post_media_post_position"),
        sa.CheckConstraint("source IN ('provided', 'generated')", name="source"),
        sa.CheckConstraint("kind IN ('image', 'video')", name="kind"),
        sa.PrimaryKeyConstraint("id", name="pk_post_media"),
    )
    op.create_table(
        "post_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16)),
        sa.Column("message", sa.Text()),
        sa.Column("detail", LenientJSON()),
        sa.Column("actor", sa.String(128)),
        sa.ForeignKeyConstraint(
            ["post_id"], ["scheduled_posts.id"], name="fk_post_events_post_id_scheduled_posts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_post_events"),
    )
    op.create_index("ix_post_events_post_id", "post_events", ["post_id", "id"])

    if op.get_bind().dialect.name == "sqlite":
        _sqlite_time_triggers()


def _sqlite_time_triggers() -> None:
    """SQLite stores what it is given. A marketer's ``'2026-12-01T09:00:00+01:00'`` is rewritten to canonical UTC
    text (``2026-12-01 08:00:00.000000``) so comparisons and sorting are chronological; a value SQLite cannot read
    as a time is refused with a message. A value without an offset is taken as UTC (SQLite's rule)."""
    for when in ("INSERT", "UPDATE OF scheduled_at"):
        tag = "ins" if when == "INSERT" else "upd"
        op.execute(
            f"CREATE TRIGGER scheduled_posts_check_time_{tag} BEFORE {when} ON scheduled_posts "
            "WHEN typeof(NEW.scheduled_at) != 'text' OR strftime('%s', NEW.scheduled_at) IS NULL "
            f"BEGIN SELECT RAISE(ABORT, '{SCHEDULED_AT_HELP}'); END"
        )
        op.execute(
            f"CREATE TRIGGER scheduled_posts_utc_{tag} AFTER {when} ON scheduled_posts "
            f"WHEN NEW.scheduled_at NOT GLOB {CANONICAL_GLOB} "
            f"BEGIN UPDATE scheduled_posts SET scheduled_at = {CANONICAL_SQL.format(value='NEW.scheduled_at')} "
            "WHERE id = NEW.id; END"
        )
    op.execute(
        "CREATE TRIGGER scheduled_posts_media_urls_json BEFORE INSERT ON scheduled_posts "
        "WHEN NEW.media_urls IS NOT NULL AND NOT json_valid(NEW.media_urls) "
        "BEGIN SELECT RAISE(ABORT, 'media_urls must be a JSON array of URLs, "
        "e.g. [\"https://example.com/a.jpg\", \"https://example.com/b.jpg\"]'); END"
    )


def downgrade() -> None:
    op.drop_table("post_events")
    op.drop_table("post_media")
    op.drop_index("ix_scheduled_posts_account_id", table_name="scheduled_posts")
    op.drop_index("ix_scheduled_posts_due", table_name="scheduled_posts")
    op.drop_table("scheduled_posts")
    op.drop_table("accounts")
