"""Faults and hostile rows: who is alive, what images cost before they are paid for, the publishing quota shared
between replicas, and rows the database now refuses.

- ``workers``: one row per running daemon or ``run-once``, with a heartbeat in database time. A lease held by a
  worker whose heartbeat stopped is free long before the lease runs out (``db/workers.py``).
- ``image_spend``: one row per image generation, written *before* the request is sent with the estimated
  price and settled with the real one, so a crash during generation never hides money spent. Today's existing
  spend is carried over from ``post_media``.
- ``accounts.quota_*``: the last ``content_publishing_limit`` reading, shared by every replica.
- ``scheduled_posts.prepared_content``: what preparation prepared, so an edit made afterwards (with SQL or the
  CLI) is seen before staging and before publishing (``pipeline/edits.py``).
- ``scheduled_posts.account_id`` must name an account on SQLite even when foreign keys are off (the ``sqlite3``
  shell's default), with the same message as on PostgreSQL.
- ``scheduled_posts.scheduled_at`` must be a real time from 1970 to 9999 on both databases (PostgreSQL takes
  ``infinity``, BC and year 10000, which Python cannot read; SQLite takes year 0). An existing row outside is
  held first — clamped to the range, with its old value in ``last_error`` and a status that cannot publish —
  so the upgrade never fails on it and nothing is lost.
- ``scheduled_posts.is_active`` on SQLite means what it means on PostgreSQL: ``'true'``/``'yes'``/``'on'``/``'1'``
  (any case) are true, their opposites false, anything else is refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import LenientJSON, Money, UTCDateTime, db_now

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# PostgreSQL's boolean input words (its docs, "Boolean Type"), compared trimmed and lower-cased.
TRUE_WORDS = "('t', 'true', 'y', 'yes', 'on', '1')"
FALSE_WORDS = "('f', 'false', 'n', 'no', 'off', '0')"
IS_ACTIVE_HELP = "is_active must be true or false"
SCHEDULED_AT_RANGE_HELP = "scheduled_at must be a real time between the years 1970 and 9999"
ACCOUNT_HELP = "account_id does not name an account: see postpilot account list for the ids"


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer()),
        sa.Column("started_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_workers"),
    )
    op.create_table(
        "image_spend",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("post_id", sa.Integer()),
        sa.Column("position", sa.Integer()),
        sa.Column("model", sa.String(64)),
        sa.Column("estimate_usd", Money(), server_default="0", nullable=False),
        sa.Column("cost_usd", Money()),
        sa.Column("owner", sa.String(128)),
        sa.Column("created_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.Column("settled_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_image_spend"),
    )
    op.create_index("ix_image_spend_created_at", "image_spend", ["created_at"])
    op.execute(
        "INSERT INTO image_spend (post_id, position, model, estimate_usd, cost_usd, created_at, settled_at) "
        "SELECT post_id, position, model, cost_usd, cost_usd, created_at, created_at FROM post_media "
        "WHERE cost_usd > 0"
    )
    op.add_column("accounts", sa.Column("quota_usage", sa.Integer(), nullable=True))
    op.add_column("accounts", sa.Column("quota_total", sa.Integer(), nullable=True))
    op.add_column("accounts", sa.Column("quota_read_at", UTCDateTime(), nullable=True))
    op.add_column("scheduled_posts", sa.Column("prepared_content", LenientJSON(), nullable=True))
    op.add_column("scheduled_posts", sa.Column("media_revision", sa.Integer(), server_default="0", nullable=False))
    _account_must_exist()

    if op.get_bind().dialect.name == "postgresql":
        _hold_out_of_range(
            "NOT (scheduled_at >= '1970-01-01 00:00:00+00' AND scheduled_at < '10000-01-01 00:00:00+00')",
            shown="scheduled_at::text",
            low="scheduled_at < '1970-01-01 00:00:00+00'",
            first="timestamptz '1970-01-01 00:00:00+00'",
            last="timestamptz '9999-12-31 00:00:00+00'",
        )
        op.execute(
            "ALTER TABLE scheduled_posts ADD CONSTRAINT ck_scheduled_posts_scheduled_at_range "
            "CHECK (scheduled_at >= '1970-01-01 00:00:00+00' AND scheduled_at < '10000-01-01 00:00:00+00')"
        )
    else:
        _hold_out_of_range(
            "CAST(strftime('%Y', scheduled_at) AS INTEGER) < 1970",
            shown="scheduled_at",
            low="1 = 1",
            first="'1970-01-01 00:00:00.000000'",
            last="'1970-01-01 00:00:00.000000'",
        )
        _sqlite_is_active_fix()
        _sqlite_time_range_triggers()
        _sqlite_is_active_triggers()


def _account_must_exist() -> None:
    """The same words on both databases for a post whose account does not exist. PostgreSQL's foreign key
    would refuse it too, but in its own words; SQLite enforces foreign keys only when a connection asks, which
    the ``sqlite3`` shell does not."""
    message = ACCOUNT_HELP
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION scheduled_posts_account_exists() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NOT EXISTS (SELECT 1 FROM accounts WHERE id = NEW.account_id) THEN "
            f"RAISE EXCEPTION '{message}' USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER scheduled_posts_account_exists BEFORE INSERT OR UPDATE OF account_id ON scheduled_posts "
            "FOR EACH ROW EXECUTE FUNCTION scheduled_posts_account_exists()"
        )
        return
    for when in ("INSERT", "UPDATE OF account_id"):
        tag = "ins" if when == "INSERT" else "upd"
        op.execute(
            f"CREATE TRIGGER scheduled_posts_account_exists_{tag} BEFORE {when} ON scheduled_posts "
            "WHEN NOT EXISTS (SELECT 1 FROM accounts WHERE id = NEW.account_id) "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )


def _hold_out_of_range(where: str, *, shown: str, low: str, first: str, last: str) -> None:
    # A post that may be live (publishing) is handed to a person; one that never started cannot go out.
    op.execute(
        "UPDATE scheduled_posts SET "
        f"last_error = 'scheduled_at was ' || {shown} || ', which is not a real time; the post is held: set a real "
        "time and run postpilot post retry ' || CAST(id AS TEXT), "
        "status = CASE WHEN status = 'publishing' THEN 'unconfirmed' "
        "WHEN status IN ('scheduled', 'preparing', 'ready') THEN 'failed' ELSE status END, "
        "lease_owner = NULL, lease_until = NULL, "
        f"scheduled_at = CASE WHEN {low} THEN {first} ELSE {last} END "
        f"WHERE {where}"
    )


def _sqlite_is_active_fix() -> None:
    word = "lower(trim(is_active))"
    op.execute(
        f"UPDATE scheduled_posts SET is_active = ({word} IN {TRUE_WORDS}) "
        f"WHERE typeof(is_active) = 'text' AND ({word} IN {TRUE_WORDS} OR {word} IN {FALSE_WORDS})"
    )
    op.execute(
        "UPDATE scheduled_posts SET last_error = 'is_active was ' || quote(is_active) || ', which is neither true "
        "nor false; the post is paused: set is_active to true to publish it', is_active = 0 "
        "WHERE NOT (is_active IN (0, 1))"
    )


def _sqlite_time_range_triggers() -> None:
    for when in ("INSERT", "UPDATE OF scheduled_at"):
        tag = "ins" if when == "INSERT" else "upd"
        op.execute(
            f"CREATE TRIGGER scheduled_posts_time_range_{tag} BEFORE {when} ON scheduled_posts "
            "WHEN CAST(strftime('%Y', NEW.scheduled_at) AS INTEGER) < 1970 "
            f"BEGIN SELECT RAISE(ABORT, '{SCHEDULED_AT_RANGE_HELP}'); END"
        )


def _sqlite_is_active_triggers() -> None:
    """SQLite stores ``'true'`` as text, which no ``WHERE is_active`` matches: words PostgreSQL reads as a boolean
    are rewritten to 1 or 0 after the write, anything else is refused before it."""
    for when in ("INSERT", "UPDATE OF is_active"):
        tag = "ins" if when == "INSERT" else "upd"
        word = "lower(trim(NEW.is_active))"
        op.execute(
            f"CREATE TRIGGER scheduled_posts_check_active_{tag} BEFORE {when} ON scheduled_posts "
            f"WHEN NOT (NEW.is_active IN (0, 1) OR (typeof(NEW.is_active) = 'text' AND ({word} IN {TRUE_WORDS} "
            f"OR {word} IN {FALSE_WORDS}))) "
            f"BEGIN SELECT RAISE(ABORT, '{IS_ACTIVE_HELP}'); END"
        )
        op.execute(
            f"CREATE TRIGGER scheduled_posts_active_bool_{tag} AFTER {when} ON scheduled_posts "
            "WHEN typeof(NEW.is_active) = 'text' "
            f"BEGIN UPDATE scheduled_posts SET is_active = ({word} IN {TRUE_WORDS}) WHERE id = NEW.id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE scheduled_posts DROP CONSTRAINT ck_scheduled_posts_scheduled_at_range")
        op.execute("DROP TRIGGER scheduled_posts_account_exists ON scheduled_posts")
        op.execute("DROP FUNCTION scheduled_posts_account_exists()")
    else:
        for tag in ("ins", "upd"):
            op.execute(f"DROP TRIGGER scheduled_posts_account_exists_{tag}")
            op.execute(f"DROP TRIGGER scheduled_posts_time_range_{tag}")
            op.execute(f"DROP TRIGGER scheduled_posts_check_active_{tag}")
            op.execute(f"DROP TRIGGER scheduled_posts_active_bool_{tag}")
    op.drop_column("scheduled_posts", "media_revision")
    op.drop_column("scheduled_posts", "prepared_content")
    op.drop_column("accounts", "quota_read_at")
    op.drop_column("accounts", "quota_total")
    op.drop_column("accounts", "quota_usage")
    op.drop_index("ix_image_spend_created_at", table_name="image_spend")
    op.drop_table("image_spend")
    op.drop_table("workers")
