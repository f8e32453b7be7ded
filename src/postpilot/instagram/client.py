"""A small Graph API client on httpx, and a recording twin for dry-run accounts.

``GraphClient`` speaks to ``graph.facebook.com`` (Facebook Login) or ``graph.instagram.com`` (Instagram
Login); the two hosts take the same content-publishing calls. The token travels only in the
``Authorization: Bearer`` header: URLs end up in logs, tracebacks and proxies, headers do not.

Every method raises only our errors (``postpilot.domain.errors``). Error responses go through
``error_table.classify_graph_error``; transport failures are mapped here, where the one irreversible call,
``media_publish``, is told apart: once its request may have left this process, a failure means
``OutcomeUnknown`` (read the container before doing anything else), never "retry".

Both clients build their requests through the same code (``_GraphCalls``), so what
``RecordingGraphClient`` records for a dry run is exactly what ``GraphClient`` would send.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx

from postpilot.domain.errors import ConfigError, OutcomeUnknown, PostpilotError, SlowingDown, Transient
from postpilot.domain.publish_options import UserTag
from postpilot.instagram.error_table import Stage, classify_graph_error
from postpilot.instagram.usage import GraphUsage
from postpilot.logging import get_logger
from postpilot.redaction import redact

log = get_logger("postpilot.graph")

Op = Literal["create", "status", "publish", "limit", "media", "recent", "me", "account", "comment", "comments"]

# Pages of /{ig-user-id}/media followed by recent_media: enough to find a post made minutes ago.
RECENT_MEDIA_MAX_PAGES = 3
PAGE_SIZE_MAX = 50


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    status_code: str  # IN_PROGRESS | FINISHED | PUBLISHED | ERROR | EXPIRED
    status: str | None  # e.g. "Error: Media upload has failed with error code 2207026"


@dataclass(frozen=True, slots=True)
class PublishingLimit:
    quota_usage: int
    quota_total: int | None
    quota_duration_s: int | None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    id: str
    permalink: str | None
    timestamp: datetime | None  # aware UTC
    media_type: str | None
    caption: str | None


class GraphApi(Protocol):
    """What the publishing flow needs from the Graph API; ``GraphClient`` and ``RecordingGraphClient``."""

    def create_image_container(
        self,
        ig_user_id: str,
        *,
        image_url: str,
        caption: str | None = None,
        alt_text: str | None = None,
        is_carousel_item: bool = False,
        extras: ContainerExtras | None = None,
    ) -> str: ...

    def create_video_item_container(self, ig_user_id: str, *, video_url: str) -> str: ...

    def create_carousel_container(
        self,
        ig_user_id: str,
        *,
        children: Sequence[str],
        caption: str | None = None,
        extras: ContainerExtras | None = None,
    ) -> str: ...

    def create_reel_container(
        self,
        ig_user_id: str,
        *,
        video_url: str,
        caption: str | None = None,
        cover_url: str | None = None,
        share_to_feed: bool = True,
        extras: ContainerExtras | None = None,
    ) -> str: ...

    def create_story_container(
        self,
        ig_user_id: str,
        *,
        image_url: str | None = None,
        video_url: str | None = None,
        extras: ContainerExtras | None = None,
    ) -> str: ...

    def post_comment(self, media_id: str, message: str) -> str: ...

    def comments(self, media_id: str) -> list[Comment]: ...

    def container_status(self, container_id: str) -> ContainerStatus: ...

    def publishing_limit(self, ig_user_id: str) -> PublishingLimit: ...

    def publish(self, ig_user_id: str, creation_id: str) -> str: ...

    def media_info(self, media_id: str) -> MediaInfo: ...

    def recent_media(self, ig_user_id: str, limit: int = 25) -> list[MediaInfo]: ...

    def me(self, fields: Sequence[str] = ("id", "username")) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ContainerExtras:
    """The optional parameters of a container, as Meta names them (issue 16). Which container takes which is
    the staging flow's business (``pipeline/stage.py``); this only puts them on the wire."""

    user_tags: Sequence[UserTag] = ()
    collaborators: Sequence[str] = ()
    location_id: str | None = None
    thumb_offset: int | None = None  # reels: milliseconds into the video for the cover
    audio_name: str | None = None  # reels: the name of the original audio
    trial_params: Mapping[str, str] | None = None  # reels: a trial reel, shown to non-followers first

    def form(self) -> dict[str, str]:
        form: dict[str, str] = {}
        if self.user_tags:
            form["user_tags"] = json.dumps([t.as_graph() for t in self.user_tags], separators=(",", ":"))
        if self.collaborators:
            form["collaborators"] = json.dumps(list(self.collaborators), separators=(",", ":"))
        if self.location_id:
            form["location_id"] = self.location_id
        if self.thumb_offset is not None:
            form["thumb_offset"] = str(self.thumb_offset)
        if self.audio_name:
            form["audio_name"] = self.audio_name
        if self.trial_params:
            form["trial_params"] = json.dumps(dict(self.trial_params), separators=(",", ":"))
        return form


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    text: str
    username: str | None


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """One Graph API call as it goes on the wire, without the Authorization header."""

    op: Op
    method: Literal["GET", "POST"]
    path: str  # "/v25.0/17841400000000000/media"
    params: Mapping[str, str] = field(default_factory=dict)  # query string
    form: Mapping[str, str] = field(default_factory=dict)  # form body (POST)
    media_url: str | None = None  # the media Instagram will fetch, for error messages

    @property
    def during(self) -> Stage:
        if self.op in ("create", "status", "publish"):
            return self.op
        if self.op == "comment":
            return "create"  # it makes an object, as a container does
        return "read"


class _GraphCalls:
    """Builds each call and reads its answer; subclasses decide how a call is executed."""

    def __init__(self, *, version: str, account: str | None) -> None:
        # graph.instagram.com accepts paths without a version; an empty version means "none".
        self._prefix = f"/{version.strip('/')}" if version.strip("/") else ""
        self._account = account

    def _execute(self, request: GraphRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _path(self, *parts: str) -> str:
        # Ids come from the database and from Meta; quoting keeps a stray "/" or "?" from changing the call.
        return self._prefix + "".join("/" + quote(str(part), safe="") for part in parts)

    # --- containers ---------------------------------------------------------------------------------

    def create_image_container(
        self,
        ig_user_id: str,
        *,
        image_url: str,
        caption: str | None = None,
        alt_text: str | None = None,
        is_carousel_item: bool = False,
        extras: ContainerExtras | None = None,
    ) -> str:
        """A container for a single image or a carousel item. Instagram fetches ``image_url`` itself, at
        this call, so it must be public. Carousel items carry no caption (the parent does)."""
        form = {"image_url": image_url}
        if is_carousel_item:
            form["is_carousel_item"] = "true"
        elif caption:
            form["caption"] = caption
        if alt_text:
            form["alt_text"] = alt_text
        form.update(extras.form() if extras else {})
        return self._create(ig_user_id, form, media_url=image_url)

    def create_video_item_container(self, ig_user_id: str, *, video_url: str) -> str:
        """A video slide of a carousel (``media_type=VIDEO`` with ``is_carousel_item``)."""
        form = {"media_type": "VIDEO", "video_url": video_url, "is_carousel_item": "true"}
        return self._create(ig_user_id, form, media_url=video_url)

    def create_carousel_container(
        self,
        ig_user_id: str,
        *,
        children: Sequence[str],
        caption: str | None = None,
        extras: ContainerExtras | None = None,
    ) -> str:
        """The parent container of a carousel; every child must already read FINISHED."""
        form = {"media_type": "CAROUSEL", "children": ",".join(children)}
        if caption:
            form["caption"] = caption
        form.update(extras.form() if extras else {})
        return self._create(ig_user_id, form)

    def create_story_container(
        self,
        ig_user_id: str,
        *,
        image_url: str | None = None,
        video_url: str | None = None,
        extras: ContainerExtras | None = None,
    ) -> str:
        """A story (``media_type=STORIES``): one image or one video, no caption."""
        form = {"media_type": "STORIES"}
        if video_url:
            form["video_url"] = video_url
        elif image_url:
            form["image_url"] = image_url
        form.update(extras.form() if extras else {})
        return self._create(ig_user_id, form, media_url=video_url or image_url)

    def create_reel_container(
        self,
        ig_user_id: str,
        *,
        video_url: str,
        caption: str | None = None,
        cover_url: str | None = None,
        share_to_feed: bool = True,
        extras: ContainerExtras | None = None,
    ) -> str:
        form = {"media_type": "REELS", "video_url": video_url, "share_to_feed": _flag(share_to_feed)}
        if caption:
            form["caption"] = caption
        if cover_url:
            form["cover_url"] = cover_url
        form.update(extras.form() if extras else {})
        return self._create(ig_user_id, form, media_url=video_url)

    def _create(self, ig_user_id: str, form: dict[str, str], *, media_url: str | None = None) -> str:
        request = GraphRequest("create", "POST", self._path(ig_user_id, "media"), form=form, media_url=media_url)
        return _required_str(self._execute(request), "id", during="create")

    def container_status(self, container_id: str) -> ContainerStatus:
        request = GraphRequest("status", "GET", self._path(container_id), params={"fields": "status_code,status"})
        body = self._execute(request)
        return ContainerStatus(
            status_code=_required_str(body, "status_code", during="status"),
            status=_opt_str(body.get("status")),
        )

    # --- publishing ---------------------------------------------------------------------------------

    def publishing_limit(self, ig_user_id: str) -> PublishingLimit:
        request = GraphRequest(
            "limit",
            "GET",
            self._path(ig_user_id, "content_publishing_limit"),
            params={"fields": "quota_usage,config"},
        )
        data = self._execute(request).get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        raw_config = entry.get("config")
        config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        return PublishingLimit(
            quota_usage=_opt_int(entry.get("quota_usage")) or 0,
            quota_total=_opt_int(config.get("quota_total")),
            quota_duration_s=_opt_int(config.get("quota_duration")),
        )

    def publish(self, ig_user_id: str, creation_id: str) -> str:
        """Publish a FINISHED container; returns the media id. The one call that cannot be repeated safely:
        any doubt about whether it applied raises ``OutcomeUnknown``."""
        request = GraphRequest(
            "publish", "POST", self._path(ig_user_id, "media_publish"), form={"creation_id": creation_id}
        )
        return _required_str(self._execute(request), "id", during="publish")

    # --- reading ------------------------------------------------------------------------------------

    def media_info(self, media_id: str) -> MediaInfo:
        request = GraphRequest(
            "media",
            "GET",
            self._path(media_id),
            params={"fields": "id,permalink,timestamp,media_type,caption"},
        )
        info = _media_info(self._execute(request))
        if info is None:
            raise Transient("Instagram's answer about the post had no id; it will be asked again.")
        return info

    def recent_media(self, ig_user_id: str, limit: int = 25) -> list[MediaInfo]:
        """The account's newest posts, newest first, following at most a few pages."""
        found: list[MediaInfo] = []
        if limit <= 0:
            return found
        after: str | None = None
        for _ in range(RECENT_MEDIA_MAX_PAGES):
            params = {
                "fields": "id,caption,timestamp,permalink,media_type",
                "limit": str(max(1, min(limit - len(found), PAGE_SIZE_MAX))),
            }
            if after:
                params["after"] = after
            body = self._execute(GraphRequest("recent", "GET", self._path(ig_user_id, "media"), params=params))
            data = body.get("data")
            for item in data if isinstance(data, list) else []:
                info = _media_info(item) if isinstance(item, dict) else None
                if info is not None:
                    found.append(info)
            # Follow the cursor rather than paging.next: Meta's next links can carry an access_token.
            after = _next_cursor(body)
            if len(found) >= limit or not after:
                break
        return found[:limit]

    # --- comments -----------------------------------------------------------------------------------

    def post_comment(self, media_id: str, message: str) -> str:
        """``POST /{ig-media-id}/comments?message=…`` (Meta puts it in the query string; the form works too
        and keeps the text out of access logs). Returns the comment's id."""
        request = GraphRequest("comment", "POST", self._path(media_id, "comments"), form={"message": message})
        return _required_str(self._execute(request), "id", during="create")

    def comments(self, media_id: str) -> list[Comment]:
        """The first page of comments on a media (enough to find our own first comment after a crash)."""
        request = GraphRequest(
            "comments", "GET", self._path(media_id, "comments"), params={"fields": "id,text,username"}
        )
        data = self._execute(request).get("data")
        found = []
        for item in data if isinstance(data, list) else []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                found.append(
                    Comment(id=item["id"], text=str(item.get("text") or ""), username=_opt_str(item.get("username")))
                )
        return found

    def me(self, fields: Sequence[str] = ("id", "username")) -> dict[str, Any]:
        return self._execute(GraphRequest("me", "GET", self._path("me"), params={"fields": ",".join(fields)}))

    def account_info(self, ig_user_id: str) -> dict[str, Any]:
        """The Instagram professional account itself (``GET /{ig-user-id}?fields=id,username``): proves the
        token reaches the account posts are published to."""
        return self._execute(GraphRequest("account", "GET", self._path(ig_user_id), params={"fields": "id,username"}))


class GraphClient(_GraphCalls):
    """The real client. ``http`` belongs to the caller, who closes it."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        base_url: str,
        version: str,
        token: str,
        timeout_s: float,
        publish_timeout_s: float,
        account: str | None = None,
        usage: GraphUsage | None = None,
        on_hold: Callable[[], None] | None = None,
        urgent: bool = False,
    ) -> None:
        super().__init__(version=version, account=account)
        # Meta's usage headers are read on every answer; calls that can wait are held near a limit.
        self._usage = usage
        self._on_hold = on_hold
        self._urgent = urgent  # every call is for a post due now (publish, reconcile)
        if not token:
            raise ConfigError(f"The account has no Instagram token. Run: postpilot account connect {account or 'NAME'}")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = httpx.Timeout(timeout_s)
        # A slow publish is waited for longer; connecting is not, since a failed connect is harmless.
        self._publish_timeout = httpx.Timeout(publish_timeout_s, connect=min(timeout_s, publish_timeout_s))

    def __repr__(self) -> str:  # never show the token
        return f"GraphClient(base_url={self._base_url!r}, prefix={self._prefix!r}, account={self._account!r})"

    def _execute(self, request: GraphRequest) -> dict[str, Any]:
        publishing = request.op == "publish"
        self._hold_if_near_limit(urgent=publishing or self._urgent)
        started = time.monotonic()
        try:
            response = self._http.request(
                request.method,
                self._base_url + request.path,
                params=dict(request.params) or None,
                data=dict(request.form) or None,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                timeout=self._publish_timeout if publishing else self._timeout,
            )
        except httpx.InvalidURL as exc:
            raise ConfigError(f"The Graph API address is invalid: {redact(str(exc), [self._token])}") from exc
        except httpx.HTTPError as exc:
            raise _transport_error(exc, publishing) from exc
        # POSTPILOT_LOG_LEVEL=debug: every call, without its token (it travels in a header, never the URL).
        log.debug(
            "graph_call",
            op=request.op,
            method=request.method,
            path=request.path,
            status=response.status_code,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        if self._usage is not None and response.is_success:
            # Refusals carry the same headers, but the error table reads those (the account's throttle is
            # then kept in the database, for every replica); the meter is for slowing down *before* one.
            self._usage.observe(response.headers, account=self._account or "")
        return self._read(response, request)

    def _hold_if_near_limit(self, *, urgent: bool) -> None:
        """Raise ``SlowingDown`` (nothing is sent) while a usage budget is near its limit. Calls for a post due
        now (``media_publish``, and every call of a client built ``urgent``) still go out until a budget is
        full, since the scheduled minute matters most; staging ahead and permalinks wait."""
        if self._usage is None:
            return
        wait = self._usage.hold_off_s(account=self._account or "", urgent=urgent)
        if wait <= 0:
            return
        if self._on_hold is not None:
            self._on_hold()
        raise SlowingDown(
            "Meta's rate-limit figures for this app or account are near their limit, so postpilot holds "
            f"calls that can wait for about {max(1, round(wait / 60))} minutes",
            retry_after_s=wait,
        )

    def _read(self, response: httpx.Response, request: GraphRequest) -> dict[str, Any]:
        body = _json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if response.is_success and isinstance(body, dict) and not isinstance(error, dict):
            return body
        if response.is_success and not isinstance(error, dict):
            # A 2xx we cannot read: for publish it most likely did publish.
            if request.op == "publish":
                raise OutcomeUnknown(
                    "Instagram answered the publish with something unreadable; the post may be live, "
                    "so it is checked before anything else."
                )
            raise Transient("Instagram sent an answer postpilot could not read; it will be asked again.")
        envelope = error if isinstance(error, dict) else {}
        raise classify_graph_error(
            http_status=response.status_code,
            code=_opt_int(envelope.get("code")),
            subcode=_opt_int(envelope.get("error_subcode")),
            is_transient=envelope.get("is_transient") if isinstance(envelope.get("is_transient"), bool) else None,
            message=redact(_opt_str(envelope.get("message")) or "", [self._token]),
            user_msg=redact(_opt_str(envelope.get("error_user_msg")) or "", [self._token]) or None,
            headers=response.headers,
            during=request.during,
            account=self._account,
            media_url=request.media_url,
        )


# --- helpers ---------------------------------------------------------------------------------------------

# Raised before any byte of the request left: safe to retry even for publish.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _transport_error(exc: httpx.HTTPError, publishing: bool) -> PostpilotError:
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConfigError("The Graph API address must start with https:// (or http:// for a local test).")
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    if isinstance(exc, _NEVER_SENT):
        return Transient(f"Could not reach Instagram (the connection {what}); nothing was sent, retrying later.")
    if publishing:
        return OutcomeUnknown(
            f"The connection to Instagram {what} while publishing; the post may be live anyway, so it is "
            "checked before anything else."
        )
    return Transient(f"The connection to Instagram {what}; it will be retried.")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # an HTML error page from a proxy, an empty body, bad UTF-8
        return None


def _required_str(body: dict[str, Any], key: str, *, during: Stage) -> str:
    value = body.get(key)
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    if during == "publish":
        raise OutcomeUnknown(
            "Instagram accepted the publish but sent no media id; the post may be live, so it is checked."
        )
    raise Transient(f"Instagram's answer had no {key}; it will be asked again.")


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _media_info(item: Mapping[str, Any]) -> MediaInfo | None:
    media_id = item.get("id")
    if not isinstance(media_id, str | int) or isinstance(media_id, bool):
        return None
    return MediaInfo(
        id=str(media_id),
        permalink=_opt_str(item.get("permalink")),
        timestamp=parse_graph_time(item.get("timestamp")),
        media_type=_opt_str(item.get("media_type")),
        caption=_opt_str(item.get("caption")),
    )


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None  # no next link: this was the last page
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def parse_graph_time(value: object) -> datetime | None:
    """Meta's timestamps ("2026-01-31T09:30:00+0000") as aware UTC; None when missing or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    for parse in (lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z"), datetime.fromisoformat):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            return None
        return parsed.astimezone(UTC)
    return None
