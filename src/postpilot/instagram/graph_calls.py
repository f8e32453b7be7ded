"""Every Graph API call, built once: its path, query and form, and how its answer is read.

``GraphCalls`` knows what each call sends and what comes back; subclasses decide how a ``GraphRequest`` is
executed. ``GraphClient`` (``client.py``) sends it with httpx and ``RecordingGraphClient`` (``recording.py``)
records it for a dry run, so what a dry run records is exactly what a real run would send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from postpilot.domain.errors import Transient
from postpilot.instagram.answers import next_cursor, opt_int, opt_str, read_media_info, required_str
from postpilot.instagram.error_table import Stage
from postpilot.instagram.graph_api import Comment, ContainerExtras, ContainerStatus, MediaInfo, PublishingLimit

Op = Literal["create", "status", "publish", "limit", "media", "recent", "me", "account", "comment", "comments"]

# Pages of /{ig-user-id}/media followed by recent_media: enough to find a post made minutes ago.
RECENT_MEDIA_MAX_PAGES = 3
PAGE_SIZE_MAX = 50


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


class GraphCalls:
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
        return required_str(self._execute(request), "id", during="create")

    def container_status(self, container_id: str) -> ContainerStatus:
        request = GraphRequest("status", "GET", self._path(container_id), params={"fields": "status_code,status"})
        body = self._execute(request)
        return ContainerStatus(
            status_code=required_str(body, "status_code", during="status"),
            status=opt_str(body.get("status")),
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
            quota_usage=opt_int(entry.get("quota_usage")) or 0,
            quota_total=opt_int(config.get("quota_total")),
            quota_duration_s=opt_int(config.get("quota_duration")),
        )

    def publish(self, ig_user_id: str, creation_id: str) -> str:
        """Publish a FINISHED container; returns the media id. The one call that cannot be repeated safely:
        any doubt about whether it applied raises ``OutcomeUnknown``."""
        request = GraphRequest(
            "publish", "POST", self._path(ig_user_id, "media_publish"), form={"creation_id": creation_id}
        )
        return required_str(self._execute(request), "id", during="publish")

    # --- reading ------------------------------------------------------------------------------------

    def media_info(self, media_id: str) -> MediaInfo:
        request = GraphRequest(
            "media",
            "GET",
            self._path(media_id),
            params={"fields": "id,permalink,timestamp,media_type,caption"},
        )
        info = read_media_info(self._execute(request))
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
                info = read_media_info(item) if isinstance(item, dict) else None
                if info is not None:
                    found.append(info)
            # Follow the cursor rather than paging.next: Meta's next links can carry an access_token.
            after = next_cursor(body)
            if len(found) >= limit or not after:
                break
        return found[:limit]

    # --- comments -----------------------------------------------------------------------------------

    def post_comment(self, media_id: str, message: str) -> str:
        """``POST /{ig-media-id}/comments?message=…`` (Meta puts it in the query string; the form works too
        and keeps the text out of access logs). Returns the comment's id."""
        request = GraphRequest("comment", "POST", self._path(media_id, "comments"), form={"message": message})
        return required_str(self._execute(request), "id", during="create")

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
                    Comment(id=item["id"], text=str(item.get("text") or ""), username=opt_str(item.get("username")))
                )
        return found

    def me(self, fields: Sequence[str] = ("id", "username")) -> dict[str, Any]:
        return self._execute(GraphRequest("me", "GET", self._path("me"), params={"fields": ",".join(fields)}))

    def account_info(self, ig_user_id: str) -> dict[str, Any]:
        """The Instagram professional account itself (``GET /{ig-user-id}?fields=id,username``): proves the
        token reaches the account posts are published to."""
        return self._execute(GraphRequest("account", "GET", self._path(ig_user_id), params={"fields": "id,username"}))


def _flag(value: bool) -> str:
    return "true" if value else "false"
