"""Approval before anything goes live (issue 14).

- ``accounts.require_approval``: every post of the account waits for a person's approval once prepared.
- ``scheduled_posts.requires_approval``: the post's own choice; NULL (the default) follows its account, so
  existing INSERTs keep working.
- ``scheduled_posts.approved_at`` / ``approved_by``: who approved, and when; cleared by an edit, which
  withdraws the approval.
- ``accounts.time_zone``: the IANA zone its people live in; notifications show times in it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "accounts", sa.Column("require_approval", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("accounts", sa.Column("time_zone", sa.String(64), server_default="UTC", nullable=False))
    op.add_column("scheduled_posts", sa.Column("requires_approval", sa.Boolean(), nullable=True))
    op.add_column("scheduled_posts", sa.Column("approved_at", UTCDateTime(), nullable=True))
    op.add_column("scheduled_posts", sa.Column("approved_by", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("scheduled_posts", "approved_by")
    op.drop_column("scheduled_posts", "approved_at")
    op.drop_column("scheduled_posts", "requires_approval")
    op.drop_column("accounts", "time_zone")
    op.drop_column("accounts", "require_approval")
