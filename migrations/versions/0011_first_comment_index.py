"""A partial index for the first comments still to post (issue 16).

The daemon looks for them every 30 seconds (``db/comments.py``); without an index that look reads every
published post ever made. Only rows with a first comment not yet posted are indexed, so it stays a handful.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FIRST_COMMENT_DUE_SQL = "first_comment IS NOT NULL AND first_comment_id IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_scheduled_posts_first_comment_due",
        "scheduled_posts",
        ["published_at"],
        postgresql_where=sa.text(FIRST_COMMENT_DUE_SQL),
        sqlite_where=sa.text(FIRST_COMMENT_DUE_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_scheduled_posts_first_comment_due", table_name="scheduled_posts")
