"""Statuses, history events and times as a person reads them on the review page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from postpilot.domain.model import Account, Post, PostEvent, PostStatus, needs_approval

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
    if post.status in _TO_PUBLISH and needs_approval(post, account):
        if post.status is PostStatus.READY:
            return "Waiting for approval: images made, nothing is published until someone approves"
        return "Needs approval once its images are made"
    if not post.is_active and post.status in _TO_PUBLISH:
        return "Paused (is_active = false): " + _STATUS[post.status].lower()
    return _STATUS[post.status]


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
