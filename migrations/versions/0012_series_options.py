"""Every post option on a recurring series, and true/false meaning the same on both databases.

- ``post_series`` gains the options of issue 16 that 0010 left out: ``user_tags``, ``collaborators``,
  ``location_id``, ``share_to_feed``, ``thumb_offset``, ``audio_name``, ``trial_params``. Each occurrence copies
  them like the rest of the template; all are nullable, so existing INSERTs keep working.
- SQLite stores ``'false'`` as text, and text is true to Python: ``share_to_feed = 'false'`` would have shared a
  reel to the feed that PostgreSQL keeps off it. As 0005 did for ``scheduled_posts.is_active``, the words
  PostgreSQL reads as booleans (``'t'``, ``'yes'``, ``'off'``…) are rewritten to 1 or 0 after the write and
  anything else is refused before it, for ``scheduled_posts.requires_approval``, ``share_to_feed`` and
  ``allow_duplicate``, and for ``post_series.is_active``, ``requires_approval`` and ``share_to_feed``. The
  series table's own CHECKs on its two booleans (0010), which refused ``'true'`` where PostgreSQL takes it, are
  taken out of its stored definition in place (no row can break that: it only allows more), as 0009 widened
  the post type.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postpilot.db.types import LenientJSON

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TRUE_WORDS = "('t', 'true', 'y', 'yes', 'on', '1')"
FALSE_WORDS = "('f', 'false', 'n', 'no', 'off', '0')"
# (table, column, nullable): the booleans a marketer's SQL may set.
BOOLEANS = (
    ("scheduled_posts", "requires_approval", True),
    ("scheduled_posts", "share_to_feed", True),
    ("scheduled_posts", "allow_duplicate", False),
    ("post_series", "is_active", False),
    ("post_series", "requires_approval", True),
    ("post_series", "share_to_feed", True),
)
# As 0010 left them in SQLite's stored definition (the naming convention prefixed the names twice).
SERIES_CHECKS = (
    ", \n\tCONSTRAINT ck_post_series_ck_post_series_is_active_bool CHECK (is_active IN (0, 1))",
    ", \n\tCONSTRAINT ck_post_series_ck_post_series_requires_approval_bool "
    "CHECK (requires_approval IS NULL OR requires_approval IN (0, 1))",
)


def upgrade() -> None:
    with op.batch_alter_table("post_series", recreate="never") as batch:
        batch.add_column(sa.Column("user_tags", LenientJSON()))
        batch.add_column(sa.Column("collaborators", LenientJSON()))
        batch.add_column(sa.Column("location_id", sa.String(64)))
        batch.add_column(sa.Column("share_to_feed", sa.Boolean()))
        batch.add_column(sa.Column("thumb_offset", sa.Integer()))
        batch.add_column(sa.Column("audio_name", sa.String(255)))
        batch.add_column(sa.Column("trial_params", LenientJSON()))
    if op.get_bind().dialect.name != "sqlite":
        return
    _edit_series_definition(drop=SERIES_CHECKS)
    for table, column, nullable in BOOLEANS:
        _fix_stored(table, column, nullable)
        _boolean_triggers(table, column, nullable)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, column, _nullable in BOOLEANS:
            for tag in ("ins", "upd"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_check_{column}_{tag}")
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{column}_bool_{tag}")
    with op.batch_alter_table("post_series", recreate="never") as batch:
        for column in (
            "trial_params",
            "audio_name",
            "thumb_offset",
            "share_to_feed",
            "location_id",
            "collaborators",
            "user_tags",
        ):
            batch.drop_column(column)
    if op.get_bind().dialect.name == "sqlite":
        _edit_series_definition(add=SERIES_CHECKS)


def _help(column: str, nullable: bool) -> str:
    return f"{column} must be true or false" + (" (or NULL for the default)" if nullable else "")


def _fix_stored(table: str, column: str, nullable: bool) -> None:
    word = f"lower(trim({column}))"
    op.execute(
        f"UPDATE {table} SET {column} = ({word} IN {TRUE_WORDS}) "
        f"WHERE typeof({column}) = 'text' AND ({word} IN {TRUE_WORDS} OR {word} IN {FALSE_WORDS})"
    )
    # Nothing else can have been written through postpilot; a value typed by hand that is not a boolean
    # becomes the column's default rather than being read as true.
    fallback = "NULL" if nullable else ("1" if column == "is_active" else "0")
    op.execute(f"UPDATE {table} SET {column} = {fallback} WHERE {column} IS NOT NULL AND NOT ({column} IN (0, 1))")


def _boolean_triggers(table: str, column: str, nullable: bool) -> None:
    word = f"lower(trim(NEW.{column}))"
    words = f"{word} IN {TRUE_WORDS} OR {word} IN {FALSE_WORDS}"
    allowed = f"NEW.{column} IN (0, 1) OR (typeof(NEW.{column}) = 'text' AND ({words}))"
    if nullable:
        allowed = f"NEW.{column} IS NULL OR {allowed}"
    for when in ("INSERT", f"UPDATE OF {column}"):
        tag = "ins" if when == "INSERT" else "upd"
        op.execute(
            f"CREATE TRIGGER {table}_check_{column}_{tag} BEFORE {when} ON {table} WHEN NOT ({allowed}) "
            f"BEGIN SELECT RAISE(ABORT, '{_help(column, nullable)}'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_{column}_bool_{tag} AFTER {when} ON {table} "
            f"WHEN typeof(NEW.{column}) = 'text' "
            f"BEGIN UPDATE {table} SET {column} = ({word} IN {TRUE_WORDS}) WHERE id = NEW.id; END"
        )


def _edit_series_definition(*, drop: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> None:
    bind = op.get_bind()
    stored = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'post_series'")
    ).scalar_one()
    edited = stored
    for clause in drop:
        if clause not in edited:
            raise RuntimeError(f"post_series has an unexpected definition: {clause.strip(', ')!r} was not found")
        edited = edited.replace(clause, "")
    if add:
        end = edited.rindex(")")
        edited = edited[:end] + "".join(add) + edited[end:]
    (version,) = bind.execute(sa.text("PRAGMA schema_version")).one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'post_series'"),
            {"sql": edited},
        )
        # A new schema version makes every connection read the edited definition.
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.execute(sa.text("PRAGMA integrity_check")).scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"the SQLite schema edit left problems: {problems[:3]}")
