"""``postpilot account connect``: OAuth with Facebook Login or Instagram Login, from the printed address to
the stored (encrypted) token. Facebook Login keeps the chosen Page's token, which does not expire."""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from postpilot.app import App
from postpilot.cli.account_credentials import meta_app, parse_login
from postpilot.cli.common import handle_errors, open_app
from postpilot.domain.errors import ConfigError, InvalidInput
from postpilot.domain.model import LoginKind
from postpilot.instagram.scopes import INSTAGRAM_PUBLISH_SCOPES
from postpilot.logging import register_secret

if TYPE_CHECKING:
    from postpilot.instagram import oauth


def _app_credentials(app: App, kind: LoginKind) -> tuple[str, str]:
    app_id, secret = meta_app(app, kind)
    if not app_id or secret is None:
        prefix = f"POSTPILOT_{kind.value.upper()}_APP"
        raise ConfigError(f"connecting needs your Meta app's id and secret: set {prefix}_ID and {prefix}_SECRET")
    return app_id, secret


@handle_errors
def connect(
    name: Annotated[str, typer.Argument(help="Account name (created if it does not exist).")],
    login: Annotated[str, typer.Option(help="facebook or instagram.")] = "facebook",
    page: Annotated[
        str | None,
        typer.Option(help="Facebook Login: the Page id or Instagram user id to use when several are available."),
    ] = None,
    business_manager: Annotated[
        bool,
        typer.Option(
            "--business-manager",
            help="Facebook Login: your role on the Page was given in Business Manager; also asks for ads_read, "
            "which Meta then requires.",
        ),
    ] = False,
) -> None:
    """Connect an account with OAuth: open the printed address, log in, then paste the address you were sent
    back to. Facebook Login stores the Page's token (it does not expire); Instagram Login stores the 60-day
    token, which the daemon refreshes by itself. Tokens are stored encrypted."""
    from postpilot.instagram import oauth  # requests-oauthlib costs ~6 MB: load it for these commands only

    kind = parse_login(login)
    app = open_app()
    try:
        s = app.settings
        cipher = app.cipher
        app_id, app_secret = _app_credentials(app, kind)
        register_secret(app_secret)
        scopes = (*oauth.FACEBOOK_SCOPES, *(oauth.BUSINESS_MANAGER_SCOPES if business_manager else ()))
        if kind is LoginKind.FACEBOOK:
            url, state = oauth.facebook_authorization_url(
                app_id=app_id,
                redirect_uri=s.oauth_redirect_uri,
                dialog_base=s.facebook_dialog_url,
                version=s.graph_version,
                scopes=scopes,
            )
        else:
            url, state = oauth.instagram_authorization_url(
                app_id=app_id, redirect_uri=s.oauth_redirect_uri, oauth_base=s.instagram_oauth_url
            )
        typer.echo("Open this address in a browser, log in and allow access:\n")
        typer.echo(f"  {url}\n", err=False)
        typer.echo("Then paste the full address the browser was sent back to:", err=True)
        redirect = (typer.prompt("Redirect URL") if sys.stdin.isatty() else sys.stdin.readline()).strip()
        if not redirect:
            raise InvalidInput("no redirect address given")
        if kind is LoginKind.FACEBOOK:
            token = oauth.facebook_exchange(
                http=app.http,
                app_id=app_id,
                app_secret=app_secret,
                redirect_uri=s.oauth_redirect_uri,
                redirect_response_url=redirect,
                state=state,
                graph_url=s.graph_url,
                version=s.graph_version,
                timeout_s=s.graph_timeout_s,
            )
            register_secret(token.access_token)
            listing = oauth.list_pages_with_instagram(
                app.http,
                token=token.access_token,
                graph_url=s.graph_url,
                version=s.graph_version,
                timeout_s=s.graph_timeout_s,
            )
            if not listing.choices:
                raise InvalidInput(oauth.no_instagram_page_message(listing, scopes=scopes))
            chosen = _choose(listing.choices, page)
            ig_user_id = chosen.ig_user_id
            if chosen.page_token:
                # The Page's token, got with a long-lived user token, does not expire: keep it rather than the
                # 60-day user token (both may publish; only one lasts).
                register_secret(chosen.page_token)
                token = dataclasses.replace(token, access_token=chosen.page_token, expires_at=None)
        else:
            token = oauth.instagram_exchange(
                http=app.http,
                app_id=app_id,
                app_secret=app_secret,
                redirect_uri=s.oauth_redirect_uri,
                redirect_response_url=redirect,
                state=state,
                api_url=s.instagram_api_url,
                graph_url=s.instagram_graph_url,
                timeout_s=s.graph_timeout_s,
            )
            register_secret(token.access_token)
            if not token.user_id:
                raise InvalidInput("Instagram did not say which professional account logged in (no user_id on /me)")
            ig_user_id = token.user_id
            # The only moment Meta says what an Instagram Login token may do: refuse one that cannot publish
            # rather than store it and fail the first post.
            missing = [s for s in INSTAGRAM_PUBLISH_SCOPES if token.scopes and s not in token.scopes]
            if missing:
                raise InvalidInput(
                    f"Instagram did not grant {', '.join(missing)}, which publishing needs: connect again and "
                    "leave every permission on in Instagram's dialog"
                )
            if token.scopes and "instagram_business_manage_comments" not in token.scopes:
                typer.echo(
                    "note: instagram_business_manage_comments was not granted: first comments will not be posted "
                    "for this account (connect again to allow them)",
                    err=True,
                )
        encrypted = cipher.encrypt(token.access_token)
        existing = app.repo.account_by_name(name)
        if existing is None:
            app.repo.create_account(
                name=name,
                ig_user_id=ig_user_id,
                login_kind=kind,
                dry_run=False,
                token_encrypted=encrypted,
                token_expires_at=token.expires_at,
                token_issued_at=token.issued_at,
                granted_scopes=token.scopes or None,
            )
        else:
            app.repo.set_account_token(
                existing.id,
                token_encrypted=encrypted,
                expires_at=token.expires_at,
                issued_at=token.issued_at,
                ig_user_id=ig_user_id,
                granted_scopes=token.scopes or None,
            )
        if token.expires_at:
            expiry = f", token valid until {token.expires_at:%Y-%m-%d}"
            if kind is LoginKind.INSTAGRAM:
                expiry += " (the daemon refreshes it)"
        else:
            expiry = ", Page token without an expiry date"
        typer.echo(f"connected {name} (Instagram user {ig_user_id}{expiry})")
    finally:
        app.close()


def _choose(choices: list[oauth.PageChoice], wanted: str | None) -> oauth.PageChoice:
    if wanted:
        for c in choices:
            if wanted in (c.page_id, c.ig_user_id):
                return c
        raise InvalidInput(
            f"no Page or Instagram account {wanted!r} among: "
            + ", ".join(f"{c.page_name} ({c.ig_user_id})" for c in choices)
        )
    if len(choices) == 1:
        return choices[0]
    for i, c in enumerate(choices, start=1):
        typer.echo(f"  {i}. {c.page_name} — Instagram user {c.ig_user_id}")
    picked = typer.prompt("Which one", type=int) if sys.stdin.isatty() else int(sys.stdin.readline().strip() or 0)
    if not 1 <= picked <= len(choices):
        raise InvalidInput(f"choose a number from 1 to {len(choices)}")
    return choices[picked - 1]
