"""Constants, Meta's error texts, the fake's records (accounts, tokens, containers, media, faults) and
the error it raises: the vocabulary every other module of the fake uses."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    "instagram_manage_comments",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
)
IG_SCOPES = ("instagram_business_basic", "instagram_business_content_publish", "instagram_business_manage_comments")
_BASIC_SCOPE = {"facebook": "instagram_basic", "instagram": "instagram_business_basic"}
_PUBLISH_SCOPE = {"facebook": "instagram_content_publish", "instagram": "instagram_business_content_publish"}
_COMMENT_SCOPE = {"facebook": "instagram_manage_comments", "instagram": "instagram_business_manage_comments"}

FAULT_KINDS = ("create", "status", "publish", "limit", "media_read", "account", "oauth", "comment", "comments", "any")

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
    user_tags: list[dict[str, Any]] = field(default_factory=list)
    collaborators: list[str] = field(default_factory=list)
    location_id: str | None = None
    audio_name: str | None = None
    trial_params: dict[str, Any] | None = None
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
            "user_tags": list(self.user_tags),
            "collaborators": list(self.collaborators),
            "location_id": self.location_id,
            "audio_name": self.audio_name,
            "trial_params": self.trial_params,
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
    comments: list[dict[str, Any]] = field(default_factory=list)  # {id, text, username, timestamp}

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
