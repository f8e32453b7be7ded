"""Recurring posts (issue 16): ``post_series`` and each occurrence's link to it.

- ``post_series``: the post template (the content columns of ``scheduled_posts``) and the rule (``freq``,
  ``every``, ``weekdays``, ``month_day``, ``local_time`` in ``time_zone``, from ``starts_on`` until ``until_on``
  or ``max_count`` times). Marketers may INSERT into it with plain SQL: everything but ``account_id``,
  ``freq``, ``local_time`` and ``starts_on`` has a default. ``expanded_through``, ``last_error`` and
  ``cancelled_at`` are postpilot's.
- ``scheduled_posts.series_id`` / ``occurrence_at``: the series an occurrence came from and the instant its
  rule gave it (``scheduled_at`` starts equal, and ``post edit`` may move it). The unique index on the two is
  what makes every occurrence exist once, whatever number of replicas expand the series at the same moment.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import LenientJSON, UTCDateTime, db_now

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQLITE_SERIES_FK = (
    ", CONSTRAINT fk_scheduled_posts_series_id_post_series FOREIGN KEY(series_id) REFERENCES post_series (id) "
    "ON DELETE SET NULL"
)
LOCAL_TIME_CHECK = (
    "length(local_time) = 5 AND substr(local_time, 3, 1) = ':' "
    "AND substr(local_time, 1, 2) BETWEEN '00' AND '23' AND substr(local_time, 2, 1) BETWEEN '0' AND '9' "
    "AND substr(local_time, 4, 2) BETWEEN '00' AND '59' AND substr(local_time, 5, 1) BETWEEN '0' AND '9'"
)


def _sqlite_only_checks() -> list[sa.CheckConstraint]:
    """SQLite keeps whatever text it is given: a date it cannot read would fail every later read of the row
    (PostgreSQL's ``date`` and ``boolean`` refuse such values themselves)."""
    if op.get_bind().dialect.name != "sqlite":
        return []
    return [
        sa.CheckConstraint("date(starts_on) IS starts_on", name="ck_post_series_starts_on_date"),
        sa.CheckConstraint("until_on IS NULL OR date(until_on) IS until_on", name="ck_post_series_until_on_date"),
        sa.CheckConstraint("is_active IN (0, 1)", name="ck_post_series_is_active_bool"),
        sa.CheckConstraint(
            "requires_approval IS NULL OR requires_approval IN (0, 1)", name="ck_post_series_requires_approval_bool"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "post_series",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("post_type", sa.String(16), server_default="photo", nullable=False),
        sa.Column("caption", sa.Text(), server_default="", nullable=False),
        sa.Column("prompt", sa.Text()),
        sa.Column("image_url", sa.Text()),
        sa.Column("media_urls", LenientJSON()),
        sa.Column("video_url", sa.Text()),
        sa.Column("cover_url", sa.Text()),
        sa.Column("image_count", sa.Integer()),
        sa.Column("aspect", sa.String(16), server_default="square", nullable=False),
        sa.Column("alt_text", sa.Text()),
        sa.Column("first_comment", sa.Text()),
        sa.Column("requires_approval", sa.Boolean()),
        sa.Column("freq", sa.String(16), nullable=False),
        sa.Column("every", sa.Integer(), server_default="1", nullable=False),
        sa.Column("weekdays", sa.String(64)),
        sa.Column("month_day", sa.Integer()),
        sa.Column("local_time", sa.String(5), nullable=False),
        sa.Column("time_zone", sa.String(64)),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("until_on", sa.Date()),
        sa.Column("max_count", sa.Integer()),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("cancelled_at", UTCDateTime()),
        sa.Column("expanded_through", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=db_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_post_series"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_post_series_account_id_accounts", ondelete="CASCADE"
        ),
        sa.CheckConstraint("freq IN ('daily', 'weekly', 'monthly')", name="ck_post_series_freq"),
        sa.CheckConstraint("every >= 1", name="ck_post_series_every"),
        sa.CheckConstraint("month_day IS NULL OR (month_day BETWEEN 1 AND 31)", name="ck_post_series_month_day"),
        sa.CheckConstraint(LOCAL_TIME_CHECK, name="ck_post_series_local_time"),
        sa.CheckConstraint("max_count IS NULL OR max_count >= 1", name="ck_post_series_max_count"),
        sa.CheckConstraint("until_on IS NULL OR until_on >= starts_on", name="ck_post_series_until_after_start"),
        sa.CheckConstraint("post_type IN ('photo', 'carousel', 'reel', 'story')", name="ck_post_series_post_type"),
        sa.CheckConstraint("aspect IN ('square', 'portrait', 'landscape')", name="ck_post_series_aspect"),
        sa.CheckConstraint("length(caption) <= 2200", name="ck_post_series_caption_length"),
        *_sqlite_only_checks(),
    )
    op.create_index("ix_post_series_account_id", "post_series", ["account_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("scheduled_posts", sa.Column("series_id", sa.Integer()))
        op.create_foreign_key(
            "fk_scheduled_posts_series_id_post_series",
            "scheduled_posts",
            "post_series",
            ["series_id"],
            ["id"],
            ondelete="SET NULL",
        )
    else:
        # Alembic would rebuild the table to add a foreign key, which drops its triggers (and, with foreign keys
        # on, cascade-deletes its media and history). Every row's series_id is NULL, so the constraint is added
        # to the stored definition in place, as 0009 widens its check.
        op.add_column("scheduled_posts", sa.Column("series_id", sa.Integer()))
        _sqlite_edit_definition(lambda sql: sql[: sql.rindex(")")] + SQLITE_SERIES_FK + sql[sql.rindex(")") :])
    op.add_column("scheduled_posts", sa.Column("occurrence_at", UTCDateTime()))
    op.create_index(
        "uq_scheduled_posts_series_occurrence", "scheduled_posts", ["series_id", "occurrence_at"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_scheduled_posts_series_occurrence", "scheduled_posts")
    op.drop_column("scheduled_posts", "occurrence_at")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_scheduled_posts_series_id_post_series", "scheduled_posts", type_="foreignkey")
    else:
        # SQLite refuses to drop a column named in a foreign key: the constraint goes first.
        _sqlite_edit_definition(lambda sql: sql.replace(SQLITE_SERIES_FK, ""))
    op.drop_column("scheduled_posts", "series_id")
    op.drop_index("ix_post_series_account_id", "post_series")
    op.drop_table("post_series")


def _sqlite_edit_definition(edit: Callable[[str], str]) -> None:
    bind = op.get_bind()
    stored = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'scheduled_posts'")
    ).scalar_one()
    edited = edit(stored)
    if edited == stored:
        raise RuntimeError("scheduled_posts has an unexpected definition: its series_id foreign key was not found")
    (version,) = bind.execute(sa.text("PRAGMA schema_version")).one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'scheduled_posts'"),
            {"sql": edited},
        )
        # A new schema version makes every connection read the edited definition.
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.execute(sa.text("PRAGMA integrity_check")).scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"the SQLite schema edit left problems: {problems[:3]}")
