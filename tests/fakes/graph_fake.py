"""A wire-level fake of the Instagram Graph API, in the styles of all three of Meta's hosts.

One server answers the paths of ``graph.facebook.com`` (Facebook Login), ``graph.instagram.com``
(Instagram Login) and ``api.instagram.com`` (Instagram Login's code exchange): tests point every base URL
at it. Paths may carry a version segment (``/v25.0/...``) or not.

It behaves like Meta's service, not like any particular client: tokens in the ``Authorization: Bearer``
header or in an ``access_token`` query/form parameter, form or JSON bodies, Meta's error envelope, the
container state machine (``IN_PROGRESS`` → ``FINISHED`` | ``ERROR`` → ``PUBLISHED`` | ``EXPIRED``), a
rolling 24 h publishing quota (a carousel counts once), the 400-containers-a-day limit, OAuth token
exchanges, and scriptable faults, including "published, but the response was lost".

Usage in a test::

    state = GraphState()
    state.add_account("17841400000000001", "tok-1", username="brand")
    with make_server(state) as server:        # server.url -> http://127.0.0.1:<port>
        ...                                    # drive the code under test
    assert state.published_count("17841400000000001") == 1

In its own process: ``python -m tests.fakes.graph_fake --port 0`` prints
``READY http://127.0.0.1:<port>`` and is driven and inspected through a small JSON admin API under
``/_fake/`` (see ``_admin``).

Where Meta's behaviour is undocumented (publishing a container twice, the container-limit error, refreshing a
young token) the fake picks one plausible answer and, where tests may want another, makes it a setting.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.base import FakeHandler, FakeServer

# --- constants ----------------------------------------------------------------------------------------------

DAY_S = 86_400
LONG_LIVED_EXPIRES_IN = 5_183_944  # what Meta answers for a fresh 60-day token
LONG_LIVED_TTL_S = 60 * DAY_S
FB_SHORT_TTL_S = 2 * 3600
IG_SHORT_TTL_S = 3600
CODE_TTL_S = 600
MAX_IMAGE_BYTES = 8 * 1024 * 1024

FB_SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
)
IG_SCOPES = ("instagram_business_basic", "instagram_business_content_publish")
_BASIC_SCOPE = {"facebook": "instagram_basic", "instagram": "instagram_business_basic"}
_PUBLISH_SCOPE = {"facebook": "instagram_content_publish", "instagram": "instagram_business_content_publish"}

FAULT_KINDS = ("create", "status", "publish", "limit", "media_read", "account", "oauth", "any")

_VERSION_RE = re.compile(r"^v\d+(\.\d+)?$")
_HASHTAG_RE = re.compile(r"#\w+")
_MENTION_RE = re.compile(r"@[\w.]+")

_HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>Error</title></head>"
    b"<body><h1>Sorry, something went wrong.</h1><p>We're working on it.</p></body></html>"
)

# Meta puts a generic text in ``message`` and the specifics in ``error_user_title`` / ``error_user_msg``.
_CODE_MESSAGES: dict[int, str] = {
    -2: "Media upload has failed",
    -1: "An unexpected error has occurred. Please retry your request later.",
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "Application request limit reached",
    9: "Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    24: "The requested resource does not exist",
    25: "The Instagram account is restricted",
    100: "Invalid parameter",
    190: "Invalid OAuth access token",
    200: "(#200) Permissions error",
    352: "The video format is not supported",
    2500: "Unknown path components",
    9004: "Media download has failed.",
    9007: "Media ID is not available",
    36000: "The image size is too large.",
    36001: "The image format is not supported.",
    36003: "The aspect ratio is not supported.",
    36004: "The caption is too long.",
    80002: (
        "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. "
        "For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
    ),
}
_SUBCODE_USER: dict[int, tuple[str, str]] = {
    2207001: ("Instagram server error", "Instagram server error. Try again."),
    2207003: ("Media download timed out", "It takes too long to download the media."),
    2207004: ("Image size too large", "The image is too large to download. It should be less than 8 MiB."),
    2207005: ("Unsupported image format", "The image format is not supported. Use JPEG."),
    2207006: ("Media not found", "The media with the given id cannot be found."),
    2207008: ("Media builder expired", "The media builder does not exist or has expired."),
    2207009: ("Unsupported aspect ratio", "The submitted image's aspect ratio or size cannot be published."),
    2207010: ("Caption too long", "The caption is too long, or has too many hashtags or mentions."),
    2207020: ("Media expired", "The media you are trying to access has expired. Please try to upload again."),
    2207023: ("Unknown media type", "The media type is unknown."),
    2207026: ("Unsupported video", "The video format is not supported."),
    2207027: ("Media not ready", "The media is not ready for publishing, please wait for a moment."),
    2207028: ("Carousel size", "A carousel needs between 2 and 10 photos or videos."),
    2207042: (
        "Publishing limit reached",
        "You reached maximum number of posts that is allowed to be published by Content Publishing API.",
    ),
    2207050: ("Account restricted", "The Instagram account is inactive, checkpointed or restricted."),
    2207051: (
        "Action blocked",
        "We restrict certain activity to protect our community. Tell us if you think we made a mistake.",
    ),
    2207052: ("Media download failed", "The media could not be fetched from this URI."),
    2207057: (
        "Bad thumbnail offset",
        "Thumbnail offset must be at least 0 and less than the video duration.",
    ),
}
_TRANSIENT_CODES = frozenset({-2, -1, 1, 2, 4, 17, 32, 341, 613, 80002})
# Status-check codes of a container that ended in ERROR, mapped to the error the fetch produces synchronously
# when ``media_errors_sync`` is on.
_SUBCODE_TO_CODE = {2207004: 36000, 2207005: 36001, 2207009: 36003, 2207026: 352, 2207052: 9004, 2207003: -2}

_STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been published.",
    "EXPIRED": "Expired: Media was not published within 24 hours.",
}


def _meta_time(ts: float) -> str:
    """Meta's timestamp format: ISO 8601 with a ``+0000`` offset (no colon)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _trace_id() -> str:
    return secrets.token_urlsafe(8)[:11]


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


# --- errors -------------------------------------------------------------------------------------------------


class GraphError(Exception):
    """One error answer, rendered in Meta's envelope (or, for ``api.instagram.com``, its older flat form)."""

    def __init__(
        self,
        code: int,
        subcode: int | None = None,
        message: str | None = None,
        *,
        http_status: int = 400,
        transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        err_type: str = "OAuthException",
        headers: dict[str, str] | None = None,
        instagram_oauth_style: bool = False,
    ) -> None:
        self.code = code
        self.subcode = subcode
        self.message = message or _CODE_MESSAGES.get(code, "An error occurred")
        self.http_status = http_status
        self.transient = code in _TRANSIENT_CODES if transient is None else transient
        default_title, default_msg = _SUBCODE_USER.get(subcode or 0, (None, None))
        self.user_title = user_title or default_title
        self.user_msg = user_msg or default_msg
        self.err_type = err_type
        self.headers = dict(headers or {})
        self.instagram_oauth_style = instagram_oauth_style
        super().__init__(self.message)

    def payload(self) -> dict[str, Any]:
        if self.instagram_oauth_style:
            return {"error_type": self.err_type, "code": self.http_status, "error_message": self.message}
        err: dict[str, Any] = {"message": self.message, "type": self.err_type, "code": self.code}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        err["is_transient"] = self.transient
        if self.user_title:
            err["error_user_title"] = self.user_title
        if self.user_msg:
            err["error_user_msg"] = self.user_msg
        err["fbtrace_id"] = _trace_id()
        return {"error": err}

    def response(self) -> Resp:
        headers = dict(self.headers)
        if self.code == 190 and not self.instagram_oauth_style:
            headers.setdefault("WWW-Authenticate", f'OAuth "Facebook Platform" "invalid_token" "{self.message}"')
        return Resp(self.http_status, self.payload(), headers=headers)


def _not_found(object_id: str, method: str = "get") -> GraphError:
    return GraphError(
        100,
        33,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        err_type="GraphMethodException",
    )


def _bad_param(user_msg: str, subcode: int | None = None, code: int = 100) -> GraphError:
    return GraphError(code, subcode, f"(#{code}) Invalid parameter", user_title="Invalid parameter", user_msg=user_msg)


# --- records ------------------------------------------------------------------------------------------------


@dataclass
class FakeAccount:
    ig_user_id: str
    username: str
    login_kind: str  # "facebook" | "instagram"
    scopes: tuple[str, ...]
    quota_total: int
    quota_duration: int
    fb_user_id: str | None  # Facebook Login: the Facebook user who manages the Page
    page_id: str | None
    app_scoped_id: str  # Instagram Login's ``/me`` ``id`` (not the IG user id!)
    publish_times: list[float] = field(default_factory=list)
    container_times: list[float] = field(default_factory=list)


@dataclass
class FakeToken:
    value: str
    login_kind: str
    ig_user_ids: set[str]
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float | None  # None: never expires (e.g. a Page token from a long-lived user token)
    kind: str  # "short" | "long" | "page"
    user_id: str  # Facebook user id, Instagram user id, or Page id — what debug_token reports
    app_id: str | None = None
    expired: bool = False  # forced by a test or a fault
    revoked_subcode: int | None = None

    def is_expired(self, now: float) -> bool:
        return self.expired or (self.expires_at is not None and now >= self.expires_at)


@dataclass
class FakePage:
    page_id: str
    name: str
    fb_user_id: str
    ig_user_id: str | None
    # Owned by a Business Portfolio: /me/accounts lists it only to tokens with business_management.
    business_owned: bool = False
    # The person's role on the Page was granted in Business Manager: Meta then also wants ads_read or
    # ads_management for the Page's Instagram account.
    role_via_business_manager: bool = False


@dataclass
class FakeApp:
    app_id: str
    secret: str
    redirect_uri: str
    login_kind: str
    name: str = "postpilot-test"


@dataclass
class FakeCode:
    code: str
    app_id: str
    ig_user_id: str
    scopes: tuple[str, ...]
    redirect_uri: str
    issued_at: float
    used: bool = False


@dataclass
class FakeContainer:
    id: str
    ig_user_id: str
    media_type: str  # IMAGE | VIDEO | CAROUSEL | REELS | STORIES
    is_carousel_item: bool
    created_at: float
    ready_at: float
    image_url: str | None = None
    video_url: str | None = None
    caption: str = ""
    alt_text: str | None = None
    children: list[str] = field(default_factory=list)
    share_to_feed: bool | None = None
    cover_url: str | None = None
    thumb_offset: int | None = None
    outcome: str = "FINISHED"  # what the container becomes once processed: FINISHED | ERROR | EXPIRED | IN_PROGRESS
    error_subcode: int | None = None
    forced_status: str | None = None  # set by a test: wins over everything
    published_media_id: str | None = None
    hidden_reads: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ig_user_id": self.ig_user_id,
            "media_type": self.media_type,
            "is_carousel_item": self.is_carousel_item,
            "image_url": self.image_url,
            "video_url": self.video_url,
            "caption": self.caption,
            "alt_text": self.alt_text,
            "children": list(self.children),
            "share_to_feed": self.share_to_feed,
            "cover_url": self.cover_url,
            "thumb_offset": self.thumb_offset,
            "published_media_id": self.published_media_id,
        }


@dataclass
class FakeMedia:
    id: str
    ig_user_id: str
    container_id: str
    caption: str
    media_type: str  # IMAGE | VIDEO | CAROUSEL_ALBUM
    media_product_type: str  # FEED | REELS | STORY
    created_at: float
    shortcode: str
    permalink: str
    media_url: str | None = None
    children: list[str] = field(default_factory=list)
    is_child: bool = False
    hidden_reads: int = 0

    @property
    def timestamp(self) -> str:
        return _meta_time(self.created_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ig_user_id": self.ig_user_id,
            "container_id": self.container_id,
            "caption": self.caption,
            "media_type": self.media_type,
            "media_product_type": self.media_product_type,
            "timestamp": self.timestamp,
            "permalink": self.permalink,
            "shortcode": self.shortcode,
            "media_url": self.media_url,
            "children": list(self.children),
        }


@dataclass
class Fault:
    """One scripted misbehaviour, consumed by the next ``remaining`` requests of ``kind``.

    Order of play: if ``commit``, the request is first handled for real (a publish goes live); then the
    fault sleeps ``delay_s``, marks the token expired if ``expire_token``, and either drops the connection
    (``drop``), answers an error (``code`` set, or ``http_status`` ≥ 500), or, when neither, answers
    normally (a slow reply).
    """

    kind: str = "any"
    remaining: int = 1
    code: int | None = None
    subcode: int | None = None
    message: str | None = None
    http_status: int = 400
    transient: bool | None = None
    html: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    commit: bool = False
    expire_token: bool = False
    regain_minutes: int | None = None  # rate limits: adds Meta's usage headers with this estimate
    fired: int = 0  # how many requests this fault has hit so far

    @property
    def answers_error(self) -> bool:
        return self.code is not None or self.http_status >= 500


@dataclass
class RequestRecord:
    method: str
    path: str
    kind: str
    params: dict[str, Any]
    token: str | None
    token_in_url: bool
    at: float


@dataclass
class Resp:
    status: int
    payload: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Script:
    outcome: str
    error_subcode: int | None
    remaining: int


# --- state --------------------------------------------------------------------------------------------------


class GraphState:
    """Everything the fake knows, and the test-facing API to arrange and inspect it. Thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        latency: dict[str, float] | None = None,
        image_delay_s: float = 0.0,
        video_delay_s: float = 0.2,
        carousel_delay_s: float = 0.0,
        fetch_media: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self._clock = clock or time.time
        self._offset = 0.0
        self._ids = itertools.count(1)

        # -- settings (plain attributes: set them directly, or through POST /_fake/config) --
        self.latency: dict[str, float] = dict(latency or {})  # seconds per endpoint kind, slept before answering
        self.image_delay_s = image_delay_s  # IN_PROGRESS → FINISHED for images
        self.video_delay_s = video_delay_s  # ... for reels and video carousel items
        self.carousel_delay_s = carousel_delay_s  # ... for a carousel parent
        self.container_lifetime_s: float = DAY_S  # unpublished containers read EXPIRED after this
        self.container_limit = 400  # containers per account per rolling 24 h
        self.fetch_media = fetch_media  # download image_url from 127.0.0.1/localhost and check it like Meta
        self.fetch_timeout_s = 5.0
        self.accept_png = False  # Meta documents JPEG only; PNG often works in practice
        self.media_errors_sync = False  # bad fetched media: False → container ERROR; True → error on POST /media
        self.republish_behavior = "error"  # publishing a PUBLISHED container: "error" | "same_id" | "duplicate"
        self.republish_error: tuple[int, int | None] = (100, None)
        self.ig_code_response_style = "flat"  # api.instagram.com code exchange: "flat" | "data"
        self.hidden_reads_for_new_objects = 0  # reads of each new container/media that fail with 100/33
        # Rate-limit budgets per rolling hour, reported on every answer as X-App-Usage (the app) and
        # X-Business-Use-Case-Usage (per Instagram account) percentages that climb with calls; at 100 %
        # calls are refused (code 4 for the app, 80002 for an account) with estimated_time_to_regain_access.
        self.app_call_budget = 100_000
        self.account_call_budget = 4_800

        # -- data --
        self.accounts: dict[str, FakeAccount] = {}
        self.tokens: dict[str, FakeToken] = {}
        self.pages: dict[str, FakePage] = {}
        self.apps: dict[str, FakeApp] = {}
        self.codes: dict[str, FakeCode] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.media: list[FakeMedia] = []  # top-level published media, in publish order
        self.media_by_id: dict[str, FakeMedia] = {}  # also carousel children
        self.publish_calls: dict[str, int] = {}  # creation_id → media_publish calls, successful or not
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.token_in_url_count = 0  # Graph data requests that carried access_token in the query string
        self.oauth_token_in_url_count = 0  # same for OAuth endpoints, where Meta documents the query string
        self._scripts: list[_Script] = []
        self._page_tokens: dict[tuple[str, str], str] = {}
        self.app_call_times: list[float] = []
        self.account_call_times: dict[str, list[float]] = {}

    # -- clock --

    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (token expiry, quota window, container lifetime, readiness)."""
        with self.lock:
            self._offset += seconds

    def new_id(self, prefix: str = "179") -> str:
        return f"{prefix}{next(self._ids):014d}"

    # -- arranging accounts, tokens, apps --

    def add_account(
        self,
        ig_user_id: str,
        token: str | None = None,
        *,
        scopes: tuple[str, ...] | list[str] | None = None,
        quota_total: int = 50,
        quota_duration: int = DAY_S,
        username: str | None = None,
        login_kind: str = "facebook",
        token_expires_in: float | None = LONG_LIVED_TTL_S,
        fb_user_id: str | None = None,
        page_id: str | None = None,
        page_name: str | None = None,
    ) -> FakeAccount:
        """Register an IG professional account and (optionally) a long-lived token for it.

        Facebook Login accounts get a Page (``page_id``) managed by ``fb_user_id``; giving one token to
        several accounts makes them Pages of the same Facebook user. ``token_expires_in=None``: never
        expires.
        """
        if login_kind not in ("facebook", "instagram"):
            raise ValueError("login_kind must be 'facebook' or 'instagram'")
        default_scopes = FB_SCOPES if login_kind == "facebook" else IG_SCOPES
        scope_tuple = tuple(scopes) if scopes is not None else default_scopes
        with self.lock:
            existing = self.tokens.get(token) if token else None
            if login_kind == "facebook":
                fb_user_id = fb_user_id or (existing.user_id if existing else None) or self.new_id("100")
                page_id = page_id or self.new_id("101")
            account = FakeAccount(
                ig_user_id=ig_user_id,
                username=username or f"account_{ig_user_id[-6:]}",
                login_kind=login_kind,
                scopes=scope_tuple,
                quota_total=quota_total,
                quota_duration=quota_duration,
                fb_user_id=fb_user_id if login_kind == "facebook" else None,
                page_id=page_id if login_kind == "facebook" else None,
                app_scoped_id=self.new_id("270"),
            )
            self.accounts[ig_user_id] = account
            if account.page_id and account.fb_user_id:
                self.pages[account.page_id] = FakePage(
                    account.page_id, page_name or f"{account.username} Page", account.fb_user_id, ig_user_id
                )
            if token:
                if existing:
                    existing.ig_user_ids.add(ig_user_id)
                else:
                    self.add_token(token, ig_user_id, scopes=scope_tuple, expires_in=token_expires_in)
            return account

    def add_token(
        self,
        token: str,
        ig_user_id: str,
        *,
        scopes: tuple[str, ...] | list[str] | None = None,
        expires_in: float | None = LONG_LIVED_TTL_S,
        kind: str = "long",
        app_id: str | None = None,
    ) -> FakeToken:
        """Another token for an existing account (e.g. a second, narrower-scoped one)."""
        with self.lock:
            account = self.accounts[ig_user_id]
            now = self.now()
            tok = FakeToken(
                value=token,
                login_kind=account.login_kind,
                ig_user_ids={ig_user_id},
                scopes=tuple(scopes) if scopes is not None else account.scopes,
                issued_at=now,
                expires_at=None if expires_in is None else now + expires_in,
                kind=kind,
                user_id=account.fb_user_id or ig_user_id,
                app_id=app_id,
            )
            if account.fb_user_id:  # a Facebook user token reaches every Page of that user
                tok.ig_user_ids |= {a.ig_user_id for a in self.accounts.values() if a.fb_user_id == account.fb_user_id}
            self.tokens[token] = tok
            return tok

    def add_page(self, fb_user_id: str, name: str, *, page_id: str | None = None) -> FakePage:
        """A Page of ``fb_user_id`` with no Instagram account linked (``/me/accounts`` lists it bare)."""
        with self.lock:
            page = FakePage(page_id or self.new_id("101"), name, fb_user_id, None)
            self.pages[page.page_id] = page
            return page

    def add_app(self, app_id: str, secret: str, *, redirect_uri: str, login_kind: str = "facebook") -> FakeApp:
        """An OAuth app; its ``login_kind`` decides which host's style its code exchange answers in."""
        with self.lock:
            app = FakeApp(app_id, secret, redirect_uri, login_kind)
            self.apps[app_id] = app
            return app

    def issue_code(
        self,
        app_id: str,
        ig_user_id: str,
        *,
        scopes: tuple[str, ...] | list[str] | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """What the login dialog would put in the redirect: a single-use code for ``ig_user_id``'s owner."""
        with self.lock:
            app = self.apps[app_id]
            account = self.accounts[ig_user_id]
            code = "AQ" + secrets.token_urlsafe(24)
            self.codes[code] = FakeCode(
                code=code,
                app_id=app_id,
                ig_user_id=ig_user_id,
                scopes=tuple(scopes) if scopes is not None else account.scopes,
                redirect_uri=redirect_uri or app.redirect_uri,
                issued_at=self.now(),
            )
            return code

    def expire_token(self, token: str) -> None:
        with self.lock:
            if token in self.tokens:
                self.tokens[token].expired = True

    def revoke_token(self, token: str, *, subcode: int = 460) -> None:
        """Invalidate a token as if the user changed their password (460) or removed the app (458)."""
        with self.lock:
            self.tokens[token].revoked_subcode = subcode

    def backdate_token(self, token: str, seconds: float) -> None:
        """Pretend the token was issued ``seconds`` earlier (its expiry moves back too)."""
        with self.lock:
            tok = self.tokens[token]
            tok.issued_at -= seconds
            if tok.expires_at is not None:
                tok.expires_at -= seconds

    def consume_quota(self, ig_user_id: str, n: int = 1) -> None:
        """Use up ``n`` publishing slots now, without creating media (to reach the limit quickly)."""
        with self.lock:
            self.accounts[ig_user_id].publish_times.extend([self.now()] * n)

    # -- arranging containers --

    def script_containers(self, outcome: str, *, error_subcode: int | None = None, count: int = 1) -> None:
        """The next ``count`` containers created end in ``outcome`` (ERROR, EXPIRED, IN_PROGRESS forever)."""
        if outcome not in ("FINISHED", "ERROR", "EXPIRED", "IN_PROGRESS"):
            raise ValueError(f"unknown outcome {outcome}")
        with self.lock:
            self._scripts.append(_Script(outcome, error_subcode or (2207001 if outcome == "ERROR" else None), count))

    def set_container_status(self, container_id: str, status_code: str, *, error_subcode: int | None = None) -> None:
        with self.lock:
            c = self.containers[container_id]
            c.forced_status = status_code
            if error_subcode is not None:
                c.error_subcode = error_subcode

    def expire_container(self, container_id: str) -> None:
        self.set_container_status(container_id, "EXPIRED")

    def hide_fresh_objects(self, reads: int) -> None:
        """From now on, the first ``reads`` reads of every new container or media fail with 100/33."""
        with self.lock:
            self.hidden_reads_for_new_objects = reads

    # -- faults --

    def inject(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        with self.lock:
            self.faults.append(fault)
        return fault

    def inject_error(
        self,
        kind: str,
        code: int,
        subcode: int | None = None,
        *,
        count: int = 1,
        message: str | None = None,
        transient: bool | None = None,
        http_status: int = 400,
        headers: dict[str, str] | None = None,
        commit: bool = False,
    ) -> Fault:
        """Any Graph error, e.g. ``inject_error("publish", 24, 2207008)`` or ``("create", -2, 2207003)``."""
        return self.inject(
            Fault(
                kind=kind,
                remaining=count,
                code=code,
                subcode=subcode,
                message=message,
                transient=transient,
                http_status=http_status,
                headers=dict(headers or {}),
                commit=commit,
            )
        )

    def inject_token_expired(self, kind: str = "any", *, count: int = 1) -> Fault:
        """190/463, and the token used stays expired afterwards."""
        return self.inject(
            Fault(
                kind=kind,
                remaining=count,
                code=190,
                subcode=463,
                message="Error validating access token: Session has expired.",
                expire_token=True,
            )
        )

    def inject_rate_limit(
        self,
        kind: str = "any",
        *,
        code: int = 4,
        count: int = 1,
        regain_minutes: int = 5,
        subcode: int | None = None,
    ) -> Fault:
        """4 (app), 17 (user), 32/613 or 80002 (Instagram business use case), with Meta's usage headers."""
        return self.inject(Fault(kind=kind, remaining=count, code=code, subcode=subcode, regain_minutes=regain_minutes))

    def inject_transient(self, kind: str = "any", *, code: int = 1, count: int = 1) -> Fault:
        """1 or 2 with ``is_transient: true``."""
        return self.inject(Fault(kind=kind, remaining=count, code=code, transient=True))

    def inject_server_error(self, kind: str = "any", *, status: int = 500, html: bool = False, count: int = 1) -> Fault:
        """A 5xx; ``html=True`` answers an HTML page as a proxy in front of the API would."""
        return self.inject(Fault(kind=kind, remaining=count, code=None if html else 2, http_status=status, html=html))

    def inject_spam_block(self, *, published: bool = True, count: int = 1) -> Fault:
        """4/2207051 on publish; with ``published=True`` the post goes live anyway, as Meta warns it may."""
        return self.inject(Fault(kind="publish", remaining=count, code=4, subcode=2207051, commit=published))

    def inject_slow(self, kind: str, seconds: float, *, count: int = 1, commit_first: bool = False) -> Fault:
        """Sleep before answering; ``commit_first`` does the work before sleeping (the post is live early)."""
        return self.inject(Fault(kind=kind, remaining=count, delay_s=seconds, commit=commit_first))

    def inject_lost_response(self, kind: str = "publish", *, count: int = 1) -> Fault:
        """Commit the request (a publish goes live, counters move), then close the connection unanswered."""
        return self.inject(Fault(kind=kind, remaining=count, drop=True, commit=True))

    def inject_drop(self, kind: str, *, count: int = 1, commit: bool = False) -> Fault:
        """Close the connection unanswered; nothing is done unless ``commit``."""
        return self.inject(Fault(kind=kind, remaining=count, drop=True, commit=commit))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self._scripts.clear()

    def take_fault(self, kind: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.kind in (kind, "any"):
                    fault.remaining -= 1
                    fault.fired += 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
            return None

    # -- inspecting --

    def total_publish_calls(self) -> int:
        with self.lock:
            return sum(self.publish_calls.values())

    def published_count(self, ig_user_id: str) -> int:
        """Top-level media live on the account (a carousel is one)."""
        with self.lock:
            return sum(1 for m in self.media if m.ig_user_id == ig_user_id)

    def quota_usage(self, ig_user_id: str) -> int:
        with self.lock:
            account = self.accounts[ig_user_id]
            since = self.now() - account.quota_duration
            return sum(1 for t in account.publish_times if t > since)

    def container_status(self, container_id: str) -> str:
        with self.lock:
            return self.status_of(self.containers[container_id])[0]

    def status_of(self, c: FakeContainer) -> tuple[str, str]:
        """``(status_code, status)`` as ``GET /{container-id}`` reports them now."""
        now = self.now()
        if c.forced_status:
            code = c.forced_status
        elif c.published_media_id:
            code = "PUBLISHED"
        elif now - c.created_at >= self.container_lifetime_s:
            code = "EXPIRED"
        elif now < c.ready_at:
            code = "IN_PROGRESS"
        else:
            code = c.outcome
        if code == "ERROR":
            return code, f"Error: Media upload has failed with error code {c.error_subcode or 2207001}"
        return code, _STATUS_TEXT.get(code, code)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "token_in_url_count": self.token_in_url_count,
                "oauth_token_in_url_count": self.oauth_token_in_url_count,
                "publish_calls": dict(self.publish_calls),
                "total_publish_calls": sum(self.publish_calls.values()),
                "published": {ig: self.published_count(ig) for ig in self.accounts},
                "quota_usage": {ig: self.quota_usage(ig) for ig in self.accounts},
                "containers": len(self.containers),
                "media": len(self.media),
                "requests": len(self.requests),
                "faults_pending": sum(f.remaining for f in self.faults),
            }

    def reset(self) -> None:
        """Forget containers, media, counters, faults and quota use; keep accounts, tokens and apps."""
        with self.lock:
            self.containers.clear()
            self.media.clear()
            self.media_by_id.clear()
            self.publish_calls.clear()
            self.faults.clear()
            self._scripts.clear()
            self.requests.clear()
            self.token_in_url_count = 0
            self.oauth_token_in_url_count = 0
            self.app_call_times.clear()
            self.account_call_times.clear()
            for account in self.accounts.values():
                account.publish_times.clear()
                account.container_times.clear()

    # -- rate-limit usage --

    def usage_percent(self, ig_user_id: str | None) -> tuple[int, int]:
        """(app %, account %) of the rolling-hour call budgets."""
        with self.lock:
            since = self.now() - 3600
            app_calls = sum(1 for t in self.app_call_times if t > since)
            account_calls = sum(1 for t in self.account_call_times.get(ig_user_id or "", []) if t > since)
            return (
                min(100, app_calls * 100 // max(1, self.app_call_budget)),
                min(100, account_calls * 100 // max(1, self.account_call_budget)),
            )

    def count_call(self, ig_user_id: str | None) -> None:
        with self.lock:
            now = self.now()
            self.app_call_times.append(now)
            if ig_user_id:
                self.account_call_times.setdefault(ig_user_id, []).append(now)

    def regain_minutes(self, times: list[float]) -> int:
        """Minutes until the oldest call of the rolling hour leaves it."""
        since = self.now() - 3600
        live = [t for t in times if t > since]
        return max(1, round((min(live) - since) / 60)) if live else 0

    def inject_media_fetch_failure(self, *, count: int = 1) -> Fault:
        """Instagram fails to download the media at container creation (9004/2207052), as happens now and
        then with URLs that work: nothing is created, and a later try usually succeeds."""
        return self.inject_error(
            "create", code=9004, subcode=2207052, message="Media download has failed.", count=count
        )

    # -- used by the API (lock held by the caller) --

    def _next_script(self) -> _Script | None:
        for script in self._scripts:
            if script.remaining > 0:
                script.remaining -= 1
                if script.remaining == 0:
                    self._scripts.remove(script)
                return script
        return None

    def _page_token(self, page: FakePage, user_token: FakeToken) -> str:
        key = (page.page_id, user_token.value)
        if key not in self._page_tokens:
            value = "EAAP" + secrets.token_urlsafe(24)
            self.tokens[value] = FakeToken(
                value=value,
                login_kind="facebook",
                ig_user_ids={page.ig_user_id} if page.ig_user_id else set(),
                scopes=user_token.scopes,
                issued_at=self.now(),
                # A Page token from a long-lived user token never expires; from a short one it lives as long.
                expires_at=None if user_token.kind == "long" else user_token.expires_at,
                kind="page",
                user_id=page.page_id,
                app_id=user_token.app_id,
            )
            self._page_tokens[key] = value
        return self._page_tokens[key]


def _usage_headers(regain_minutes: int, object_id: str = "0") -> dict[str, str]:
    usage = {"call_count": 100, "total_cputime": 40, "total_time": 60}
    buc = {object_id: [{"type": "instagram", **usage, "estimated_time_to_regain_access": regain_minutes}]}
    return {"X-Business-Use-Case-Usage": json.dumps(buc), "X-App-Usage": json.dumps(usage)}


# --- request parsing ----------------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str  # without the query string
    segments: list[str]  # path segments, version segment removed
    query: dict[str, str]
    params: dict[str, Any]  # query + form/JSON body (body wins)
    token: str | None
    token_in_url: bool
    host: str

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)


def _first_values(raw: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in raw.items() if v}


def parse_request(method: str, raw_path: str, headers: Any, body: bytes) -> Req:
    parts = urlsplit(raw_path)
    segments = [s for s in parts.path.split("/") if s]
    if segments and _VERSION_RE.match(segments[0]):
        segments = segments[1:]
    query = _first_values(parse_qs(parts.query, keep_blank_values=True))
    body_params: dict[str, Any] = {}
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if body:
        if ctype == "application/json":
            loaded = json.loads(body.decode() or "{}")
            if not isinstance(loaded, dict):
                raise ValueError("JSON body must be an object")
            body_params = loaded
        else:  # Meta treats anything else as form-encoded
            body_params = _first_values(parse_qs(body.decode(), keep_blank_values=True))
    params: dict[str, Any] = {**query, **body_params}
    token: str | None = None
    auth = headers.get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip() or None
    elif auth.lower().startswith("oauth "):
        token = auth[6:].strip() or None
    if token is None and params.get("access_token"):
        token = str(params["access_token"])
    return Req(
        method=method,
        path=parts.path,
        segments=segments,
        query=query,
        params=params,
        token=token,
        token_in_url="access_token" in query,
        host=headers.get("Host") or "127.0.0.1",
    )


def _split_fields(spec: str | None) -> list[tuple[str, list[str] | None]]:
    """``"id,children{id,media_type}"`` → ``[("id", None), ("children", ["id", "media_type"])]``."""
    if not spec:
        return []
    out: list[tuple[str, list[str] | None]] = []
    depth, current = 0, ""
    for ch in spec + ",":
        if ch == "," and depth == 0:
            name = current.strip()
            if name:
                if "{" in name:
                    base, inner = name.split("{", 1)
                    out.append((base.strip(), [f.strip() for f in inner.rstrip("}").split(",") if f.strip()]))
                else:
                    out.append((name, None))
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    return out


def _select(
    values: dict[str, Any],
    fields: Sequence[tuple[str, list[str] | None]],
    node_type: str,
    default: tuple[str, ...],
) -> dict[str, Any]:
    """The requested fields (Meta omits empty ones) plus ``id``; unknown fields are an error, as at Meta."""
    names = [name for name, _ in fields] or list(default)
    out: dict[str, Any] = {}
    for name in names:
        if name not in values:
            raise GraphError(100, None, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})")
        value = values[name]
        if value is None or value == "":
            continue
        out[name] = value() if callable(value) else value
    if "id" in values and "id" not in out:
        out["id"] = values["id"]
    return out


# --- the API ------------------------------------------------------------------------------------------------


class GraphApi:
    """Meta's semantics, request in, ``Resp`` out (or ``GraphError`` raised). Holds no state of its own."""

    def __init__(self, state: GraphState) -> None:
        self.s = state

    # -- routing --

    def route(self, req: Req) -> tuple[str, Callable[[Req], Resp]]:
        seg, method = req.segments, req.method
        if seg == ["oauth", "access_token"]:
            return "oauth", self.oauth_access_token
        if seg == ["access_token"] and method == "GET":
            return "oauth", self.ig_exchange
        if seg == ["refresh_access_token"] and method == "GET":
            return "oauth", self.ig_refresh
        if seg == ["debug_token"] and method == "GET":
            return "oauth", self.debug_token
        if seg == ["me", "accounts"] and method == "GET":
            return "account", self.me_accounts
        if len(seg) == 2 and seg[1] == "media":
            return ("create", self.create) if method == "POST" else ("media_read", self.list_media)
        if len(seg) == 2 and seg[1] == "media_publish" and method == "POST":
            return "publish", self.publish
        if len(seg) == 2 and seg[1] == "content_publishing_limit" and method == "GET":
            return "limit", self.publishing_limit
        if len(seg) == 1 and method == "GET":
            with self.s.lock:
                if seg[0] in self.s.containers:
                    return "status", self.read_object
                if seg[0] in self.s.media_by_id:
                    return "media_read", self.read_object
            return "account", self.read_object
        return "any", self.unknown_path

    def unknown_path(self, req: Req) -> Resp:
        if len(req.segments) == 2 and req.segments[1] in ("media_publish", "content_publishing_limit"):
            raise _not_found(req.segments[0], req.method.lower())
        raise GraphError(2500, None, f"Unknown path components: /{'/'.join(req.segments[1:]) or ''}")

    # -- auth --

    def _token(self, req: Req) -> FakeToken:
        if not req.token:
            raise GraphError(190, None, "An access token is required to request this resource.")
        tok = self.s.tokens.get(req.token)
        if tok is None:
            raise GraphError(190, 467, "Invalid OAuth access token - Cannot parse access token")
        self._check_valid(tok)
        return tok

    def _check_valid(self, tok: FakeToken) -> None:
        if tok.revoked_subcode is not None:
            raise GraphError(
                190,
                tok.revoked_subcode,
                "Error validating access token: The session has been invalidated because the user "
                "changed their password or Facebook has changed the session for security reasons.",
            )
        now = self.s.now()
        if tok.is_expired(now):
            when = tok.expires_at if tok.expires_at is not None and tok.expires_at <= now else now
            raise GraphError(
                190,
                463,
                f"Error validating access token: Session has expired on "
                f"{datetime.fromtimestamp(when, UTC):%A, %d-%b-%y %H:%M:%S} UTC. The current time is "
                f"{datetime.fromtimestamp(now, UTC):%A, %d-%b-%y %H:%M:%S} UTC.",
            )

    def _need(self, tok: FakeToken, what: str) -> None:
        table = _PUBLISH_SCOPE if what == "publish" else _BASIC_SCOPE
        scope = table[tok.login_kind]
        if scope not in tok.scopes:
            if what == "publish":
                raise GraphError(10, None, user_msg=f"The {scope} permission is missing.")
            raise GraphError(200, None, f"(#200) Requires {scope} permission to access this object")

    def _account(self, tok: FakeToken, ig_user_id: str, method: str) -> FakeAccount:
        if ig_user_id == "me" and tok.login_kind == "instagram" and len(tok.ig_user_ids) == 1:
            ig_user_id = next(iter(tok.ig_user_ids))
        account = self.s.accounts.get(ig_user_id)
        if account is None or ig_user_id not in tok.ig_user_ids:
            raise _not_found(ig_user_id, method)
        page = self.s.pages.get(account.page_id or "")
        if page is not None and page.role_via_business_manager and not {"ads_read", "ads_management"} & set(tok.scopes):
            raise GraphError(
                200,
                None,
                "(#200) Requires ads_management or ads_read permission: the user's role on the Page was "
                "granted through Business Manager",
            )
        return account

    # -- container creation --

    def create(self, req: Req) -> Resp:
        s = self.s
        with s.lock:
            tok = self._token(req)
            self._need(tok, "publish")
            account = self._account(tok, req.segments[0], "post")
            spec = self._container_spec(req, account)
            self._check_container_limit(account)
        fetch_error: int | None = None
        if spec.image_url and s.fetch_media:
            fetch_error = self._inspect_image(spec.image_url)  # outside the lock: it does network I/O
            if fetch_error is not None and s.media_errors_sync:
                raise GraphError(_SUBCODE_TO_CODE.get(fetch_error, 100), fetch_error)
        with s.lock:
            now = s.now()
            spec.id = s.new_id("179")
            spec.created_at = now
            delay = s.video_delay_s if spec.video_url else s.image_delay_s
            if spec.media_type == "CAROUSEL":
                delay = s.carousel_delay_s
            spec.ready_at = now + delay
            if fetch_error is not None:
                spec.outcome, spec.error_subcode = "ERROR", fetch_error
            script = s._next_script()
            if script is not None:
                spec.outcome, spec.error_subcode = script.outcome, script.error_subcode
            spec.hidden_reads = s.hidden_reads_for_new_objects
            s.containers[spec.id] = spec
            account.container_times.append(now)
        return Resp(200, {"id": spec.id})

    def _check_container_limit(self, account: FakeAccount) -> None:
        since = self.s.now() - DAY_S
        if sum(1 for t in account.container_times if t > since) >= self.s.container_limit:
            # Undocumented at Meta; answered as an application rate limit ("wait").
            raise GraphError(
                4,
                None,
                "(#4) Application request limit reached",
                user_title="Too many containers",
                user_msg=f"An account can create at most {self.s.container_limit} containers in 24 hours.",
            )

    def _container_spec(self, req: Req, account: FakeAccount) -> FakeContainer:
        media_type = (req.param("media_type") or "").upper() or None
        is_item = _truthy(req.param("is_carousel_item") or "false")
        caption = req.param("caption") or ""
        alt_text = req.param("alt_text")
        image_url, video_url = req.param("image_url"), req.param("video_url")
        c = FakeContainer(
            id="",
            ig_user_id=account.ig_user_id,
            media_type="IMAGE",
            is_carousel_item=is_item,
            created_at=0.0,
            ready_at=0.0,
            caption=caption,
            alt_text=alt_text,
        )
        if media_type not in (None, "IMAGE", "VIDEO", "CAROUSEL", "REELS", "STORIES"):
            raise GraphError(100, 2207023, user_msg=f"The media type {media_type} is unknown.")
        self._check_caption(caption)
        if alt_text is not None and len(alt_text) > 1000:
            raise _bad_param("alt_text must be at most 1000 characters.")
        if is_item:
            if caption:
                raise _bad_param("Carousel items cannot have a caption; put it on the carousel.")
            if media_type not in (None, "IMAGE", "VIDEO"):
                raise GraphError(100, 2207023, user_msg=f"The media type {media_type} cannot be a carousel item.")
            if media_type == "VIDEO":
                c.media_type, c.video_url = "VIDEO", self._url(video_url, "video_url")
            else:
                c.image_url = self._url(image_url, "image_url")
            return c
        if media_type == "CAROUSEL":
            c.media_type = "CAROUSEL"
            c.children = self._children(req, account)
            return c
        if media_type == "REELS":
            c.media_type, c.video_url = "REELS", self._url(video_url, "video_url")
            c.share_to_feed = _truthy(req.param("share_to_feed")) if req.param("share_to_feed") else None
            cover = req.param("cover_url")
            c.cover_url = self._url(cover, "cover_url") if cover else None
            offset = req.param("thumb_offset")
            if offset is not None:
                if not offset.isdigit():
                    raise GraphError(1, 2207057, transient=False)
                c.thumb_offset = int(offset)
            return c
        if media_type == "VIDEO":
            raise GraphError(
                100,
                2207023,
                user_msg="The VIDEO media type is no longer supported for feed posts; use REELS.",
            )
        if media_type == "STORIES":
            c.media_type = "STORIES"
            if video_url:
                c.video_url = self._url(video_url, "video_url")
            else:
                c.image_url = self._url(image_url, "image_url")
            return c
        c.image_url = self._url(image_url, "image_url")
        return c

    def _check_caption(self, caption: str) -> None:
        if len(caption) > 2200:
            raise GraphError(36004, 2207010, user_msg="The caption can be at most 2200 characters long.")
        if len(_HASHTAG_RE.findall(caption)) > 30:
            raise GraphError(36004, 2207010, user_msg="The caption can have at most 30 hashtags.")
        if len(_MENTION_RE.findall(caption)) > 20:
            raise GraphError(36004, 2207010, user_msg="The caption can have at most 20 @mentions.")

    def _url(self, url: str | None, name: str) -> str:
        if not url:
            raise GraphError(100, None, f"(#100) The parameter {name} is required")
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https") or (scheme == "file" and not self.s.fetch_media):
            return url
        raise GraphError(9004, 2207052, user_msg=f"The media could not be fetched from this URI: {url}")

    def _children(self, req: Req, account: FakeAccount) -> list[str]:
        raw = req.params.get("children")
        if isinstance(raw, str) and raw.strip().startswith("["):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise _bad_param("children must be a comma-separated list of container ids.") from exc
        ids = [str(x).strip() for x in raw] if isinstance(raw, list) else str(raw or "").split(",")
        ids = [i for i in ids if i]
        if not 2 <= len(ids) <= 10:
            raise GraphError(100, 2207028)
        for child_id in ids:
            child = self.s.containers.get(child_id)
            if child is None or child.ig_user_id != account.ig_user_id:
                raise GraphError(24, 2207006, user_msg=f"The media with id {child_id} cannot be found.")
            if not child.is_carousel_item:
                raise _bad_param(f"Container {child_id} was not created as a carousel item.")
            code, _ = self.s.status_of(child)
            if code == "IN_PROGRESS":
                raise GraphError(9007, 2207027, user_msg=f"The carousel item {child_id} is not ready yet.")
            if code == "EXPIRED":
                raise GraphError(-2, 2207020)
            if code != "FINISHED":
                raise _bad_param(f"The carousel item {child_id} cannot be used ({code}).")
        return ids

    def _inspect_image(self, url: str) -> int | None:
        """Download a local image as Meta does at creation: the subcode of what is wrong, or None."""
        host = (urlsplit(url).hostname or "").lower()
        if host not in ("127.0.0.1", "localhost", "::1"):
            return None  # the fake cannot reach the internet: trust remote URLs
        try:
            with urllib.request.urlopen(url, timeout=self.s.fetch_timeout_s) as resp:
                data = resp.read(MAX_IMAGE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the error response open
            raise GraphError(9004, 2207052, user_msg=f"The media could not be fetched from this URI: {url}") from exc
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
                raise GraphError(-2, 2207003) from exc
            raise GraphError(9004, 2207052, user_msg=f"The media could not be fetched from this URI: {url}") from exc
        if len(data) > MAX_IMAGE_BYTES:
            return 2207004
        from PIL import Image, UnidentifiedImageError  # local: only fetch-checking tests need Pillow

        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
        except (UnidentifiedImageError, OSError):
            return 2207005
        if fmt != "JPEG" and not (fmt == "PNG" and self.s.accept_png):
            return 2207005
        ratio = width / height if height else 0.0
        if not 320 <= width <= 1440 or not 0.8 - 1e-3 <= ratio <= 1.91 + 1e-3:
            return 2207009
        return None

    # -- publishing --

    def publish(self, req: Req) -> Resp:
        s = self.s
        with s.lock:
            tok = self._token(req)
            self._need(tok, "publish")
            account = self._account(tok, req.segments[0], "post")
            creation_id = req.param("creation_id")
            if not creation_id:
                raise GraphError(100, None, "(#100) The parameter creation_id is required")
            c = s.containers.get(creation_id)
            if c is None:
                raise _bad_param(f"The media with id {creation_id} cannot be found.")
            if c.ig_user_id != account.ig_user_id:
                raise GraphError(24, 2207006, user_msg=f"The media with id {creation_id} cannot be found.")
            if c.is_carousel_item:
                raise _bad_param("A carousel item cannot be published on its own; publish the carousel.")
            code, _ = s.status_of(c)
            if code == "PUBLISHED":
                return self._republish(account, c)
            if code == "EXPIRED":
                raise GraphError(-2, 2207020)
            if code == "ERROR":
                raise GraphError(-1, 2207001, user_msg="Media upload has failed; create a new container.")
            if code == "IN_PROGRESS":
                raise GraphError(9007, 2207027)
            self._check_quota(account)
            media = self._commit_publish(account, c)
            return Resp(200, {"id": media.id})

    def _republish(self, account: FakeAccount, c: FakeContainer) -> Resp:
        behavior = self.s.republish_behavior
        if behavior == "same_id" and c.published_media_id:
            return Resp(200, {"id": c.published_media_id})
        if behavior == "duplicate":  # the nightmare: a second live post
            self._check_quota(account)
            return Resp(200, {"id": self._commit_publish(account, c).id})
        code, subcode = self.s.republish_error
        raise GraphError(code, subcode, user_msg="This media container has already been published.")

    def _check_quota(self, account: FakeAccount) -> None:
        if self.s.quota_usage(account.ig_user_id) >= account.quota_total:
            raise GraphError(9, 2207042, "(#9) Application request limit reached")

    def _commit_publish(self, account: FakeAccount, c: FakeContainer) -> FakeMedia:
        s = self.s
        now = s.now()
        media = self._new_media(account, c, now)
        if c.media_type == "CAROUSEL":
            for child_id in c.children:
                child = s.containers[child_id]
                child_media = self._new_media(account, child, now, is_child=True)
                child.published_media_id = child_media.id
                media.children.append(child_media.id)
        if not c.published_media_id:
            c.published_media_id = media.id
        s.media.append(media)
        account.publish_times.append(now)  # one slot per publish: a carousel counts once
        return media

    def _new_media(self, account: FakeAccount, c: FakeContainer, now: float, *, is_child: bool = False) -> FakeMedia:
        kinds = {
            "IMAGE": ("IMAGE", "FEED"),
            "VIDEO": ("VIDEO", "FEED"),
            "CAROUSEL": ("CAROUSEL_ALBUM", "FEED"),
            "REELS": ("VIDEO", "REELS"),
            "STORIES": ("VIDEO" if c.video_url else "IMAGE", "STORY"),
        }
        media_type, product = kinds[c.media_type]
        media_id = self.s.new_id("180")
        shortcode = secrets.token_urlsafe(8)[:11]
        if product == "REELS":
            permalink = f"https://www.instagram.com/reel/{shortcode}/"
        elif product == "STORY":
            permalink = f"https://www.instagram.com/stories/{account.username}/{media_id}/"
        else:
            permalink = f"https://www.instagram.com/p/{shortcode}/"
        media = FakeMedia(
            id=media_id,
            ig_user_id=account.ig_user_id,
            container_id=c.id,
            caption="" if is_child else c.caption,
            media_type=media_type,
            media_product_type=product,
            created_at=now,
            shortcode=shortcode,
            permalink=permalink,
            media_url=c.image_url or c.video_url,
            is_child=is_child,
            hidden_reads=self.s.hidden_reads_for_new_objects,
        )
        self.s.media_by_id[media_id] = media
        return media

    def publishing_limit(self, req: Req) -> Resp:
        with self.s.lock:
            tok = self._token(req)
            self._need(tok, "basic")
            account = self._account(tok, req.segments[0], "get")
            values: dict[str, Any] = {
                "quota_usage": self.s.quota_usage(account.ig_user_id),
                "config": {"quota_total": account.quota_total, "quota_duration": account.quota_duration},
            }
            entry = _select(
                values, _split_fields(req.param("fields")), "ContentPublishingLimitResponse", ("quota_usage",)
            )
            return Resp(200, {"data": [entry]})

    # -- reading --

    def _media_values(self, m: FakeMedia, sub: list[str] | None = None) -> dict[str, Any]:
        account = self.s.accounts[m.ig_user_id]
        values: dict[str, Any] = {
            "id": m.id,
            "caption": m.caption,
            "media_type": m.media_type,
            "media_product_type": m.media_product_type,
            "permalink": m.permalink,
            "timestamp": m.timestamp,
            "shortcode": m.shortcode,
            "username": account.username,
            "owner": {"id": m.ig_user_id},
            "media_url": m.media_url,
            "thumbnail_url": None,
            "like_count": 0,
            "comments_count": 0,
            "is_comment_enabled": True,
            "is_shared_to_feed": True if m.media_product_type == "REELS" else None,
            "children": None,
        }
        if m.children:
            sub_fields = [(f, None) for f in (sub or ["id"])]
            values["children"] = {
                "data": [
                    _select(self._media_values(self.s.media_by_id[cid]), sub_fields, "IGMedia", ("id",))
                    for cid in m.children
                ]
            }
        return values

    def read_object(self, req: Req) -> Resp:
        s = self.s
        object_id = req.segments[0]
        fields = _split_fields(req.param("fields"))
        with s.lock:
            if object_id == "me":
                return self._me(req, fields)
            tok = self._token(req)
            self._need(tok, "basic")
            if object_id in s.containers:
                c = s.containers[object_id]
                self._visible(tok, c.ig_user_id, c, object_id)
                code, text = s.status_of(c)
                values: dict[str, Any] = {
                    "id": c.id,
                    "status_code": code,
                    "status": text,
                    "copyright_check_status": {"status": "completed", "matches_found": False},
                }
                return Resp(200, _select(values, fields, "ShadowIGMediaBuilder", ("id",)))
            if object_id in s.media_by_id:
                m = s.media_by_id[object_id]
                self._visible(tok, m.ig_user_id, m, object_id)
                children_sub = next((sub for name, sub in fields if name == "children"), None)
                return Resp(200, _select(self._media_values(m, children_sub), fields, "IGMedia", ("id",)))
            if object_id in s.accounts and object_id in tok.ig_user_ids:
                return Resp(200, _select(self._user_values(s.accounts[object_id]), fields, "IGUser", ("id",)))
            if object_id in s.pages and object_id in {p.page_id for p in self._pages_of(tok)}:
                page = s.pages[object_id]
                values = {
                    "id": page.page_id,
                    "name": page.name,
                    "instagram_business_account": {"id": page.ig_user_id} if page.ig_user_id else None,
                }
                return Resp(200, _select(values, fields, "Page", ("id", "name")))
            raise _not_found(object_id)

    def _visible(self, tok: FakeToken, owner: str, obj: FakeContainer | FakeMedia, object_id: str) -> None:
        if owner not in tok.ig_user_ids:
            raise _not_found(object_id)
        if obj.hidden_reads > 0:  # a fresh object is not readable everywhere yet
            obj.hidden_reads -= 1
            raise _not_found(object_id)

    def _user_values(self, account: FakeAccount) -> dict[str, Any]:
        return {
            "id": account.ig_user_id,
            "user_id": account.ig_user_id,
            "username": account.username,
            "name": account.username.replace("_", " ").title(),
            "account_type": "BUSINESS",
            "biography": None,
            "website": None,
            "profile_picture_url": f"https://scontent.cdninstagram.com/{account.ig_user_id}.jpg",
            "followers_count": 0,
            "follows_count": 0,
            "media_count": sum(1 for m in self.s.media if m.ig_user_id == account.ig_user_id),
        }

    def list_media(self, req: Req) -> Resp:
        s = self.s
        with s.lock:
            tok = self._token(req)
            self._need(tok, "basic")
            account = self._account(tok, req.segments[0], "get")
            items = [m for m in reversed(s.media) if m.ig_user_id == account.ig_user_id]  # newest first
            try:
                limit = max(1, min(100, int(req.param("limit") or 25)))
            except ValueError as exc:
                raise _bad_param("limit must be a number.") from exc
            start = 0
            after = req.param("after")
            if after:
                after_id = _unb64(after)
                ids = [m.id for m in items]
                start = ids.index(after_id) + 1 if after_id in ids else len(items)
            page = items[start : start + limit]
            fields = _split_fields(req.param("fields"))
            children_sub = next((sub for name, sub in fields if name == "children"), None)
            data = [_select(self._media_values(m, children_sub), fields, "IGMedia", ("id",)) for m in page]
            body: dict[str, Any] = {"data": data}
            if page:
                body["paging"] = {"cursors": {"before": _b64(page[0].id), "after": _b64(page[-1].id)}}
                if start + limit < len(items):
                    # Like Meta, the ``next`` link echoes the access token: follow the cursor, not this URL.
                    query = {k: v for k, v in req.query.items() if k not in ("after", "before", "access_token")}
                    query.update(limit=str(limit), after=_b64(page[-1].id), access_token=req.token or "")
                    body["paging"]["next"] = f"http://{req.host}{req.path}?{urlencode(query)}"
            return Resp(200, body)

    # -- Facebook user, Pages, /me --

    def _pages_of(self, tok: FakeToken) -> list[FakePage]:
        if tok.login_kind != "facebook" or tok.kind == "page":
            return []
        business = "business_management" in tok.scopes
        return [p for p in self.s.pages.values() if p.fb_user_id == tok.user_id and (business or not p.business_owned)]

    def _me(self, req: Req, fields: list[tuple[str, list[str] | None]]) -> Resp:
        tok = self._token(req)
        if tok.login_kind == "instagram":
            account = self.s.accounts[next(iter(tok.ig_user_ids))]
            values = self._user_values(account)
            values["id"] = account.app_scoped_id  # Instagram Login: ``id`` is app-scoped; ``user_id`` is the IG id
            return Resp(200, _select(values, fields, "User", ("id", "username")))
        if tok.kind == "page":
            page = self.s.pages[tok.user_id]
            return Resp(200, _select({"id": page.page_id, "name": page.name}, fields, "Page", ("id", "name")))
        return Resp(200, _select({"id": tok.user_id, "name": f"User {tok.user_id}"}, fields, "User", ("id", "name")))

    def me_accounts(self, req: Req) -> Resp:
        with self.s.lock:
            tok = self._token(req)
            if tok.login_kind != "facebook" or tok.kind == "page":
                raise GraphError(100, None, "(#100) Tried accessing nonexisting field (accounts) on node type (User)")
            if "pages_show_list" not in tok.scopes:
                raise GraphError(200, None, "(#200) Requires pages_show_list permission")
            fields = _split_fields(req.param("fields"))
            data = []
            for page in self._pages_of(tok):
                values = {
                    "id": page.page_id,
                    "name": page.name,
                    "access_token": lambda page=page: self.s._page_token(page, tok),
                    "category": "Brand",
                    "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MODERATE", "MANAGE"],
                    "instagram_business_account": {"id": page.ig_user_id} if page.ig_user_id else None,
                }
                data.append(_select(values, fields, "Page", ("id", "name", "access_token")))
            body: dict[str, Any] = {"data": data}
            if data:
                body["paging"] = {"cursors": {"before": _b64(data[0]["id"]), "after": _b64(data[-1]["id"])}}
            return Resp(200, body)

    # -- OAuth --

    def _app(self, req: Req, *, ig_style: bool) -> FakeApp:
        app = self.s.apps.get(req.param("client_id") or "")
        if app is None:
            raise GraphError(
                101,
                None,
                "Error validating application. Invalid application ID.",
                instagram_oauth_style=ig_style,
            )
        if req.param("client_secret") != app.secret:
            raise GraphError(
                1, None, "Error validating client secret.", transient=False, instagram_oauth_style=ig_style
            )
        return app

    def oauth_access_token(self, req: Req) -> Resp:
        s = self.s
        with s.lock:
            app = s.apps.get(req.param("client_id") or "")
            if app is not None and app.login_kind == "instagram":
                if req.method != "POST":  # api.instagram.com takes the code exchange as a form POST only
                    raise GraphError(400, None, "Unsupported method: use POST", instagram_oauth_style=True)
                return self._ig_code_exchange(req)
            if req.param("grant_type") == "fb_exchange_token":
                return self._fb_exchange(req)
            return self._fb_code_exchange(req)

    def _take_code(self, req: Req, app: FakeApp, *, ig_style: bool) -> FakeCode:
        code = self.s.codes.get(req.param("code") or "")
        if code is None or code.app_id != app.app_id:
            raise GraphError(100, 36008, "Invalid verification code format.", instagram_oauth_style=ig_style)
        if code.used:
            raise GraphError(100, 36009, "This authorization code has been used.", instagram_oauth_style=ig_style)
        if self.s.now() - code.issued_at > CODE_TTL_S:
            raise GraphError(100, 36007, "This authorization code has expired.", instagram_oauth_style=ig_style)
        if req.param("redirect_uri") != code.redirect_uri:
            raise GraphError(
                100,
                36008,
                "Error validating verification code. Please make sure your redirect_uri is identical to "
                "the one you used in the OAuth dialog request",
                instagram_oauth_style=ig_style,
            )
        code.used = True
        return code

    def _issue(
        self, account: FakeAccount, app: FakeApp | None, scopes: tuple[str, ...], kind: str, ttl: float | None
    ) -> FakeToken:
        s = self.s
        now = s.now()
        prefix = "EAA" if account.login_kind == "facebook" else "IGQ"
        tok = FakeToken(
            value=prefix + secrets.token_urlsafe(32),
            login_kind=account.login_kind,
            ig_user_ids={account.ig_user_id},
            scopes=scopes,
            issued_at=now,
            expires_at=None if ttl is None else now + ttl,
            kind=kind,
            user_id=account.fb_user_id or account.ig_user_id,
            app_id=app.app_id if app else None,
        )
        if account.fb_user_id:
            tok.ig_user_ids |= {a.ig_user_id for a in s.accounts.values() if a.fb_user_id == account.fb_user_id}
        s.tokens[tok.value] = tok
        return tok

    def _fb_code_exchange(self, req: Req) -> Resp:
        app = self._app(req, ig_style=False)
        code = self._take_code(req, app, ig_style=False)
        tok = self._issue(self.s.accounts[code.ig_user_id], app, code.scopes, "short", FB_SHORT_TTL_S)
        return Resp(200, {"access_token": tok.value, "token_type": "bearer", "expires_in": FB_SHORT_TTL_S})

    def _fb_exchange(self, req: Req) -> Resp:
        app = self._app(req, ig_style=False)
        short = self.s.tokens.get(req.param("fb_exchange_token") or "")
        if short is None or short.login_kind != "facebook":
            raise GraphError(190, 467, "Invalid OAuth access token - Cannot parse access token")
        self._check_valid(short)
        account = self.s.accounts[next(iter(sorted(short.ig_user_ids)))]
        tok = self._issue(account, app, short.scopes, "long", LONG_LIVED_TTL_S)
        return Resp(200, {"access_token": tok.value, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN})

    def _ig_code_exchange(self, req: Req) -> Resp:
        app = self._app(req, ig_style=True)
        if req.param("grant_type") != "authorization_code":
            raise GraphError(400, None, "Invalid grant_type", instagram_oauth_style=True)
        code = self._take_code(req, app, ig_style=True)
        tok = self._issue(self.s.accounts[code.ig_user_id], app, code.scopes, "short", IG_SHORT_TTL_S)
        # Meta documents this user_id as the "Instagram App-scoped User ID": not the professional account id
        # that publishing takes (that one is /me's user_id).
        app_scoped = self.s.accounts[code.ig_user_id].app_scoped_id
        if self.s.ig_code_response_style == "data":
            entry = {"access_token": tok.value, "user_id": app_scoped, "permissions": ",".join(code.scopes)}
            return Resp(200, {"data": [entry]})
        user_id: int | str = int(app_scoped) if app_scoped.isdigit() else app_scoped
        return Resp(200, {"access_token": tok.value, "user_id": user_id, "permissions": list(code.scopes)})

    def ig_exchange(self, req: Req) -> Resp:
        with self.s.lock:
            if req.param("grant_type") != "ig_exchange_token":
                raise _bad_param("grant_type must be ig_exchange_token.")
            tok = self._token(req)
            app = self.s.apps.get(tok.app_id or "")
            if tok.login_kind != "instagram" or tok.kind != "short" or app is None:
                raise GraphError(190, 467, "Invalid OAuth access token - Cannot parse access token")
            if req.param("client_secret") != app.secret:
                raise GraphError(101, None, "Error validating client secret.")
            account = self.s.accounts[next(iter(tok.ig_user_ids))]
            long = self._issue(account, app, tok.scopes, "long", LONG_LIVED_TTL_S)
            return Resp(200, {"access_token": long.value, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN})

    def ig_refresh(self, req: Req) -> Resp:
        with self.s.lock:
            if req.param("grant_type") != "ig_refresh_token":
                raise _bad_param("grant_type must be ig_refresh_token.")
            tok = self._token(req)  # an expired token is refused here with 190/463
            if tok.login_kind != "instagram" or tok.kind != "long":
                raise _bad_param("Only long-lived Instagram user tokens can be refreshed.")
            if self.s.now() - tok.issued_at < DAY_S:
                raise _bad_param("A token can be refreshed only once it is at least 24 hours old.")
            account = self.s.accounts[next(iter(tok.ig_user_ids))]
            app = self.s.apps.get(tok.app_id or "")
            fresh = self._issue(account, app, tok.scopes, "long", LONG_LIVED_TTL_S)
            return Resp(
                200,
                {"access_token": fresh.value, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN},
            )

    def debug_token(self, req: Req) -> Resp:
        s = self.s
        with s.lock:
            caller = req.token or ""
            if "|" in caller:
                app_id, _, secret = caller.partition("|")
                app = s.apps.get(app_id)
                if app is None or app.secret != secret:
                    raise GraphError(190, None, "Invalid OAuth access token signature.")
            else:
                self._token(req)
            input_token = req.param("input_token")
            if not input_token:
                raise GraphError(100, None, "(#100) The parameter input_token is required")
            tok = s.tokens.get(input_token)
            if tok is None:
                return Resp(
                    200,
                    {
                        "data": {
                            "error": {"code": 190, "message": "Invalid OAuth access token."},
                            "is_valid": False,
                            "scopes": [],
                        }
                    },
                )
            data: dict[str, Any] = {
                "app_id": tok.app_id or next(iter(s.apps), "0"),
                "type": "PAGE" if tok.kind == "page" else "USER",
                "application": "postpilot-test",
                "data_access_expires_at": int(tok.issued_at + 90 * DAY_S),
                "expires_at": 0 if tok.expires_at is None else int(tok.expires_at),
                "is_valid": True,
                "issued_at": int(tok.issued_at),
                "scopes": list(tok.scopes),
                "granular_scopes": [
                    {"scope": sc, "target_ids": sorted(tok.ig_user_ids)}
                    if sc.startswith("instagram")
                    else {"scope": sc}
                    for sc in tok.scopes
                ],
                "user_id": tok.user_id,
            }
            try:
                self._check_valid(tok)
            except GraphError as err:
                data["is_valid"] = False
                data["error"] = {"code": err.code, "message": err.message, "subcode": err.subcode}
            return Resp(200, {"data": data})


# --- admin API (for tests in other processes) ---------------------------------------------------------------

_CONFIG_KEYS = (
    "latency",
    "image_delay_s",
    "video_delay_s",
    "carousel_delay_s",
    "container_lifetime_s",
    "container_limit",
    "fetch_media",
    "fetch_timeout_s",
    "accept_png",
    "media_errors_sync",
    "republish_behavior",
    "republish_error",
    "ig_code_response_style",
    "hidden_reads_for_new_objects",
    "app_call_budget",
    "account_call_budget",
)


def _admin_fault(state: GraphState, body: dict[str, Any]) -> Fault:
    kind = str(body.get("kind", "any"))
    count = int(body.get("count", 1))
    ftype = body.get("type", "error")
    if ftype == "token_expired":
        return state.inject_token_expired(kind, count=count)
    if ftype == "rate_limited":
        return state.inject_rate_limit(
            kind,
            code=int(body.get("code", 4)),
            count=count,
            regain_minutes=int(body.get("regain_minutes", 5)),
        )
    if ftype == "transient":
        return state.inject_transient(kind, code=int(body.get("code", 1)), count=count)
    if ftype == "server_error":
        return state.inject_server_error(
            kind, status=int(body.get("status", 500)), html=bool(body.get("html", False)), count=count
        )
    if ftype == "spam":
        return state.inject_spam_block(published=bool(body.get("published", True)), count=count)
    if ftype == "slow":
        return state.inject_slow(
            kind, float(body["seconds"]), count=count, commit_first=bool(body.get("commit_first", False))
        )
    if ftype == "lost_response":
        return state.inject_lost_response(str(body.get("kind", "publish")), count=count)
    if ftype == "drop":
        return state.inject_drop(kind, count=count, commit=bool(body.get("commit", False)))
    if ftype == "error":
        subcode = body.get("subcode")
        return state.inject_error(
            kind,
            int(body["code"]),
            int(subcode) if subcode is not None else None,
            count=count,
            message=body.get("message"),
            transient=body.get("transient"),
            http_status=int(body.get("http_status", 400)),
            commit=bool(body.get("commit", False)),
        )
    raise ValueError(f"unknown fault type {ftype}")


def _admin(state: GraphState, req: Req) -> Resp:
    """JSON endpoints under ``/_fake/`` to arrange and inspect the fake from another process."""
    path = "/".join(req.segments[1:])
    body = req.params
    method = req.method
    if method == "GET":
        with state.lock:
            if path == "publish_calls":
                return Resp(200, dict(state.publish_calls))
            if path == "media":
                return Resp(200, [m.to_json() for m in state.media])
            if path == "containers":
                return Resp(
                    200,
                    [{**c.to_json(), "status_code": state.status_of(c)[0]} for c in state.containers.values()],
                )
            if path in ("state", "counters"):
                return Resp(200, state.snapshot())
            if path == "requests":
                return Resp(
                    200,
                    [
                        {
                            "method": r.method,
                            "path": r.path,
                            "kind": r.kind,
                            "params": r.params,
                            "token_in_url": r.token_in_url,
                            "at": r.at,
                        }
                        for r in state.requests
                    ],
                )
            if path.startswith("tokens/"):
                tok = state.tokens[path.split("/", 1)[1]]
                return Resp(
                    200,
                    {
                        "token": tok.value,
                        "login_kind": tok.login_kind,
                        "kind": tok.kind,
                        "ig_user_ids": sorted(tok.ig_user_ids),
                        "scopes": list(tok.scopes),
                        "issued_at": tok.issued_at,
                        "expires_at": tok.expires_at,
                        "valid": not tok.is_expired(state.now()) and tok.revoked_subcode is None,
                    },
                )
    if method == "DELETE" and path == "faults":
        state.clear_faults()
        return Resp(200, {"ok": True})
    if method == "POST":
        if path == "accounts":
            args = {k: v for k, v in body.items() if k not in ("ig_user_id", "token")}
            account = state.add_account(str(body["ig_user_id"]), body.get("token"), **args)
            return Resp(
                200,
                {
                    "ok": True,
                    "ig_user_id": account.ig_user_id,
                    "fb_user_id": account.fb_user_id,
                    "page_id": account.page_id,
                },
            )
        if path == "tokens":
            args = {k: v for k, v in body.items() if k not in ("token", "ig_user_id")}
            state.add_token(str(body["token"]), str(body["ig_user_id"]), **args)
            return Resp(200, {"ok": True})
        if path in ("tokens/expire", "tokens/revoke", "tokens/backdate"):
            token = str(body["token"])
            if path.endswith("expire"):
                state.expire_token(token)
            elif path.endswith("revoke"):
                state.revoke_token(token, subcode=int(body.get("subcode", 460)))
            else:
                state.backdate_token(token, float(body["seconds"]))
            return Resp(200, {"ok": True})
        if path == "apps":
            state.add_app(
                str(body["app_id"]),
                str(body["secret"]),
                redirect_uri=str(body["redirect_uri"]),
                login_kind=str(body.get("login_kind", "facebook")),
            )
            return Resp(200, {"ok": True})
        if path == "codes":
            code = state.issue_code(
                str(body["app_id"]),
                str(body["ig_user_id"]),
                scopes=body.get("scopes"),
                redirect_uri=body.get("redirect_uri"),
            )
            return Resp(200, {"code": code})
        if path == "faults":
            fault = _admin_fault(state, body)
            return Resp(200, {"ok": True, "kind": fault.kind, "remaining": fault.remaining})
        if path == "script_containers":
            subcode = body.get("error_subcode")
            state.script_containers(
                str(body["outcome"]),
                error_subcode=int(subcode) if subcode else None,
                count=int(body.get("count", 1)),
            )
            return Resp(200, {"ok": True})
        if path.startswith("containers/"):
            subcode = body.get("error_subcode")
            state.set_container_status(
                path.split("/", 1)[1],
                str(body["status_code"]),
                error_subcode=int(subcode) if subcode else None,
            )
            return Resp(200, {"ok": True})
        if path == "quota":
            state.consume_quota(str(body["ig_user_id"]), int(body.get("n", 1)))
            return Resp(200, {"ok": True})
        if path == "config":
            unknown = set(body) - set(_CONFIG_KEYS)
            if unknown:
                raise ValueError(f"unknown config keys {sorted(unknown)}")
            with state.lock:
                for key, value in body.items():
                    setattr(state, key, tuple(value) if key == "republish_error" else value)
            return Resp(200, {"ok": True})
        if path == "advance":
            state.advance(float(body["seconds"]))
            return Resp(200, {"ok": True, "now": state.now()})
        if path == "reset":
            state.reset()
            return Resp(200, {"ok": True})
    return Resp(404, {"error": f"unknown admin endpoint {method} /_fake/{path}"})


# --- the wire -----------------------------------------------------------------------------------------------


class GraphFakeHandler(FakeHandler):
    # Headers and body go out as two small writes; without TCP_NODELAY, Nagle's algorithm and the client's
    # delayed ACK add ~40 ms to every answer, which would dwarf the latencies benchmarks configure.
    disable_nagle_algorithm = True

    @property
    def state(self) -> GraphState:
        state: GraphState = self.server.state
        return state

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        body = self.read_body()
        try:
            req = parse_request(method, self.path, self.headers, body)
        except (ValueError, UnicodeDecodeError):
            self._send(GraphError(100, None, "(#100) The request body could not be parsed").response())
            return
        if req.segments[:1] == ["_fake"]:
            try:
                self._send(_admin(self.state, req))
            except (KeyError, ValueError, TypeError) as exc:
                self._send(Resp(400, {"error": f"{type(exc).__name__}: {exc}"}))
            return
        self._serve_graph(req)

    def _serve_graph(self, req: Req) -> None:
        state = self.state
        api = GraphApi(state)
        kind, handler = api.route(req)
        self._record(req, kind)
        latency = state.latency.get(kind, 0.0)
        if latency > 0:
            time.sleep(latency)
        subject = None if kind == "oauth" else self._subject(req)
        if kind != "oauth":
            refused = self._over_budget(subject)
            if refused is not None:
                self._send(refused)
                return
            state.count_call(subject)
        fault = state.take_fault(kind)
        if fault is None:
            self._send(self._with_usage(self._call(handler, req), subject, kind))
            return
        resp = self._call(handler, req) if fault.commit else None
        if fault.delay_s > 0:
            time.sleep(fault.delay_s)
        if fault.expire_token and req.token:
            state.expire_token(req.token)
        if fault.drop:
            self.drop_connection()
            return
        if fault.answers_error:
            self._send(self._fault_response(fault, req))
            return
        self._send(resp if resp is not None else self._call(handler, req))

    def _subject(self, req: Req) -> str | None:
        """The Instagram account a call is about, for its business-use-case usage."""
        state = self.state
        with state.lock:
            first = req.segments[0] if req.segments else ""
            if first in state.accounts:
                return first
            if first in state.containers:
                return state.containers[first].ig_user_id
            if first in state.media_by_id:
                return state.media_by_id[first].ig_user_id
            tok = state.tokens.get(req.token or "")
            if tok is not None and len(tok.ig_user_ids) == 1:
                return next(iter(tok.ig_user_ids))
            return None

    def _usage_headers_for(self, subject: str | None) -> dict[str, str]:
        state = self.state
        app_pct, account_pct = state.usage_percent(subject)
        headers = {
            "X-App-Usage": json.dumps(
                {"call_count": app_pct, "total_cputime": app_pct // 2, "total_time": app_pct // 2}
            )
        }
        if subject:
            with state.lock:
                regain = state.regain_minutes(state.account_call_times.get(subject, [])) if account_pct >= 100 else 0
            entry = {
                "type": "instagram",
                "call_count": account_pct,
                "total_cputime": account_pct // 2,
                "total_time": account_pct // 2,
                "estimated_time_to_regain_access": regain,
            }
            headers["X-Business-Use-Case-Usage"] = json.dumps({subject: [entry]})
        return headers

    def _over_budget(self, subject: str | None) -> Resp | None:
        app_pct, account_pct = self.state.usage_percent(subject)
        if account_pct >= 100 and subject:
            err = GraphError(
                80002,
                None,
                _CODE_MESSAGES[80002],
                transient=True,
                headers=self._usage_headers_for(subject),
            )
            return err.response()
        if app_pct >= 100:
            err = GraphError(
                4,
                None,
                "(#4) Application request limit reached",
                transient=True,
                headers=self._usage_headers_for(subject),
            )
            return err.response()
        return None

    def _with_usage(self, resp: Resp, subject: str | None, kind: str) -> Resp:
        if kind == "oauth":
            return resp
        resp.headers = {**self._usage_headers_for(subject), **resp.headers}
        return resp

    def _record(self, req: Req, kind: str) -> None:
        state = self.state
        with state.lock:
            state.requests.append(
                RequestRecord(req.method, req.path, kind, dict(req.params), req.token, req.token_in_url, state.now())
            )
            if req.token_in_url:
                if kind == "oauth":
                    state.oauth_token_in_url_count += 1
                else:
                    state.token_in_url_count += 1
            if kind == "publish":
                # Every call counts, whatever happens next: tests prove "never twice" with this.
                creation_id = req.param("creation_id")
                if creation_id:
                    state.publish_calls[creation_id] = state.publish_calls.get(creation_id, 0) + 1

    @staticmethod
    def _call(handler: Callable[[Req], Resp], req: Req) -> Resp:
        try:
            return handler(req)
        except GraphError as err:
            return err.response()
        except Exception:  # a bug in the fake: say so loudly rather than look like one of Meta's 5xx
            traceback.print_exc()
            return Resp(500, raw=b"graph_fake internal error (see stderr)", content_type="text/plain")

    def _fault_response(self, fault: Fault, req: Req) -> Resp:
        if fault.html:
            return Resp(fault.http_status, raw=_HTML_ERROR, content_type="text/html; charset=utf-8")
        headers = dict(fault.headers)
        if fault.regain_minutes is not None:
            # Meta keys the business-use-case usage by the object the call was about.
            headers.update(_usage_headers(fault.regain_minutes, req.segments[0] if req.segments else "0"))
        err = GraphError(
            fault.code if fault.code is not None else 1,
            fault.subcode,
            fault.message,
            http_status=fault.http_status,
            transient=fault.transient,
            headers=headers,
        )
        return err.response()

    def _send(self, resp: Resp) -> None:
        headers = {"x-fb-trace-id": _trace_id(), **resp.headers}
        try:
            if resp.raw is not None:
                self.send_raw(resp.status, resp.raw, resp.content_type, headers)
            else:
                self.send_json(resp.status, resp.payload, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): what was done stays done


def make_server(state: GraphState | None = None, port: int = 0) -> FakeServer[GraphState]:
    """An unstarted server on 127.0.0.1 (``with make_server(state) as srv:`` starts and stops it)."""
    return FakeServer(GraphFakeHandler, state if state is not None else GraphState(), port=port)


# --- separate process ---------------------------------------------------------------------------------------


def load_accounts_file(state: GraphState, path: str) -> None:
    """JSON: a list of ``add_account`` keyword objects, or ``{"accounts": [...], "apps": [...]}``."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    accounts = data if isinstance(data, list) else data.get("accounts", [])
    for entry in accounts:
        args = {k: v for k, v in entry.items() if k not in ("ig_user_id", "token")}
        state.add_account(str(entry["ig_user_id"]), entry.get("token"), **args)
    for app in [] if isinstance(data, list) else data.get("apps", []):
        state.add_app(
            str(app["app_id"]),
            str(app["secret"]),
            redirect_uri=str(app["redirect_uri"]),
            login_kind=str(app.get("login_kind", "facebook")),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.graph_fake", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on the READY line)")
    parser.add_argument("--latency-create", type=float, default=0.0)
    parser.add_argument("--latency-status", type=float, default=0.0)
    parser.add_argument("--latency-publish", type=float, default=0.0)
    parser.add_argument("--image-delay", type=float, default=0.0, help="seconds before an image container is FINISHED")
    parser.add_argument("--video-delay", type=float, default=0.2, help="same for reels and video items")
    parser.add_argument("--fetch-media", action="store_true", help="download and check local image URLs")
    parser.add_argument("--accounts-file", help="JSON accounts (and apps) to register at start")
    args = parser.parse_args(argv)

    state = GraphState(
        latency={
            "create": args.latency_create,
            "status": args.latency_status,
            "publish": args.latency_publish,
        },
        image_delay_s=args.image_delay,
        video_delay_s=args.video_delay,
        fetch_media=args.fetch_media,
    )
    if args.accounts_file:
        load_accounts_file(state, args.accounts_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = make_server(state, port=args.port).start()
    print(f"READY {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
