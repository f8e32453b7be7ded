"""Does a stored token still work, and with which permissions? ``check_token`` for ``account check`` and
``doctor``: Facebook Login tokens through ``/debug_token`` (with the app token), Instagram Login tokens through
``/me`` (the only way to tell), with the recorded expiry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from postpilot.domain.errors import (
    ConfigError,
    PostpilotError,
    Transient,
)
from postpilot.domain.model import LoginKind, utcnow
from postpilot.instagram.oauth_wire import (
    call,
    scopes_of,
    when,
)
from postpilot.instagram.scopes import FACEBOOK_PUBLISH_SCOPES
from postpilot.redaction import redact


@dataclass(frozen=True, slots=True)
class TokenCheck:
    valid: bool
    expires_at: datetime | None
    scopes: tuple[str, ...]
    missing_scopes: tuple[str, ...]
    user_id: str | None = None
    username: str | None = None
    problem: str | None = None  # why it is not valid, in plain words


# --- checking a token --------------------------------------------------------------------------------------


def check_token(
    *,
    http: httpx.Client,
    login_kind: LoginKind,
    token: str,
    graph_url: str,
    version: str,
    timeout_s: float,
    app_id: str | None = None,
    app_secret: str | None = None,
    expires_at: datetime | None = None,
    required_scopes: Sequence[str] | None = None,
    now: datetime | None = None,
) -> TokenCheck:
    """Does the token still work? A bad token gives ``valid=False`` with a ``problem``; trouble reaching Meta
    raises (``Transient``).

    Facebook Login: ``/debug_token`` with the app token ``APPID|SECRET`` (``app_id``/``app_secret``
    required) → validity, expiry, granted scopes. Instagram Login (``graph_url`` = the Instagram host):
    ``/me`` answers only with a working token, and the expiry is the recorded ``expires_at``.
    """
    base = f"{graph_url.rstrip('/')}/{version}" if version else graph_url.rstrip("/")
    if login_kind is LoginKind.FACEBOOK:
        if not app_id or not app_secret:
            raise ConfigError(
                "Checking a Facebook Login token needs the app id and secret "
                "(POSTPILOT_FACEBOOK_APP_ID, POSTPILOT_FACEBOOK_APP_SECRET)."
            )
        required = required_scopes or FACEBOOK_PUBLISH_SCOPES
        return _check_facebook(http, base, token, app_id, app_secret, timeout_s, required)
    return _check_instagram(http, base, token, timeout_s, expires_at, now or utcnow())


def _check_facebook(
    http: httpx.Client,
    base: str,
    token: str,
    app_id: str,
    app_secret: str,
    timeout_s: float,
    required: Sequence[str],
) -> TokenCheck:
    app_token = f"{app_id}|{app_secret}"
    try:
        body = call(
            http,
            "GET",
            f"{base}/debug_token",
            params={"input_token": token, "access_token": app_token},
            timeout_s=timeout_s,
            secrets=(token, app_token, app_secret),
        )
    except PostpilotError as exc:
        if isinstance(exc, Transient):
            raise
        # A refusal of debug_token itself is about the app token (the user's token is judged in data).
        raise ConfigError(f"Meta refused the app id/secret while checking the token: {exc.message}") from None
    data = body.get("data")
    info: Mapping[str, Any] = data if isinstance(data, dict) else {}
    scopes = scopes_of(info.get("scopes"))
    expires = info.get("expires_at")
    expires_at = (
        datetime.fromtimestamp(expires, UTC)
        if isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0
        else None  # 0 means "never" (a Page token)
    )
    valid = info.get("is_valid") is True
    problem = None
    if not valid:
        error = info.get("error")
        reason = error.get("message") if isinstance(error, dict) else None
        problem = "The token is no longer valid" + (f" ({redact(str(reason), [token])})" if reason else "") + "."
    return TokenCheck(
        valid=valid,
        expires_at=expires_at,
        scopes=scopes,
        missing_scopes=tuple(s for s in required if s not in scopes),
        user_id=None if info.get("user_id") is None else str(info.get("user_id")),
        problem=problem,
    )


def _check_instagram(
    http: httpx.Client, base: str, token: str, timeout_s: float, expires_at: datetime | None, now: datetime
) -> TokenCheck:
    try:
        body = call(
            http,
            "GET",
            f"{base}/me",
            params={"fields": "user_id,username"},
            bearer=token,
            timeout_s=timeout_s,
            secrets=(token,),
        )
    except PostpilotError as exc:
        if isinstance(exc, Transient):
            raise
        return TokenCheck(False, expires_at, (), (), problem=exc.message)
    expired = expires_at is not None and expires_at <= now
    user_id = body.get("user_id", body.get("id"))
    return TokenCheck(
        valid=not expired,
        expires_at=expires_at,
        scopes=(),  # Instagram Login has no way to list a token's permissions
        missing_scopes=(),
        user_id=None if user_id is None else str(user_id),
        username=body.get("username") if isinstance(body.get("username"), str) else None,
        problem=f"The token expired on {when(expires_at)}." if expired and expires_at else None,
    )
