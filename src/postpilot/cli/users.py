"""``postpilot user add | list | remove | password``: who may log in to the review page.

Passwords are read from stdin when it is not a terminal (one line, for scripts: ``echo … | postpilot user
add maria``), else from a hidden prompt asked twice. Only their Argon2 hash is stored.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from postpilot.cli.common import handle_errors, open_app
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import utcnow
from postpilot.domain.users import Role, check_name, check_password, parse_role

user_app = typer.Typer(
    help="People who may log in to the review page (POSTPILOT_WEB_LISTEN): add, list, remove, password.",
    no_args_is_help=True,
)


def _read_password() -> str:
    if sys.stdin.isatty():
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput("no password on stdin: pipe one line, or run the command on a terminal")
        entered = line.rstrip("\r\n")
    return check_password(entered)


def _hash(password: str) -> str:
    from postpilot.review.passwords import hash_password  # argon2 only, never Flask

    return hash_password(password)


@user_app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="The login name (letters, digits, . _ @ -).")],
    role: Annotated[
        str, typer.Option(help="reviewer (looks and acts: approve, reject, retry…) or viewer (looks only).")
    ] = Role.REVIEWER.value,
) -> None:
    """Add a user of the review page; the password (10 characters or more) comes from stdin or a hidden prompt."""
    check_name(name)
    chosen = parse_role(role)
    password_hash = _hash(_read_password())
    app = open_app()
    try:
        app.repo.add_review_user(name=name, password_hash=password_hash, role=chosen)
    finally:
        app.close()
    typer.echo(f"user {name} added ({chosen.value}); they log in at the review page")


@user_app.command("list")
@handle_errors
def list_() -> None:
    """List the users with their role, last login and whether they are locked out."""
    app = open_app()
    try:
        users = app.repo.list_review_users()
    finally:
        app.close()
    if not users:
        typer.echo("no users (add one with postpilot user add NAME)")
        return
    now = utcnow()
    rows = [("NAME", "ROLE", "LAST LOGIN (UTC)", "STATE")]
    for u in users:
        if u.locked_at(now) and u.locked_until is not None:
            state = f"locked until {u.locked_until:%Y-%m-%d %H:%M} (postpilot user password {u.name} unlocks)"
        elif u.failed_logins:
            state = f"{u.failed_logins} wrong password(s) since the last login"
        else:
            state = "ok"
        last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
        rows.append((u.name, u.role.value, last, state))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        typer.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:3])) + "  " + r[3])


@user_app.command("remove")
@handle_errors
def remove(name: Annotated[str, typer.Argument(help="The login name.")]) -> None:
    """Remove a user; their open sessions end at their next click."""
    app = open_app()
    try:
        app.repo.remove_review_user(name)
    finally:
        app.close()
    typer.echo(f"user {name} removed")


@user_app.command("password")
@handle_errors
def password(name: Annotated[str, typer.Argument(help="The login name.")]) -> None:
    """Set a new password (stdin or a hidden prompt); also lifts a lockout and ends the user's open sessions."""
    app = open_app()
    try:
        app.repo.require_review_user(name)
        app.repo.set_review_user_password(name, _hash(_read_password()))
    finally:
        app.close()
    typer.echo(f"new password set for {name}; a lockout, if any, is lifted")
