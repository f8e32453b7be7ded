"""Why the daemon's automatic refresh of an account's Instagram Login token last failed (null when it did
not), so ``/status`` and ``account list`` show the account at risk before the token runs out.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("token_refresh_error", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35), as in 0002.
    op.drop_column("accounts", "token_refresh_error")
