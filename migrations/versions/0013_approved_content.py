"""What an approval covered: ``scheduled_posts.approved_content``.

An approval is for the post as the person saw it. ``approve`` stores the post's content and first comment as
they stood (JSON, ``domain.edits.approved_content``); before a container is made and again before
``media_publish``, the row is compared with it, so an edit after the approval that preparation does not see
(a new first comment, or a caption changed before the post was prepared) withdraws the approval and the post
waits for a person again. Nullable: existing INSERTs keep working, and approvals given before this revision
(NULL) are taken as they were.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import LenientJSON

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scheduled_posts", recreate="never") as batch:
        batch.add_column(sa.Column("approved_content", LenientJSON()))


def downgrade() -> None:
    with op.batch_alter_table("scheduled_posts", recreate="never") as batch:
        batch.drop_column("approved_content")
