"""Statuses, history events, times and kinds of post as a person reads them on the review page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from postpilot.domain.model import Account, Post, PostEvent, PostMedia, PostStatus, PostType, needs_approval
from postpilot.domain.publish_options import media_items

# What needs a person, in the order the queue lists it: each comes with a short label.
AWAITING_APPROVAL = "awaiting approval"
FAILED = "failed"
UNCONFIRMED = "unconfirmed"
RECONNECT = "account needs reconnecting"
ATTENTION_ORDER = (UNCONFIRMED, FAILED, RECONNECT, AWAITING_APPROVAL)
_TO_PUBLISH = (PostStatus.SCHEDULED, PostStatus.PREPARING, PostStatus.READY)

_STATUS = {
    PostStatus.SCHEDULED: "Scheduled: its images are made before its time",
    PostStatus.PREPARING: "Images being made right now",
    PostStatus.READY: "Ready: images made, published at its time",
    PostStatus.PUBLISHING: "Being published right now",
    PostStatus.PUBLISHED: "Published on Instagram",
    PostStatus.FAILED: "Failed: nothing was published",
    PostStatus.UNCONFIRMED: "Unconfirmed: it may be live; check Instagram",
    PostStatus.CANCELLED: "Cancelled: it will not be published",
    PostStatus.SIMULATED: "Simulated (dry-run account): nothing was sent to Instagram",
}

# A reel or a video story has no images to make: preparing it checks it, and Instagram fetches the video itself.
_VIDEO_STATUS = {
    PostStatus.SCHEDULED: "Scheduled: published at its time (checked shortly before)",
    PostStatus.PREPARING: "Being checked right now",
    PostStatus.READY: "Ready: checked, published at its time",
}

_EVENTS = {
    "created": "Added",
    "claimed": "Taken up by a worker",
    "reconcile": "Checked after an unknown outcome",
    "released": "Handed back at shutdown (nothing lost)",
    "prepared": "Images prepared",
    "container_created": "Instagram container created",
    "publish_attempt": "Publishing started",
    "published": "Published",
    "simulated": "Simulated (dry run)",
    "dry_run_requests": "Graph API requests recorded (dry run, nothing sent)",
    "waiting": "Waiting",
    "retry_scheduled": "Will try again",
    "new_container": "A new Instagram container is needed",
    "failed": "Failed",
    "missed": "Missed its time",
    "unconfirmed": "Unconfirmed",
    "cancelled": "Cancelled",
    "retry": "Scheduled again",
    "edited": "Edited",
    "awaiting_approval": "Waiting for approval",
    "approved": "Approved",
    "rejected": "Rejected",
    "regenerate": "New images asked for",
    "prepare_requested": "Preparation asked for",
    "edited_too_late": "Edited while it was being published (the earlier version is live)",
}


def needs_person(post: Post, account: Account | None) -> str | None:
    """Why a person should look at this post now, if they should."""
    if post.status is PostStatus.UNCONFIRMED:
        return UNCONFIRMED
    if post.status is PostStatus.FAILED:
        return FAILED
    if post.status in _TO_PUBLISH and account is not None and account.needs_reconnect:
        return RECONNECT
    if post.status in _TO_PUBLISH and needs_approval(post, account):
        return AWAITING_APPROVAL
    return None


def status_words(post: Post, account: Account | None) -> str:
    video = is_video_post(post)
    if post.status in _TO_PUBLISH and needs_approval(post, account):
        if post.status is PostStatus.READY:
            made = "checked" if video else "images made"
            return f"Waiting for approval: {made}, nothing is published until someone approves"
        return "Needs approval once it is checked" if video else "Needs approval once its images are made"
    shown = _VIDEO_STATUS.get(post.status, _STATUS[post.status]) if video else _STATUS[post.status]
    if not post.is_active and post.status in _TO_PUBLISH:
        return "Paused (is_active = false): " + shown.lower()
    return shown


def is_video_post(post: Post) -> bool:
    """A reel or a video story: one video, no image to make."""
    return post.post_type == PostType.REEL.value or (post.post_type == PostType.STORY.value and bool(post.video_url))


def event_words(event: PostEvent) -> str:
    what = _EVENTS.get(event.kind, event.kind.replace("_", " ").capitalize())
    if not event.message:
        return what
    # "approved by web:maria" says it all; "Approved: approved by web:maria" would say it twice.
    if event.message.lower().startswith(what.lower()):
        return event.message[0].upper() + event.message[1:]
    return f"{what}: {event.message}"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    return moment.astimezone(tz) if moment else None


def clock(moment: datetime | None, tz: ZoneInfo) -> str:
    shown = local(moment, tz)
    return shown.strftime("%H:%M") if shown else ""


def when(moment: datetime | None, tz: ZoneInfo) -> str:
    """``Tue 1 Dec 2026, 09:00 CET``: the day, the time and the zone's abbreviation, so no one guesses."""
    shown = local(moment, tz)
    if shown is None:
        return ""
    return f"{shown:%a} {shown.day} {shown:%b %Y, %H:%M} {shown.tzname() or ''}".rstrip()


def day_title(day: date, today: date) -> str:
    if day == today:
        prefix = "Today, "
    elif day == today + timedelta(days=1):
        prefix = "Tomorrow, "
    else:
        prefix = ""
    return f"{prefix}{day:%A} {day.day} {day:%B}"


# --------------------------------------------------------------------------------------------- kinds of post
def slides_of(post: Post, media: Sequence[PostMedia]) -> list[str]:
    """The kind of each item, "image" or "video", in order: the stored media once prepared, else what the post
    asks for (``media_urls``, a video_url, or images still to be generated)."""
    if media:
        return [m.kind for m in media]
    if is_video_post(post):
        return ["video"]
    if post.post_type == PostType.CAROUSEL.value and isinstance(post.media_urls, list):
        return [item.kind for item in media_items(post.media_urls)]
    return []


def kind_words(post: Post, media: Sequence[PostMedia]) -> str:
    """What the post is, for a card: ``story · 9:16 · video``, ``reel · not in the feed``,
    ``carousel · portrait · 3 slides: 2 images, 1 video``, ``photo · square``."""
    slides = slides_of(post, media)
    if post.post_type == PostType.STORY.value:
        return "story · 9:16 · " + ("video" if "video" in slides else "image")
    if post.post_type == PostType.REEL.value:
        parts = ["reel"]
        if post.trial_params:
            parts.append("trial (non-followers first, not on the grid)")
        elif post.share_to_feed is False:
            parts.append("not in the feed (Reels tab only)")
        return " · ".join(parts)
    if post.post_type == PostType.CAROUSEL.value:
        shown = f"carousel · {post.aspect}"
        videos = slides.count("video")
        images = len(slides) - videos
        if not slides:
            return shown
        if not videos:
            return f"{shown} · {_count(images, 'image')}"
        mix = [_count(images, "image")] if images else []
        return f"{shown} · {len(slides)} slides: " + ", ".join([*mix, _count(videos, "video")])
    return f"{post.post_type} · {post.aspect}"


def video_words(post: Post, position: int, of: int) -> str:
    """A video item, where no picture of it can be shown (Instagram fetches videos from their URL)."""
    if post.post_type == PostType.REEL.value:
        return "video (reel)"
    if post.post_type == PostType.STORY.value:
        return "video (story)"
    if post.post_type == PostType.CAROUSEL.value:
        return f"video (slide {position + 1} of {of})"
    return "video"


def no_media_words(post: Post) -> str:
    """What a card shows before preparation, when there is no picture at all."""
    if post.post_type == PostType.STORY.value:
        return "story image not made yet"
    return "image not made yet" if post.post_type == PostType.PHOTO.value else "images not made yet"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
