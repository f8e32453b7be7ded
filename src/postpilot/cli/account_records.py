"""``postpilot account add | list | rename | remove | set``: the account rows themselves and their settings
(approval, time zone, duplicate guard, how far ahead posts are prepared)."""

from __future__ import annotations

from typing import Annotated

import typer

from postpilot.cli.account_credentials import parse_login, read_token
from postpilot.cli.common import handle_errors, open_app
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import utcnow
from postpilot.domain.timeparse import parse_duration
from postpilot.logging import register_secret


@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="A short name for the account, used by the other commands.")],
    ig_user_id: Annotated[str, typer.Option(help="The Instagram user id (a number) to publish as.")],
    login: Annotated[str, typer.Option(help="facebook (Instagram API with Facebook Login) or instagram.")] = "facebook",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="A test account: the full pipeline runs, nothing is sent to Instagram, posts end 'simulated'.",
        ),
    ] = False,
) -> None:
    """Add an account. The token is read from stdin (or a hidden prompt); a --dry-run account needs none.
    Prints the new account's id."""
    kind = parse_login(login)
    if not ig_user_id.strip().isdigit():
        raise InvalidInput(f"--ig-user-id must be the numeric Instagram user id (got {ig_user_id!r})")
    app = open_app()
    try:
        encrypted = None
        if not dry_run:
            cipher = app.cipher  # refuses without a key, before asking for the token
            token = read_token()
            register_secret(token)
            encrypted = cipher.encrypt(token)
        account_id = app.repo.create_account(
            name=name,
            ig_user_id=ig_user_id.strip(),
            login_kind=kind,
            dry_run=dry_run,
            token_encrypted=encrypted,
            token_issued_at=None if dry_run else utcnow(),
        )
        typer.echo(account_id)
    finally:
        app.close()


@handle_errors
def list_() -> None:
    """List accounts (never shows a token)."""
    app = open_app()
    try:
        accounts = app.repo.list_accounts()
        if not accounts:
            typer.echo("no accounts (add one with: postpilot account add NAME --ig-user-id ID [--dry-run])")
            return
        rows = [("ID", "NAME", "IG USER ID", "LOGIN", "MODE", "TOKEN", "STATE", "SETTINGS")]
        for a in accounts:
            token = "n/a" if a.dry_run else ("stored" if a.has_token else "missing")
            if a.token_expires_at:
                token += f", expires {a.token_expires_at:%Y-%m-%d}"
            state = "needs reconnect" if a.needs_reconnect else ("paused" if not a.is_active else "ok")
            settings = [a.time_zone]
            if a.require_approval:
                settings.append("approval")
            if a.prepare_ahead_s is not None:
                settings.append(f"prepare {_hours(a.prepare_ahead_s)} ahead")
            if not a.duplicate_guard:
                settings.append("repeats allowed")
            mode = "dry-run" if a.dry_run else "live"
            rows.append((str(a.id), a.name, a.ig_user_id, a.login_kind.value, mode, token, state, ", ".join(settings)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            typer.echo("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    finally:
        app.close()


@handle_errors
def rename(
    name: Annotated[str, typer.Argument(help="The account's current name.")],
    new_name: Annotated[str, typer.Argument(help="Its new name.")],
) -> None:
    """Rename an account; its posts and token stay as they are."""
    app = open_app()
    try:
        account = app.repo.require_account(name)
        app.repo.rename_account(account.id, new_name.strip())
        typer.echo(f"{name} is now {new_name.strip()}")
    finally:
        app.close()


@handle_errors
def remove(
    name: Annotated[str, typer.Argument(help="Account name.")],
    with_posts: Annotated[
        bool, typer.Option("--with-posts", help="Also delete the account's finished posts and their history.")
    ] = False,
) -> None:
    """Remove an account and its token. Refused while it has posts still to publish (cancel them first); with
    posts already finished, only with --with-posts."""
    app = open_app()
    try:
        account = app.repo.require_account(name)
        removed = app.repo.remove_account(account.id, with_posts=with_posts)
        typer.echo(f"removed {name}" + (f" and {removed} finished post(s)" if removed else ""))
    finally:
        app.close()


# Prepared images wait in the store; a month ahead is plenty, and keeps a typo (300d) from preparing a year.
PREPARE_AHEAD_MAX_S = 30 * 86400


def _hours(seconds: float) -> str:
    if seconds % 86400 == 0 and seconds >= 2 * 86400:  # 24h reads better than 1d
        return f"{int(seconds // 86400)}d"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 60)}m"


@handle_errors
def set_(
    name: Annotated[str, typer.Argument(help="Account name.")],
    require_approval: Annotated[
        bool | None,
        typer.Option(
            "--require-approval/--no-require-approval",
            help="Every post waits, once prepared, until someone runs postpilot post approve ID.",
        ),
    ] = None,
    tz: Annotated[
        str | None, typer.Option(help="The IANA time zone of the account's people (e.g. Europe/Paris).")
    ] = None,
    duplicate_guard: Annotated[
        bool | None,
        typer.Option(
            "--duplicate-guard/--no-duplicate-guard",
            help="Hold a post whose caption and media repeat a recent one (on by default; the window is "
            "POSTPILOT_DUPLICATE_WINDOW_S).",
        ),
    ] = None,
    prepare_ahead: Annotated[
        str | None,
        typer.Option(
            help="Prepare its posts this long before their time (e.g. 24h, so they can be looked at and approved "
            "a day ahead; at most 30d), or 'default' for POSTPILOT_PREPARE_AHEAD_S."
        ),
    ] = None,
) -> None:
    """Change an account's settings."""
    if require_approval is None and tz is None and prepare_ahead is None and duplicate_guard is None:
        raise InvalidInput(
            "nothing to change: give --require-approval, --no-require-approval, --tz, --prepare-ahead or "
            "--duplicate-guard / --no-duplicate-guard"
        )
    if tz is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {tz!r}; use an IANA name such as Europe/Paris") from None
    ahead: int | None = None
    if prepare_ahead is not None and prepare_ahead.strip().lower() != "default":
        ahead = parse_duration(prepare_ahead, "--prepare-ahead")
        if ahead > PREPARE_AHEAD_MAX_S:
            raise InvalidInput(f"--prepare-ahead is at most 30d (got {prepare_ahead!r})")
    app = open_app()
    try:
        account = app.repo.require_account(name)
        if require_approval is not None:
            app.repo.set_account_require_approval(account.id, require_approval)
            state = "requires approval" if require_approval else "publishes without approval"
            typer.echo(f"{name} {state}")
        if duplicate_guard is not None:
            app.repo.set_account_duplicate_guard(account.id, duplicate_guard)
            state = "holds posts that repeat a recent one" if duplicate_guard else "allows repeated posts"
            typer.echo(f"{name} {state}")
        if prepare_ahead is not None:
            app.repo.set_account_prepare_ahead(account.id, ahead)
            default = app.settings.prepare_ahead_s
            shown_ahead = _hours(ahead) if ahead is not None else f"{_hours(default)} (POSTPILOT_PREPARE_AHEAD_S)"
            typer.echo(f"{name} prepares its posts {shown_ahead} before their time")
        if tz is not None:
            app.repo.set_account_time_zone(account.id, tz)
            typer.echo(f"{name} shows times in {tz}")
    finally:
        app.close()
