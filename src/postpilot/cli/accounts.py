"""``postpilot account add | list | connect | refresh | check | token | rename | remove``. Tokens never travel
in argv and are stored only encrypted (POSTPILOT_SECRET_KEY)."""

from __future__ import annotations

import dataclasses
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from postpilot.app import App
from postpilot.cli.common import EXIT_POST_FAILED, handle_errors, open_app
from postpilot.domain.errors import ConfigError, InvalidInput
from postpilot.domain.model import Account, LoginKind, utcnow
from postpilot.domain.timeparse import parse_duration
from postpilot.logging import register_secret

if TYPE_CHECKING:
    from postpilot.instagram import oauth

account_app = typer.Typer(
    help="Instagram accounts: add, list, connect (OAuth), refresh and check tokens, set a token, rename, remove.",
    no_args_is_help=True,
)


def _read_token() -> str:
    """From stdin when piped; from a hidden prompt on a terminal. Never from argv (visible in ps and history)."""
    tty = sys.stdin.isatty()
    token = (str(typer.prompt("Access token", hide_input=True)) if tty else sys.stdin.readline()).strip()
    if not token:
        raise InvalidInput("no access token given: pipe it on stdin (or use --dry-run for a test account)")
    return token


def _login(value: str) -> LoginKind:
    try:
        return LoginKind(value)
    except ValueError:
        raise InvalidInput(f"--login must be facebook or instagram (got {value!r})") from None


@account_app.command("add")
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
    kind = _login(login)
    if not ig_user_id.strip().isdigit():
        raise InvalidInput(f"--ig-user-id must be the numeric Instagram user id (got {ig_user_id!r})")
    app = open_app()
    try:
        encrypted = None
        if not dry_run:
            cipher = app.cipher  # refuses without a key, before asking for the token
            token = _read_token()
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


@account_app.command("list")
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


def _meta_app(app: App, kind: LoginKind) -> tuple[str | None, str | None]:
    """The Meta app id and secret configured for a login kind (either may be missing)."""
    s = app.settings
    if kind is LoginKind.FACEBOOK:
        app_id, secret = s.facebook_app_id, s.facebook_app_secret
    else:
        app_id, secret = s.instagram_app_id, s.instagram_app_secret
    return app_id, secret.get_secret_value() if secret else None


def _app_credentials(app: App, kind: LoginKind) -> tuple[str, str]:
    app_id, secret = _meta_app(app, kind)
    if not app_id or secret is None:
        prefix = f"POSTPILOT_{kind.value.upper()}_APP"
        raise ConfigError(f"connecting needs your Meta app's id and secret: set {prefix}_ID and {prefix}_SECRET")
    return app_id, secret


@account_app.command("connect")
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

    kind = _login(login)
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
            )
        else:
            app.repo.set_account_token(
                existing.id,
                token_encrypted=encrypted,
                expires_at=token.expires_at,
                issued_at=token.issued_at,
                ig_user_id=ig_user_id,
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


def _live_account(app: App, name: str) -> tuple[Account, str]:
    account = app.repo.require_account(name)
    if account.dry_run:
        raise InvalidInput(f"{name} is a dry-run account: it has no token")
    ciphertext = app.repo.account_token_encrypted(account.id)
    if not ciphertext:
        raise InvalidInput(f"{name} has no token: run postpilot account connect {name}")
    token = app.cipher.decrypt(ciphertext)
    register_secret(token)
    return account, token


@account_app.command("refresh")
@handle_errors
def refresh(name: Annotated[str, typer.Argument(help="Account name.")]) -> None:
    """Refresh an Instagram-Login token (at least 24 h old and not expired) for another 60 days."""
    from postpilot.instagram import oauth  # requests-oauthlib costs ~6 MB: load it for these commands only

    app = open_app()
    try:
        account, token = _live_account(app, name)
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
        )
        until = f"{fresh.expires_at:%Y-%m-%d}" if fresh.expires_at else "unknown"
        typer.echo(f"refreshed {name}: valid until {until}")
    finally:
        app.close()


@account_app.command("check")
@handle_errors
def check(name: Annotated[str, typer.Argument(help="Account name.")]) -> None:
    """Verify an account's token and its permissions. Exits 1 when it cannot publish."""
    from postpilot.instagram import oauth  # requests-oauthlib costs ~6 MB: load it for these commands only

    app = open_app()
    try:
        account, token = _live_account(app, name)
        s = app.settings
        kind = account.login_kind
        app_id, secret = _meta_app(app, kind)
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


@account_app.command("token")
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
        new = _read_token()
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


@account_app.command("rename")
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


@account_app.command("remove")
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


@account_app.command("notify")
@handle_errors
def notify(
    name: Annotated[str, typer.Argument(help="Account name.")],
    url: Annotated[list[str] | None, typer.Option(help="An Apprise URL for this account (repeat for several).")] = None,
    events: Annotated[
        str, typer.Option(help="Which events go there: failed,unconfirmed,missed,reconnect,published.")
    ] = "failed,unconfirmed,missed,reconnect",
    clear: Annotated[bool, typer.Option("--clear", help="Remove this account's own channels.")] = False,
) -> None:
    """Send this account's events to its own channels too (besides POSTPILOT_NOTIFY_URLS). The URLs are stored
    encrypted with POSTPILOT_SECRET_KEY and shown by scheme and host only."""
    from postpilot.domain.notifications import parse_kinds
    from postpilot.notify.channels import AppriseSender, channel_id, shown

    app = open_app()
    try:
        account = app.repo.require_account(name)
        if clear:
            removed = app.repo.remove_account_channels(account.id)
            typer.echo(f"{name}: removed {removed} channel(s)")
            return
        if not url:
            for row in app.repo.account_channels(account.id):
                typer.echo(f"{shown(app.cipher.decrypt(row.url_encrypted))}  {row.events}")
            return
        try:
            kinds = parse_kinds(events)
        except ValueError as exc:
            raise InvalidInput(f"--events: {exc}") from None
        checker = AppriseSender()
        for one in url:
            register_secret(one)
            problem = checker.check(one)
            if problem:
                raise InvalidInput(problem)
        cipher = app.cipher
        names = ",".join(sorted(k.value for k in kinds))
        for one in url:
            app.repo.add_account_channel(
                account.id, url_encrypted=cipher.encrypt(one), channel=channel_id(one), events=names
            )
            typer.echo(f"{name}: {shown(one)} gets {names}")
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


@account_app.command("set")
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
