"""The Graph API routes: containers, publishing, reading media, accounts and Pages."""

from __future__ import annotations

import io
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.fakes.graph.comments import CommentRoutes
from tests.fakes.graph.extras import check_extras
from tests.fakes.graph.oauth import AuthAndOAuth
from tests.fakes.graph.parsing import Req, _select, _split_fields
from tests.fakes.graph.records import (
    _HASHTAG_RE,
    _MENTION_RE,
    _SUBCODE_TO_CODE,
    DAY_S,
    MAX_IMAGE_BYTES,
    FakeAccount,
    FakeContainer,
    FakeMedia,
    FakePage,
    FakeToken,
    GraphError,
    Resp,
    _b64,
    _bad_param,
    _not_found,
    _truthy,
    _unb64,
)

# --- the API ------------------------------------------------------------------------------------------------


class GraphRoutes(CommentRoutes, AuthAndOAuth):
    """Meta's semantics, request in, ``Resp`` out (or ``GraphError`` raised). Holds no state of its own."""

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
        if len(seg) == 2 and seg[1] == "comments":
            return ("comment", self.create_comment) if method == "POST" else ("comments", self.list_comments)
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
        check_extras(req, c, media_type, has_video=bool(video_url))
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
