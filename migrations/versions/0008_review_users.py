"""Preparing earlier, and the people who may use the review page (issues 14 and 15).

- ``accounts.prepare_ahead_s``: how long before its time a post of this account is prepared; NULL (the
  default) follows ``POSTPILOT_PREPARE_AHEAD_S``. An account that requires approval may want 24 h.
- ``review_users``: who may log in to the review page, with an Argon2 hash of the password (never the
  password), a role (``reviewer`` acts, ``viewer`` only looks) and the failed-login count that locks the
  login for a while.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import UTCDateTime, db_now

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("prepare_ahead_s", sa.Integer(), nullable=True))
    op.create_table(
        "review_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), server_default="reviewer", nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("last_login_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_review_users"),
        sa.UniqueConstraint("name", name="uq_review_users_name"),
        sa.CheckConstraint("role IN ('reviewer', 'viewer')", name="ck_review_users_role"),
    )


def downgrade() -> None:
    op.drop_table("review_users")
    op.drop_column("accounts", "prepare_ahead_s")
