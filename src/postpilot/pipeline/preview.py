"""What a post will publish, shown before it does (``post preview`` and the review page's post page).

The stored images, the exact caption and alt text, and the Graph API requests publishing will make. The
requests are not re-described here: the real staging flow runs against the dry-run recording client and a
what-if store that reads the post's media and keeps every write to itself, so the preview cannot drift from
what publishing sends, and looking at a post never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from postpilot.domain import errors
from postpilot.domain.changes import PostChange
from postpilot.domain.events import EventKind
from postpilot.domain.model import FINAL_STATUSES, Account, Post, PostMedia, PostStatus, PostType
from postpilot.domain.timeparse import shown_time
from postpilot.instagram.recording import RecordedRequest, RecordingGraphClient
from postpilot.pipeline.stage import StagingFlow, StagingPolicy
from postpilot.redaction import display_url


class PreviewSource(Protocol):
    """What a preview reads (``db.repository.Repository`` satisfies it)."""

    def require_post(self, post_id: int) -> Post: ...

    def account(self, account_id: int) -> Account | None: ...

    def media(self, post_id: int) -> list[PostMedia]: ...


@dataclass(frozen=True, slots=True)
class PreviewImage:
    position: int  # 1-based, as people count
    kind: str
    source: str  # generated | url | upload …
    location: str | None  # a local path, or the URL without credentials or signature
    width: int | None
    height: int | None
    bytes: int | None
    alt_text: str | None


@dataclass(frozen=True, slots=True)
class PostPreview:
    post: Post
    account: str
    time_zone: str  # the account's, for showing times
    images: list[PreviewImage]
    caption: str
    alt_text: str | None
    requests: list[RecordedRequest]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "post_id": self.post.id,
            "account": self.account,
            "status": self.post.status.value,
            "post_type": self.post.post_type,
            "scheduled_at": self.post.scheduled_at.isoformat(),
            "time_zone": self.time_zone,
            "caption": self.caption,
            "alt_text": self.alt_text,
            "images": [
                {
                    "position": i.position,
                    "kind": i.kind,
                    "source": i.source,
                    "location": i.location,
                    "width": i.width,
                    "height": i.height,
                    "bytes": i.bytes,
                    "alt_text": i.alt_text,
                }
                for i in self.images
            ],
            "requests": [r.as_dict() for r in self.requests],
            "notes": list(self.notes),
        }


class _WhatIfStore:
    """The staging flow's store for a preview: media read from the database, every write kept here."""

    def __init__(self, source: PreviewSource, post: Post) -> None:
        self._source = source
        self._post = post

    def media(self, post_id: int) -> list[PostMedia]:
        return self._source.media(post_id)

    def post(self, post_id: int) -> Post | None:
        return self._post

    def set_media_container(self, media_id: int, container_id: str) -> None:
        return None

    def update_owned(
        self,
        post_id: int,
        *,
        owner: str,
        status: PostStatus,
        change: PostChange | None = None,
        kind: EventKind | str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        # Staging needs only the methods above; anything else would be a write a preview must never make.
        raise AttributeError(f"a preview does not {name}")


def _span(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g} hour{'s' if hours != 1 else ''}" if hours >= 1 else f"{seconds / 60:g} minutes"


def local_path(url: str | None) -> str | None:
    """``file:///var/lib/postpilot/media/a.jpg`` → ``/var/lib/postpilot/media/a.jpg``; other URLs → None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        return unquote(parts.path)
    if not parts.scheme and url.startswith("/"):
        return url
    return None


def _location(url: str | None) -> str | None:
    return local_path(url) or (display_url(url) if url else None)


def _images(items: Sequence[PostMedia]) -> list[PreviewImage]:
    return [
        PreviewImage(
            position=m.position + 1,
            kind=m.kind,
            source=m.source.value,
            location=_location(m.stored_url),
            width=m.width,
            height=m.height,
            bytes=m.bytes,
            alt_text=m.alt_text,
        )
        for m in items
    ]


def _shown_request(request: RecordedRequest) -> RecordedRequest:
    """The request as a person may see it: image and video URLs without credentials or signatures."""
    form = {k: (display_url(v) if k.endswith("_url") else v) for k, v in request.form.items()}
    return RecordedRequest(
        method=request.method,
        url=request.url,
        path=request.path,
        params=dict(request.params),
        form=form,
        headers=dict(request.headers),
    )


def preview_post(
    source: PreviewSource, post_id: int, *, recorder: RecordingGraphClient, prepare_ahead_s: float = 3600.0
) -> PostPreview:
    """What post ``post_id`` will publish. ``recorder`` is the account's dry-run client (same host and API
    version as publishing), so the requests shown are the ones that would be sent; ``prepare_ahead_s`` is
    the configured window, for saying when an unprepared post will be prepared."""
    post = source.require_post(post_id)
    account = source.account(post.account_id)
    media = source.media(post_id)
    notes: list[str] = []
    requests: list[RecordedRequest] = []
    name = account.name if account else str(post.account_id)
    if post.status is PostStatus.UNCONFIRMED:
        notes.append("it may already be live (unconfirmed): look on Instagram before post retry --force")
    elif post.status in FINAL_STATUSES:
        notes.append(f"the post is {post.status.value}: nothing more is published for it unless it is retried")
    if post.status is PostStatus.PUBLISHED and post.permalink:
        notes.append(f"live at {post.permalink}")
    elif account is None:
        notes.append("its account does not exist, so nothing can be published")
    elif not media and not (post.post_type == PostType.REEL.value and post.video_url):
        ahead = account.prepare_ahead_s if account.prepare_ahead_s is not None else prepare_ahead_s
        when = shown_time(post.scheduled_at - timedelta(seconds=ahead), account.time_zone)
        notes.append(
            f"not prepared yet: its images are made and stored at {when} ({_span(ahead)} before its time), or "
            f"now with postpilot post prepare {post.id}; the requests are shown once it is prepared"
        )
    else:
        if post.container_id:
            notes.append(
                f"already staged (container {post.container_id}); publishing checks it and calls media_publish"
            )
        if any(local_path(m.stored_url) for m in media) and not account.dry_run:
            notes.append(
                "the media is stored on this machine only (file://), which Instagram cannot fetch: set "
                "POSTPILOT_PUBLIC_MEDIA_URL or use the Cloudinary store before it is published"
            )
        requests = _recorded(recorder, source, post, account, notes)
    return PostPreview(
        post=post,
        account=name,
        time_zone=account.time_zone if account else "UTC",
        images=_images(media),
        caption=post.caption,
        alt_text=post.alt_text,
        requests=[_shown_request(r) for r in requests],
        notes=notes,
    )


def _recorded(
    recorder: RecordingGraphClient, source: PreviewSource, post: Post, account: Account, notes: list[str]
) -> list[RecordedRequest]:
    flow = StagingFlow(
        repo=_WhatIfStore(source, post),  # type: ignore[arg-type]  # structurally the part staging uses
        policy=StagingPolicy(poll_s=0.0),
        quota=None,
        sleep=lambda _s: None,
    )
    try:
        container = flow.stage(recorder, post, account, owner="preview", status=PostStatus.PUBLISHING)
        media_id = recorder.publish(account.ig_user_id, container)
        recorder.media_info(media_id)  # the permalink read that follows a publish
        comment = (post.first_comment or "").strip()
        if comment:
            # What ``pipeline/first_comment.py`` does once the post is live: look, then comment.
            recorder.comments(media_id)
            recorder.post_comment(media_id, comment)
    except errors.PostpilotError as exc:
        notes.append(f"publishing would stop here: {exc}")
    return recorder.drain()
