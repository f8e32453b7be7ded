"""Everything Instagram lets a scheduler do (issue 16): stories, a first comment, people tags, collaborators,
location, reel options, trial reels, and the duplicate guard.

- ``scheduled_posts.post_type`` also takes ``story``. On SQLite the CHECK is widened in place (the table's
  stored definition is edited, as SQLite's "other kinds of table schema changes" procedure allows for a change
  that every existing row satisfies): rebuilding the table would drop its triggers and, with foreign keys on,
  cascade-delete its media and history.
- ``first_comment``: posted right after the post is live, on its own (``first_comment_id`` once posted;
  ``first_comment_error`` / ``first_comment_attempts`` / ``first_comment_next_at`` for its retries).
- ``user_tags``, ``collaborators``, ``trial_params``: JSON, checked by postpilot with messages naming the field.
- ``location_id``, ``share_to_feed``, ``thumb_offset``, ``audio_name``: as Meta names them.
- ``allow_duplicate``: a person confirmed that this post may repeat a recent one (``post retry
  --allow-duplicate``); ``accounts.duplicate_guard`` turns the guard off for an account.

Every new column is nullable or has a default: existing INSERTs keep working.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import LenientJSON, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD_TYPES = "post_type IN ('photo', 'carousel', 'reel')"
NEW_TYPES = "post_type IN ('photo', 'carousel', 'reel', 'story')"


def upgrade() -> None:
    with op.batch_alter_table("scheduled_posts", recreate="never") as batch:
        batch.add_column(sa.Column("first_comment", sa.Text()))
        batch.add_column(sa.Column("first_comment_id", sa.String(64)))
        batch.add_column(sa.Column("first_comment_error", sa.Text()))
        batch.add_column(sa.Column("first_comment_attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("first_comment_next_at", UTCDateTime()))
        batch.add_column(sa.Column("user_tags", LenientJSON()))
        batch.add_column(sa.Column("collaborators", LenientJSON()))
        batch.add_column(sa.Column("location_id", sa.String(64)))
        batch.add_column(sa.Column("share_to_feed", sa.Boolean()))
        batch.add_column(sa.Column("thumb_offset", sa.Integer()))
        batch.add_column(sa.Column("audio_name", sa.String(255)))
        batch.add_column(sa.Column("trial_params", LenientJSON()))
        batch.add_column(sa.Column("allow_duplicate", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.add_column(
        "accounts", sa.Column("duplicate_guard", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    _widen_post_type(OLD_TYPES, NEW_TYPES)


def downgrade() -> None:
    bind = op.get_bind()
    stories = bind.execute(sa.text("SELECT count(*) FROM scheduled_posts WHERE post_type = 'story'")).scalar_one()
    if stories:
        raise RuntimeError(f"{stories} story post(s) exist; delete or change them before downgrading below 0009")
    _widen_post_type(NEW_TYPES, OLD_TYPES)
    op.drop_column("accounts", "duplicate_guard")
    for name in (
        "allow_duplicate",
        "trial_params",
        "audio_name",
        "thumb_offset",
        "share_to_feed",
        "location_id",
        "collaborators",
        "user_tags",
        "first_comment_next_at",
        "first_comment_attempts",
        "first_comment_error",
        "first_comment_id",
        "first_comment",
    ):
        op.drop_column("scheduled_posts", name)


def _widen_post_type(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_scheduled_posts_post_type"), "scheduled_posts", type_="check")
        op.create_check_constraint("post_type", "scheduled_posts", new)
        return
    stored = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'scheduled_posts'")
    ).scalar_one()
    if old not in stored:
        raise RuntimeError(f"scheduled_posts has an unexpected post_type check; expected {old!r}")
    (version,) = bind.execute(sa.text("PRAGMA schema_version")).one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'scheduled_posts'"),
            {"sql": stored.replace(old, new)},
        )
        # A new schema version makes every connection read the edited definition.
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.execute(sa.text("PRAGMA integrity_check")).scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"the SQLite schema edit left problems: {problems[:3]}")
