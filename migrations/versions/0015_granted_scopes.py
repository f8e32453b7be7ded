"""What Meta granted an account's token: ``accounts.granted_scopes``.

Meta lists an Instagram Login token's permissions only in the login's answer (there is no ``debug_token`` on
graph.instagram.com), so ``account connect`` keeps them (space-separated) and ``doctor`` can say, for every
account, whether the permissions publishing needs were granted. NULL: not known (a token given by hand with
``account token``, or an account connected before this revision). A refreshed token keeps its token's.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", recreate="never") as batch:
        batch.add_column(sa.Column("granted_scopes", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("accounts", recreate="never") as batch:
        batch.drop_column("granted_scopes")
