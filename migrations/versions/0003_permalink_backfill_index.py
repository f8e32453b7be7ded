"""A small partial index for published posts whose permalink is still missing (read after the post went
live; a crash or a drain timeout can skip that read), so the daemon's backfill never scans the history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MISSING = "status = 'published' AND ig_media_id IS NOT NULL AND permalink IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_scheduled_posts_permalink_missing",
        "scheduled_posts",
        ["published_at"],
        postgresql_where=sa.text(MISSING),
        sqlite_where=sa.text(MISSING),
    )


def downgrade() -> None:
    op.drop_index("ix_scheduled_posts_permalink_missing", table_name="scheduled_posts")
