"""What the publishing flow needs from the Graph API (``GraphApi``), and the values it answers with.

``GraphClient`` (``client.py``) and ``RecordingGraphClient`` (``recording.py``) satisfy it; the pipeline and
the quota check depend on this Protocol only, never on httpx.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from postpilot.domain.publish_options import UserTag


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
