"""Connecting an Instagram account, and keeping its token alive: the pieces behind ``postpilot account
connect | refresh | check``.

Two ways in, as Meta offers them:

- **Facebook Login** (an Instagram business account linked to a Facebook Page, ``graph.facebook.com``):
  ``facebook_authorization_url`` → the user approves and pastes the address they were sent back to →
  ``facebook_exchange`` (code → short-lived → long-lived user token, ~60 days) → ``list_pages_with_instagram``
  to pick the Page and its Instagram account, with the Page's token. A Page token obtained with a long-lived
  user token has no expiry date (Meta: "Long-lived Page access tokens do not have an expiration date"), and
  Meta's content-publishing guide names the Page token for publishing (the endpoint references accept the
  user token too), so the Page token is what postpilot stores: it lasts, the 60-day user token does not.
- **Instagram Login** (a professional account without a Page, ``graph.instagram.com``):
  ``instagram_authorization_url`` → ``instagram_exchange`` (code → short-lived → long-lived, 60 days; then
  ``GET /me?fields=user_id,username``, because the code exchange answers with an *app-scoped* user id and
  publishing needs the Instagram professional account id, ``user_id``) → ``refresh_instagram_token``,
  which the daemon calls by itself once a token is a day old and within 10 days of its end.

Permissions (Meta's IG User and content-publishing references): Facebook Login asks for
``instagram_basic``, ``instagram_content_publish``, ``pages_show_list``, ``pages_read_engagement`` and
``business_management`` (without it ``/me/accounts`` leaves out Pages owned by a Business Portfolio); when the
person's role on the Page was granted in Business Manager Meta also requires ``ads_read`` (or
``ads_management``), asked for with ``account connect --business-manager``. Instagram Login asks for
``instagram_business_basic`` and ``instagram_business_content_publish``.

``check_token`` tells whether a stored token still works. The code exchanges use requests-oauthlib (state
checking, form-encoded client credentials); the other calls use the caller's ``httpx.Client``.

Secrets: Meta's token endpoints take the client secret and tokens as query parameters; that is their API.
So no exception raised from here chains the HTTP library's exception (its text or its request carries the
URL with the query) and every message is passed through ``redact``. The HTTP libraries' own loggers
(``httpx`` at INFO, ``urllib3``/``requests_oauthlib`` at DEBUG) print full URLs and bodies: keep them at
WARNING in production logging.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import requests
from oauthlib.oauth2 import (
    AccessDeniedError,
    InsecureTransportError,
    MismatchingStateError,
    MissingCodeError,
    OAuth2Error,
)
from requests_oauthlib import OAuth2Session
from requests_oauthlib.compliance_fixes import facebook_compliance_fix

from postpilot.domain.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    PostpilotError,
    Transient,
)
from postpilot.domain.model import LoginKind, utcnow
from postpilot.instagram.error_table import classify_graph_error, public_url, redact

# What a Facebook Login token must hold to publish (``account check`` and ``doctor`` look for these).
FACEBOOK_PUBLISH_SCOPES: tuple[str, ...] = (
    "instagram_basic",
    "instagram_content_publish",
    "pages_read_engagement",
)
# What the Facebook Login dialog asks for: the above, the Page list, and Pages owned by a Business Portfolio.
FACEBOOK_SCOPES: tuple[str, ...] = (*FACEBOOK_PUBLISH_SCOPES, "pages_show_list", "business_management")
# Also needed when the person's role on the Page comes through Business Manager (Meta: ads_management or
# ads_read; the read-only one is enough for publishing).
BUSINESS_MANAGER_SCOPES: tuple[str, ...] = ("ads_read",)
INSTAGRAM_SCOPES: tuple[str, ...] = ("instagram_business_basic", "instagram_business_content_publish")
INSTAGRAM_TOKEN_LIFETIME = timedelta(days=60)
# Instagram refreshes only tokens at least a day old (and not yet expired).
REFRESH_MIN_AGE = timedelta(hours=24)
# Following /me/accounts pages: a person rarely administers more than a few hundred Pages.
MAX_PAGE_LIST_PAGES = 10


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str = field(repr=False)
    login_kind: LoginKind
    issued_at: datetime  # aware UTC: when postpilot received it
    expires_at: datetime | None  # aware UTC; None when Meta gave no expiry
    user_id: str | None = None  # Instagram Login: the Instagram professional account id (from /me)
    scopes: tuple[str, ...] = ()
    username: str | None = None


@dataclass(frozen=True, slots=True)
class PageChoice:
    page_id: str
    page_name: str
    ig_user_id: str
    # A Page token obtained with a long-lived user token has no expiry date (it can still be revoked).
    page_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PageListing:
    """The Pages ``/me/accounts`` returned: those with an Instagram account linked, and how many there were."""

    choices: list[PageChoice]
    pages_seen: int


@dataclass(frozen=True, slots=True)
class TokenCheck:
    valid: bool
    expires_at: datetime | None
    scopes: tuple[str, ...]
    missing_scopes: tuple[str, ...]
    user_id: str | None = None
    username: str | None = None
    problem: str | None = None  # why it is not valid, in plain words


# --- Facebook Login ----------------------------------------------------------------------------------------


def facebook_authorization_url(
    *,
    app_id: str,
    redirect_uri: str,
    dialog_base: str,
    version: str,
    scopes: Sequence[str] = FACEBOOK_SCOPES,
    state: str | None = None,
) -> tuple[str, str]:
    """The Facebook Login dialog address to open, and the state to hand back to ``facebook_exchange``."""
    session = facebook_compliance_fix(OAuth2Session(app_id, redirect_uri=redirect_uri, scope=list(scopes)))
    return _authorization_url(session, f"{dialog_base.rstrip('/')}/{version}/dialog/oauth", state)


def facebook_exchange(
    *,
    http: httpx.Client,
    app_id: str,
    app_secret: str,
    redirect_uri: str,
    redirect_response_url: str,
    state: str,
    graph_url: str,
    version: str,
    timeout_s: float,
    now: datetime | None = None,
) -> Token:
    """The address the user was sent back to → a long-lived user token (about 60 days)."""
    token_url = f"{graph_url.rstrip('/')}/{version}/oauth/access_token"
    short = _fetch_code_token(
        token_url=token_url,
        app_id=app_id,
        app_secret=app_secret,
        redirect_uri=redirect_uri,
        redirect_response_url=redirect_response_url,
        state=state,
        timeout_s=timeout_s,
        facebook=True,
    )
    short_token = _required_token(short)
    issued_at = now or utcnow()
    body = _call(
        http,
        "GET",
        token_url,
        params={
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret,
            "fb_exchange_token": short_token,
        },
        timeout_s=timeout_s,
        secrets=(app_secret, short_token),
    )
    return Token(
        access_token=_required_token(body),
        login_kind=LoginKind.FACEBOOK,
        issued_at=issued_at,
        expires_at=_expiry(body, issued_at),
    )


def list_pages_with_instagram(
    http: httpx.Client, *, token: str, graph_url: str, version: str, timeout_s: float
) -> PageListing:
    """The user's Facebook Pages that have an Instagram business account linked, with that account's id and
    the Page's own token."""
    url = f"{graph_url.rstrip('/')}/{version}/me/accounts"
    params = {"fields": "id,name,access_token,instagram_business_account", "limit": "100"}
    choices: list[PageChoice] = []
    seen = 0
    for _ in range(MAX_PAGE_LIST_PAGES):
        body = _call(http, "GET", url, params=params, bearer=token, timeout_s=timeout_s, secrets=(token,))
        data = body.get("data")
        for page in data if isinstance(data, list) else []:
            seen += 1
            choice = _page_choice(page) if isinstance(page, dict) else None
            if choice is not None:
                choices.append(choice)
        after = _next_cursor(body)
        if not after:
            break
        params = {**params, "after": after}
    return PageListing(choices=choices, pages_seen=seen)


def no_instagram_page_message(listing: PageListing, *, scopes: Sequence[str]) -> str:
    """What to tell a person whose login found no Page with an Instagram account, in plain words."""
    if listing.pages_seen == 0:
        hint = (
            "If the Page belongs to a Business Portfolio, make sure you allowed business_management and chose "
            "the Page in the login dialog"
        )
        if "ads_read" not in scopes:
            hint += "; if your role on the Page was given in Business Manager, connect again with --business-manager"
        return f"Facebook returned none of your Pages for this login. {hint}."
    return (
        f"none of the {listing.pages_seen} Facebook Page(s) this login can see has an Instagram professional "
        "account linked: link it in the Page's settings (Linked accounts), then connect again"
    )


def _page_choice(page: Mapping[str, Any]) -> PageChoice | None:
    ig = page.get("instagram_business_account")
    ig_id = ig.get("id") if isinstance(ig, dict) else None
    if ig_id is None or page.get("id") is None:
        return None
    page_token = page.get("access_token")
    return PageChoice(
        page_id=str(page["id"]),
        page_name=str(page.get("name") or ""),
        ig_user_id=str(ig_id),
        page_token=page_token if isinstance(page_token, str) else None,
    )


# --- Instagram Login ---------------------------------------------------------------------------------------


def instagram_authorization_url(
    *,
    app_id: str,
    redirect_uri: str,
    oauth_base: str,
    scopes: Sequence[str] = INSTAGRAM_SCOPES,
    state: str | None = None,
) -> tuple[str, str]:
    """The Instagram Login address to open, and the state to hand back to ``instagram_exchange``."""
    # Instagram wants the scopes comma-separated, hence one pre-joined "scope".
    session = OAuth2Session(app_id, redirect_uri=redirect_uri, scope=[",".join(scopes)])
    return _authorization_url(session, f"{oauth_base.rstrip('/')}/oauth/authorize", state)


def instagram_exchange(
    *,
    http: httpx.Client,
    app_id: str,
    app_secret: str,
    redirect_uri: str,
    redirect_response_url: str,
    state: str,
    api_url: str,
    graph_url: str,
    timeout_s: float,
    now: datetime | None = None,
) -> Token:
    """The address the user was sent back to → a long-lived Instagram user token (60 days, refreshable)."""
    short = _fetch_code_token(
        token_url=f"{api_url.rstrip('/')}/oauth/access_token",
        app_id=app_id,
        app_secret=app_secret,
        redirect_uri=redirect_uri,
        # Instagram appends "#_" to the redirect; it is not part of the answer.
        redirect_response_url=redirect_response_url.split("#", 1)[0],
        state=state,
        timeout_s=timeout_s,
        facebook=False,
    )
    short_token = _required_token(short)
    issued_at = now or utcnow()
    body = _call(
        http,
        "GET",
        f"{graph_url.rstrip('/')}/access_token",
        params={"grant_type": "ig_exchange_token", "client_secret": app_secret, "access_token": short_token},
        timeout_s=timeout_s,
        secrets=(app_secret, short_token),
    )
    long_token = _required_token(body)
    # The code exchange's user_id is app-scoped; /me's user_id is the professional account publishing needs.
    me = _call(
        http,
        "GET",
        f"{graph_url.rstrip('/')}/me",
        params={"fields": "user_id,username"},
        bearer=long_token,
        timeout_s=timeout_s,
        secrets=(app_secret, long_token),
    )
    user_id = me.get("user_id")
    username = me.get("username")
    return Token(
        access_token=long_token,
        login_kind=LoginKind.INSTAGRAM,
        issued_at=issued_at,
        expires_at=_expiry(body, issued_at) or issued_at + INSTAGRAM_TOKEN_LIFETIME,
        user_id=None if user_id is None else str(user_id),
        scopes=_scopes(short.get("permissions")),
        username=username if isinstance(username, str) else None,
    )


def refresh_instagram_token(
    *,
    http: httpx.Client,
    graph_url: str,
    token: str,
    expires_at: datetime | None,
    timeout_s: float,
    issued_at: datetime | None = None,
    account: str | None = None,
    now: datetime | None = None,
) -> Token:
    """A fresh 60-day token for an Instagram Login token that is at least 24 h old and not expired.

    Refuses locally (``Conflict``) rather than asking Meta when the token is too young or already expired.
    Without ``issued_at`` the token's age is taken as ``expires_at - 60 days`` (Instagram's lifetime).
    """
    now = now or utcnow()
    name = account or "NAME"
    if expires_at is not None and expires_at <= now:
        raise Conflict(
            f"The Instagram token expired on {_when(expires_at)}; an expired token cannot be refreshed. "
            f"Run: postpilot account connect {name}"
        )
    if issued_at is None and expires_at is not None:
        issued_at = expires_at - INSTAGRAM_TOKEN_LIFETIME
    if issued_at is not None and now - issued_at < REFRESH_MIN_AGE:
        raise Conflict(
            "The Instagram token is less than 24 hours old; Instagram refreshes only tokens at least a day "
            f"old. Try again after {_when(issued_at + REFRESH_MIN_AGE)}."
        )
    body = _call(
        http,
        "GET",
        f"{graph_url.rstrip('/')}/refresh_access_token",
        params={"grant_type": "ig_refresh_token", "access_token": token},
        timeout_s=timeout_s,
        secrets=(token,),
        account=account,
    )
    return Token(
        access_token=_required_token(body),
        login_kind=LoginKind.INSTAGRAM,
        issued_at=now,
        expires_at=_expiry(body, now) or now + INSTAGRAM_TOKEN_LIFETIME,
    )


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
        body = _call(
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
    scopes = _scopes(info.get("scopes"))
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
        body = _call(
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
        problem=f"The token expired on {_when(expires_at)}." if expired and expires_at else None,
    )


# --- the code exchange (requests-oauthlib) ------------------------------------------------------------------


def _authorization_url(session: OAuth2Session, url: str, state: str | None) -> tuple[str, str]:
    with session:
        try:
            address, new_state = session.authorization_url(url, state=state)
        except InsecureTransportError:
            raise ConfigError(f"The login dialog address must use https:// (got {public_url(url)}).") from None
    return str(address), str(new_state)


def _fetch_code_token(
    *,
    token_url: str,
    app_id: str,
    app_secret: str,
    redirect_uri: str,
    redirect_response_url: str,
    state: str,
    timeout_s: float,
    facebook: bool,
) -> dict[str, Any]:
    """The authorization code in ``redirect_response_url`` → Meta's short-lived token answer."""
    secrets = (app_secret,)
    with OAuth2Session(app_id, redirect_uri=redirect_uri, state=state) as session:
        if facebook:
            facebook_compliance_fix(session)
        session.register_compliance_hook("access_token_response", _meta_token_response(secrets))
        try:
            token = session.fetch_token(
                token_url,
                authorization_response=redirect_response_url,
                client_secret=app_secret,
                include_client_id=True,  # client id and secret in the form body, as Meta documents
                timeout=timeout_s,
            )
        except PostpilotError:
            raise
        except InsecureTransportError:
            raise ConfigError(
                "OAuth addresses must use https:// (the redirect address and Meta's token endpoint)."
            ) from None
        except MismatchingStateError:
            raise InvalidInput(
                "The pasted address does not belong to this login attempt; start the connection again."
            ) from None
        except AccessDeniedError:
            raise InvalidInput("The login was declined, so no token was issued; start again and approve it.") from None
        except MissingCodeError:
            raise InvalidInput(
                "The pasted address has no authorization code; paste the full address the browser was sent to."
            ) from None
        except OAuth2Error as exc:
            detail = redact(str(exc.description or exc.error), secrets)
            raise InvalidInput(f"The login did not complete: {detail}") from None
        except requests.RequestException as exc:
            raise _request_failure(token_url, exc, secrets) from None
        except ValueError as exc:  # unreadable answer from the token endpoint
            raise Transient(
                f"Meta's token endpoint ({public_url(token_url)}) sent an unreadable answer: "
                f"{redact(str(exc), secrets)}"
            ) from None
    return dict(token)


def _meta_token_response(secrets: Sequence[str]) -> Callable[[requests.Response], requests.Response]:
    """A compliance hook: Meta's error envelopes become our errors; ``{"data": [{…}]}`` is flattened."""

    def hook(response: requests.Response) -> requests.Response:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            raise _error_from_body(response.status_code, body, response.headers, secrets)
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            # Instagram Login's code exchange answers either flat or wrapped in "data".
            flat = data[0]
            response._content = json.dumps(flat).encode()
            response.headers["Content-Type"] = "application/json"
        return response

    return hook


def _request_failure(url: str, exc: requests.RequestException, secrets: Sequence[str]) -> PostpilotError:
    # requests puts the full URL (with its query) into its messages: strip it before showing anything.
    reason = "timed out" if isinstance(exc, requests.Timeout) else "failed"
    return Transient(f"The connection to Meta ({public_url(url)}) {reason}: {redact(str(exc), secrets)}")


# --- plain Graph calls over httpx ---------------------------------------------------------------------------


def _call(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    timeout_s: float,
    secrets: Sequence[str],
    params: Mapping[str, str] | None = None,
    bearer: str | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        response = http.request(method, url, params=dict(params or {}), headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        reason = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        # Not chained: the httpx exception holds the request, whose URL carries Meta's query secrets.
        raise Transient(f"The connection to Meta ({public_url(url)}) {reason}: {redact(str(exc), secrets)}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict) and "error" not in body:
        return body
    if response.is_success and body is None:
        raise Transient(f"Meta ({public_url(url)}) sent an answer postpilot could not read; try again.")
    raise _error_from_body(response.status_code, body, response.headers, secrets, account=account)


def _error_from_body(
    status: int,
    body: object,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    account: str | None = None,
) -> PostpilotError:
    """Our error for Meta's error body: Graph's ``{"error": {...}}`` or api.instagram.com's flat
    ``{"error_type", "code", "error_message"}``."""
    envelope: Mapping[str, Any] = {}
    if isinstance(body, dict):
        inner = body.get("error")
        envelope = inner if isinstance(inner, dict) else body
    message = envelope.get("message") or envelope.get("error_message") or envelope.get("error_description")
    user_msg = envelope.get("error_user_msg")
    transient = envelope.get("is_transient")
    return classify_graph_error(
        http_status=status,
        code=_opt_int(envelope.get("code")),
        subcode=_opt_int(envelope.get("error_subcode")),
        is_transient=transient if isinstance(transient, bool) else None,
        message=redact(message if isinstance(message, str) else "", secrets),
        user_msg=redact(user_msg, secrets) if isinstance(user_msg, str) else None,
        headers=headers,
        during="oauth",
        account=account,
    )


# --- small helpers -----------------------------------------------------------------------------------------


def _required_token(body: Mapping[str, Any]) -> str:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise Transient("Meta's answer had no access token; start the connection again.")
    return token


def _expiry(body: Mapping[str, Any], issued_at: datetime) -> datetime | None:
    seconds = _opt_int(body.get("expires_in"))
    return issued_at + timedelta(seconds=seconds) if seconds and seconds > 0 else None


def _scopes(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    if isinstance(value, list | tuple):
        return tuple(str(s) for s in value)
    return ()


def _opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
