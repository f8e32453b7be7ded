"""JSON nested absurdly deep is refused when it is written, the same way on both databases.

A carousel's ``media_urls`` nested a thousand levels deep once stopped every poll (Python's reader recursed
until it gave up). postpilot now reads such a value as invalid and fails that post alone, but the database can
refuse it outright: nothing postpilot accepts nests deeper than three levels (a list of slides, a slide's
object, a tag's coordinates), so more than ``MAX_DEPTH`` levels in ``media_urls``, ``user_tags``,
``collaborators`` or ``trial_params`` (of posts and of series) is refused with a sentence naming the column.
PostgreSQL: a trigger calling an immutable function that measures the depth (a trigger rather than a CHECK,
so both databases refuse in the same words); SQLite: triggers that measure it with ``json_tree``. Rows already deeper (written before this revision) are set aside first, as 0005 did for
out-of-range times: the post fails with the reason and the column is emptied, so the CHECK can hold.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MAX_DEPTH = 32
COLUMNS = {
    "scheduled_posts": ("media_urls", "user_tags", "collaborators", "trial_params"),
    "post_series": ("media_urls", "user_tags", "collaborators", "trial_params"),
}
PG_DEPTH_FUNCTION = """
CREATE FUNCTION postpilot_json_depth(value json) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  WITH RECURSIVE walk(item, depth) AS (
    SELECT value, 1
    UNION ALL
    SELECT child.item, walk.depth + 1
    FROM walk, LATERAL (
      SELECT e AS item FROM json_array_elements(CASE WHEN json_typeof(walk.item) = 'array' THEN walk.item
                                                     ELSE '[]'::json END) AS e
      UNION ALL
      SELECT o.value FROM json_each(CASE WHEN json_typeof(walk.item) = 'object' THEN walk.item
                                         ELSE '{}'::json END) AS o
    ) AS child
    WHERE walk.depth <= %(limit)d
  )
  SELECT max(depth) FROM walk
$$
""" % {"limit": MAX_DEPTH}
# SQLite: a value's depth is one more than the most brackets and dots in any of its paths (``$`` is one deep,
# ``$[0].x`` three).
SQLITE_DEPTH = (
    "(SELECT 1 + max(length(fullkey) - length(replace(replace(fullkey, '[', ''), '.', ''))) "
    "FROM json_tree({value}))"
)


def _message(column: str) -> str:
    return f"{column} is nested deeper than {MAX_DEPTH} levels, which nothing postpilot reads does"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(PG_DEPTH_FUNCTION)
        for table, columns in COLUMNS.items():
            checks = " ".join(
                f"IF NEW.{c} IS NOT NULL AND postpilot_json_depth(NEW.{c}) > {MAX_DEPTH} THEN "
                f"RAISE EXCEPTION '{_message(c)}' USING ERRCODE = 'check_violation'; END IF;"
                for c in columns
            )
            op.execute(
                f"CREATE FUNCTION {table}_json_depth() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {checks} "
                "RETURN NEW; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {table}_json_depth BEFORE INSERT OR UPDATE OF {', '.join(columns)} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_json_depth()"
            )
    for table, columns in COLUMNS.items():
        for column in columns:
            deep = (
                f"postpilot_json_depth({column}) > {MAX_DEPTH}"
                if postgres
                else f"json_valid({column}) AND {SQLITE_DEPTH.format(value=column)} > {MAX_DEPTH}"
            )
            _set_aside(table, column, deep)
            if postgres:
                continue
            new_deep = f"json_valid(NEW.{column}) AND {SQLITE_DEPTH.format(value='NEW.' + column)} > {MAX_DEPTH}"
            for when in ("INSERT", f"UPDATE OF {column}"):
                tag = "ins" if when == "INSERT" else "upd"
                op.execute(
                    f"CREATE TRIGGER {table}_{column}_depth_{tag} BEFORE {when} ON {table} "
                    f"WHEN NEW.{column} IS NOT NULL AND {new_deep} "
                    f"BEGIN SELECT RAISE(ABORT, '{_message(column)}'); END"
                )


def _set_aside(table: str, column: str, deep: str) -> None:
    if table == "scheduled_posts":
        op.execute(
            f"UPDATE scheduled_posts SET last_error = '{_message(column)}; the post is held: write it again and run "
            "postpilot post retry ' || CAST(id AS TEXT), "
            "status = CASE WHEN status = 'publishing' THEN 'unconfirmed' "
            "WHEN status IN ('scheduled', 'preparing', 'ready') THEN 'failed' ELSE status END, "
            f"lease_owner = NULL, lease_until = NULL, {column} = NULL WHERE {column} IS NOT NULL AND {deep}"
        )
    else:
        op.execute(
            f"UPDATE post_series SET last_error = '{_message(column)}', {column} = NULL "
            f"WHERE {column} IS NOT NULL AND {deep}"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, columns in COLUMNS.items():
        if postgres:
            op.execute(f"DROP TRIGGER {table}_json_depth ON {table}")
            op.execute(f"DROP FUNCTION {table}_json_depth()")
            continue
        for column in columns:
            for tag in ("ins", "upd"):
                op.execute(f"DROP TRIGGER {table}_{column}_depth_{tag}")
    if postgres:
        op.execute("DROP FUNCTION postpilot_json_depth(json)")
