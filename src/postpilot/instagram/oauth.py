"""Connecting an Instagram account, and keeping its token alive: the pieces behind ``postpilot account
connect | refresh | check``.

Two ways in, as Meta offers them:

- **Facebook Login** (an Instagram business account linked to a Facebook Page, ``graph.facebook.com``):
  ``facebook_authorization_url`` → the user approves and pastes the address they were sent back to →
  ``facebook_exchange`` (code → short-lived → long-lived user token, ~60 days) → ``list_pages_with_instagram``
  to pick the Page and its Instagram account, with the Page's token. Meta's endpoint references (IG User
  Media Publish, IG Container) name a *User* access token; a Page access token obtained with a long-lived
  user token carries the same person's grants for that Page and its linked Instagram account and has no
  expiry date ("Long-lived Page access tokens do not have an expiration date"), where the user token dies
  after about 60 days. postpilot stores the Page token because it lasts; that Meta's publishing edges take
  it is common practice rather than documented, so ``postpilot doctor`` proves it per account before the
  first post (it reads the account and its ``content_publishing_limit``, which needs
  ``instagram_content_publish``, with the stored token), and a refusal would show there, not at a post's
  minute.
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from requests_oauthlib import OAuth2Session
from requests_oauthlib.compliance_fixes import facebook_compliance_fix

from postpilot.domain.errors import (
    Conflict,
)
from postpilot.domain.model import LoginKind, utcnow
from postpilot.instagram.oauth_wire import (
    authorization_url,
    call,
    expiry,
    fetch_code_token,
    next_cursor,
    required_token,
    scopes_of,
    when,
)
from postpilot.instagram.scopes import (
    BUSINESS_MANAGER_SCOPES,
    FACEBOOK_PUBLISH_SCOPES,
    FACEBOOK_SCOPES,
    INSTAGRAM_SCOPES,
)
from postpilot.instagram.token_check import TokenCheck, check_token

__all__ = [
    "BUSINESS_MANAGER_SCOPES",
    "FACEBOOK_PUBLISH_SCOPES",
    "FACEBOOK_SCOPES",
    "INSTAGRAM_SCOPES",
    "PageChoice",
    "PageListing",
    "Token",
    "TokenCheck",
    "check_token",
    "facebook_authorization_url",
    "facebook_exchange",
    "instagram_authorization_url",
    "instagram_exchange",
    "list_pages_with_instagram",
    "no_instagram_page_message",
    "refresh_instagram_token",
]

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
    return authorization_url(session, f"{dialog_base.rstrip('/')}/{version}/dialog/oauth", state)


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
    short = fetch_code_token(
        token_url=token_url,
        app_id=app_id,
        app_secret=app_secret,
        redirect_uri=redirect_uri,
        redirect_response_url=redirect_response_url,
        state=state,
        timeout_s=timeout_s,
        facebook=True,
    )
    short_token = required_token(short)
    issued_at = now or utcnow()
    body = call(
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
        access_token=required_token(body),
        login_kind=LoginKind.FACEBOOK,
        issued_at=issued_at,
        expires_at=expiry(body, issued_at),
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
        body = call(http, "GET", url, params=params, bearer=token, timeout_s=timeout_s, secrets=(token,))
        data = body.get("data")
        for page in data if isinstance(data, list) else []:
            seen += 1
            choice = _page_choice(page) if isinstance(page, dict) else None
            if choice is not None:
                choices.append(choice)
        after = next_cursor(body)
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
    return authorization_url(session, f"{oauth_base.rstrip('/')}/oauth/authorize", state)


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
    short = fetch_code_token(
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
    short_token = required_token(short)
    issued_at = now or utcnow()
    body = call(
        http,
        "GET",
        f"{graph_url.rstrip('/')}/access_token",
        params={"grant_type": "ig_exchange_token", "client_secret": app_secret, "access_token": short_token},
        timeout_s=timeout_s,
        secrets=(app_secret, short_token),
    )
    long_token = required_token(body)
    # The code exchange's user_id is app-scoped; /me's user_id is the professional account publishing needs.
    me = call(
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
        expires_at=expiry(body, issued_at) or issued_at + INSTAGRAM_TOKEN_LIFETIME,
        user_id=None if user_id is None else str(user_id),
        scopes=scopes_of(short.get("permissions")),
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
            f"The Instagram token expired on {when(expires_at)}; an expired token cannot be refreshed. "
            f"Run: postpilot account connect {name}"
        )
    if issued_at is None and expires_at is not None:
        issued_at = expires_at - INSTAGRAM_TOKEN_LIFETIME
    if issued_at is not None and now - issued_at < REFRESH_MIN_AGE:
        raise Conflict(
            "The Instagram token is less than 24 hours old; Instagram refreshes only tokens at least a day "
            f"old. Try again after {when(issued_at + REFRESH_MIN_AGE)}."
        )
    body = call(
        http,
        "GET",
        f"{graph_url.rstrip('/')}/refresh_access_token",
        params={"grant_type": "ig_refresh_token", "access_token": token},
        timeout_s=timeout_s,
        secrets=(token,),
        account=account,
    )
    return Token(
        access_token=required_token(body),
        login_kind=LoginKind.INSTAGRAM,
        issued_at=now,
        expires_at=expiry(body, now) or now + INSTAGRAM_TOKEN_LIFETIME,
    )
