"""Where the account commands' secrets come from: the access token a person gives (stdin or a hidden prompt,
never argv), the one stored for an account, and the Meta app's id and secret from the settings."""

from __future__ import annotations

import sys

import typer

from postpilot.app import App
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import Account, LoginKind
from postpilot.logging import register_secret


def read_token() -> str:
    """From stdin when piped; from a hidden prompt on a terminal. Never from argv (visible in ps and history)."""
    tty = sys.stdin.isatty()
    token = (str(typer.prompt("Access token", hide_input=True)) if tty else sys.stdin.readline()).strip()
    if not token:
        raise InvalidInput("no access token given: pipe it on stdin (or use --dry-run for a test account)")
    return token


def parse_login(value: str) -> LoginKind:
    try:
        return LoginKind(value)
    except ValueError:
        raise InvalidInput(f"--login must be facebook or instagram (got {value!r})") from None


def meta_app(app: App, kind: LoginKind) -> tuple[str | None, str | None]:
    """The Meta app id and secret configured for a login kind (either may be missing)."""
    s = app.settings
    if kind is LoginKind.FACEBOOK:
        app_id, secret = s.facebook_app_id, s.facebook_app_secret
    else:
        app_id, secret = s.instagram_app_id, s.instagram_app_secret
    return app_id, secret.get_secret_value() if secret else None


def live_account(app: App, name: str) -> tuple[Account, str]:
    """A live account and its decrypted token; a dry-run account or one without a token is refused."""
    account = app.repo.require_account(name)
    if account.dry_run:
        raise InvalidInput(f"{name} is a dry-run account: it has no token")
    ciphertext = app.repo.account_token_encrypted(account.id)
    if not ciphertext:
        raise InvalidInput(f"{name} has no token: run postpilot account connect {name}")
    token = app.cipher.decrypt(ciphertext)
    register_secret(token)
    return account, token
