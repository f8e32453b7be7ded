"""Remember when a post's container was last seen FINISHED, so publishing at the scheduled instant needs only
the ``media_publish`` round trip (no status read) while that observation is recent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scheduled_posts", sa.Column("container_ready_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would drop the table's triggers.
    op.drop_column("scheduled_posts", "container_ready_at")
