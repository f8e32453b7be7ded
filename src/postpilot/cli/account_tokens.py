"""``postpilot account refresh | check | token``: an account's stored token, refreshed, verified against Meta,
or replaced by one a person gives."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from postpilot.cli.account_credentials import live_account, meta_app, read_token
from postpilot.cli.common import EXIT_POST_FAILED, handle_errors, open_app
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import LoginKind, utcnow
from postpilot.logging import register_secret


@handle_errors
def refresh(name: Annotated[str, typer.Argument(help="Account name.")]) -> None:
    """Refresh an Instagram-Login token (at least 24 h old and not expired) for another 60 days."""
    from postpilot.instagram import oauth  # requests-oauthlib costs ~6 MB: load it for these commands only

    app = open_app()
    try:
        account, token = live_account(app, name)
        if account.login_kind is not LoginKind.INSTAGRAM:
            raise InvalidInput(
                "Facebook Login tokens cannot be refreshed by the server: run "
                f"postpilot account connect {name} again before the token expires"
            )
        issued, expires = app.repo.account_token_times(account.id)
        fresh = oauth.refresh_instagram_token(
            http=app.http,
            graph_url=app.settings.instagram_graph_url,
            token=token,
            expires_at=expires,
            timeout_s=app.settings.graph_timeout_s,
            issued_at=issued,
            account=name,
        )
        register_secret(fresh.access_token)
        app.repo.set_account_token(
            account.id,
            token_encrypted=app.cipher.encrypt(fresh.access_token),
            expires_at=fresh.expires_at,
            issued_at=fresh.issued_at,
            keep_scopes=True,  # a refreshed token has the permissions the old one had
        )
        until = f"{fresh.expires_at:%Y-%m-%d}" if fresh.expires_at else "unknown"
        typer.echo(f"refreshed {name}: valid until {until}")
    finally:
        app.close()


@handle_errors
def check(name: Annotated[str, typer.Argument(help="Account name.")]) -> None:
    """Verify an account's token and its permissions. Exits 1 when it cannot publish."""
    from postpilot.instagram import oauth  # requests-oauthlib costs ~6 MB: load it for these commands only

    app = open_app()
    try:
        account, token = live_account(app, name)
        s = app.settings
        kind = account.login_kind
        app_id, secret = meta_app(app, kind)
        result = oauth.check_token(
            http=app.http,
            login_kind=kind,
            token=token,
            graph_url=s.graph_url if kind is LoginKind.FACEBOOK else s.instagram_graph_url,
            version=s.graph_version,
            timeout_s=s.graph_timeout_s,
            app_id=app_id,
            app_secret=secret,
            expires_at=account.token_expires_at,
        )
        if result.valid and not result.missing_scopes:
            until = f", expires {result.expires_at:%Y-%m-%d}" if result.expires_at else ""
            typer.echo(f"{name}: token valid{until}; scopes: {', '.join(result.scopes) or 'n/a'}")
            return
        problem = result.problem or f"missing permissions: {', '.join(result.missing_scopes)}"
        app.repo.mark_account_needs_reconnect(account.id, f"{problem}. Run: postpilot account connect {name}")
        typer.echo(f"{name}: cannot publish: {problem}. Run: postpilot account connect {name}", err=True)
        raise typer.Exit(EXIT_POST_FAILED)
    finally:
        app.close()


@handle_errors
def token(
    name: Annotated[str, typer.Argument(help="Account name.")],
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Days until the token expires, if you know (long-lived: 60).")
    ] = None,
) -> None:
    """Give an account a new access token (read from stdin or a hidden prompt, never from the command line).
    Clears 'needs reconnect'; waiting posts carry on."""
    app = open_app()
    try:
        account = app.repo.require_account(name)
        if account.dry_run:
            raise InvalidInput(f"{name} is a dry-run account: it needs no token")
        cipher = app.cipher
        new = read_token()
        register_secret(new)
        now = utcnow()
        app.repo.set_account_token(
            account.id,
            token_encrypted=cipher.encrypt(new),
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            issued_at=now,
        )
        typer.echo(f"{name}: new token saved (check it with postpilot account check {name})")
    finally:
        app.close()
