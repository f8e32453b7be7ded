"""Notifications: a transactional outbox (issue 14).

- ``notifications``: one row per event worth telling a person, written in the same transaction as the state
  change that causes it (a post failed, became unconfirmed or was missed, went live; an account needs
  reconnecting). ``dedupe_key`` is unique, so the same event is never queued twice.
- ``notification_deliveries``: one row per notification and channel once it was tried; ``(notification_id,
  channel)`` is unique, so a channel that has it ``sent`` is never sent it again (at most once per channel in
  all normal cases; a crash between the send and this row can repeat one message, never lose it).
- ``account_channels``: an account's own notification URLs (Fernet-encrypted: they carry webhook tokens and
  passwords) and which events go there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import UTCDateTime, db_now

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("post_id", sa.Integer()),
        sa.Column("account_id", sa.Integer()),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.Column("done_at", UTCDateTime()),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["created_at"],
        postgresql_where=sa.text("done_at IS NULL"),
        sqlite_where=sa.text("done_at IS NULL"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("updated_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_notification_deliveries_notification_id_notifications",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_channel"),
        sa.CheckConstraint("state IN ('sent', 'failing', 'gave_up')", name="ck_notification_deliveries_state"),
    )
    op.create_table(
        "account_channels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("url_encrypted", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_account_channels_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_account_channels"),
        sa.UniqueConstraint("account_id", "channel", name="uq_account_channels_channel"),
    )


def downgrade() -> None:
    op.drop_table("account_channels")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_notifications_pending", table_name="notifications")
    op.drop_table("notifications")
