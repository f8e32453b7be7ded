"""``postpilot db upgrade | current``."""

from __future__ import annotations

import typer

from postpilot.cli.common import handle_errors, open_app
from postpilot.db import migrate

db_app = typer.Typer(help="Database schema: create or upgrade it, show its revision.", no_args_is_help=True)


@db_app.command("upgrade")
@handle_errors
def upgrade() -> None:
    """Create the tables or upgrade them to this version's schema (safe to run again)."""
    app = open_app(create=True)
    try:
        migrate.upgrade(app.engine)
        typer.echo(f"database at revision {migrate.current_revision(app.engine)} (head)")
    finally:
        app.close()


@db_app.command("current")
@handle_errors
def current() -> None:
    """Show the schema revision of the database and whether it is the one this version needs."""
    app = open_app()
    try:
        rev, head = migrate.current_revision(app.engine), migrate.head_revision()
        state = "head" if rev == head else f"needs upgrade to {head}: run postpilot db upgrade"
        typer.echo(f"{rev or 'empty'} ({state})")
    finally:
        app.close()
