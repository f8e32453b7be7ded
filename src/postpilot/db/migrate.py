"""Schema migrations through Alembic, driven from our own engine (``postpilot db upgrade | current``).

Alembic (and Mako under it) costs about 10 MB of RSS, so it is imported only to migrate. The daemon's start-up
check and ``/readyz`` compare the stored revision with ``HEAD_REVISION`` using a plain query instead;
``tests/integration/test_schema.py`` holds that constant equal to the migration scripts' head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

import postpilot.migrations as migrations_pkg

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in migrations/versions; bump it with every new migration.
HEAD_REVISION = "0015"


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations_pkg.__file__).parent))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def head_revision() -> str:
    return HEAD_REVISION


def schema_problem(current: str | None) -> str | None:
    """The one message every command, the daemon, ``/readyz`` and ``doctor`` give for a schema that is not the
    one this version needs (None when it is)."""
    if current == HEAD_REVISION:
        return None
    return f"the database schema is at {current or 'nothing'}, but this version needs {HEAD_REVISION}: " + (
        "run postpilot db upgrade"
    )


def script_head() -> str | None:
    """The head according to the migration scripts themselves (loads Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None for a database that was never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
