"""A post's fields as a person reads them, in one place: ``postpilot post show`` prints these rows and the review
page's post page shows them in its "Every field" table, so the two never disagree.

Pure functions of a ``Post``: the caller says how to show a time (the CLI: the stored instant and the account's
zone; the page: the day and time in the viewer's zone). URLs are shown without user:password or query string
(signatures); the stored values stay as written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from postpilot import csv_options
from postpilot.domain.model import Account, Post, PostType
from postpilot.domain.publish_options import FIRST_COMMENT_MAX_ATTEMPTS
from postpilot.redaction import display_url, redact

Shown = Callable[[datetime], str]


def shown_url(url: object) -> str | None:
    """A URL without credentials or query; None for anything that is not a URL string (or is empty)."""
    return display_url(url) if isinstance(url, str) and url else None


def shown_item(entry: Any) -> Any:
    """One ``media_urls`` entry made safe to show: a URL, or an object item (``{"url": …, "alt_text": …}``) with
    its URL shown the same way and its other keys as written."""
    if isinstance(entry, str):
        return display_url(entry) if entry else entry
    if isinstance(entry, dict):
        return {key: (shown_url(value) or value) if key == "url" else value for key, value in entry.items()}
    return entry


def shown_media_urls(value: Any) -> str | None:
    """``media_urls`` as JSON with every URL shown safely; a value that is not a list is shown as written
    (redacted), since the post fails with a message about it."""
    if value is None:
        return None
    if isinstance(value, list):
        return json.dumps([shown_item(entry) for entry in value], ensure_ascii=False)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return redact(text)


def comment_state(post: Post, when: Shown | None = None) -> str | None:
    """The first comment's outcome in words (None without one): posted, waiting for the post, or failing (why,
    after how many tries, and when it is tried again)."""
    if not (post.first_comment or "").strip():
        return None
    if post.first_comment_id:
        return f"posted (comment {post.first_comment_id})"
    if post.first_comment_error:
        if post.first_comment_attempts >= FIRST_COMMENT_MAX_ATTEMPTS:
            return f"not posted: {post.first_comment_error}"
        tries = f"try {post.first_comment_attempts} of {FIRST_COMMENT_MAX_ATTEMPTS}"
        if post.first_comment_next_at is not None and when is not None:
            tries += f"; next try {when(post.first_comment_next_at)}"
        return f"not posted yet: {post.first_comment_error} ({tries})"
    return "posted right after the post is live"


def aspect_words(post: Post) -> str:
    if post.post_type == PostType.STORY.value:
        return "9:16 (every story fills the phone's screen)"
    if post.post_type == PostType.REEL.value:
        return "the video's own (aspect is not used for a reel)"
    return str(post.aspect)


def feed_words(post: Post) -> str | None:
    """Whether a reel also sits in the feed and on the profile grid (share_to_feed; true when not given)."""
    if post.share_to_feed is False:
        return "no: only on the Reels tab, not in the feed or on the profile grid"
    if post.share_to_feed is True:
        return "yes: also in the feed and on the profile grid"
    if post.post_type == PostType.REEL.value:
        return "yes (not given: a reel is also in the feed and on the profile grid)"
    return None


def _thumb_offset(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value} ms into the video (the cover frame)"
    return str(value)


def _trial(value: Any) -> str | None:
    if not value:
        return None
    return f"{csv_options.format_trial(value)} (a trial reel: shown to non-followers first, not on the profile grid)"


def _approval(post: Post, account: Account | None) -> str:
    if post.requires_approval is None:
        return "as the account says (" + ("yes" if account and account.require_approval else "no") + ")"
    return "yes" if post.requires_approval else "no"


def _series(post: Post, when: Shown) -> str | None:
    if post.series_id is None:
        return None
    made_for = f", its time {when(post.occurrence_at)}" if post.occurrence_at else ""
    return f"{post.series_id} (an occurrence of a recurring series{made_for}; postpilot series show {post.series_id})"


def field_rows(post: Post, account: Account | None, when: Shown) -> list[tuple[str, str]]:
    """Every field a marketer may care about, as (name, value in words); fields that are not set are left out."""

    def at(moment: datetime | None) -> str | None:
        return when(moment) if moment is not None else None

    rows: list[tuple[str, object]] = [
        ("id", post.id),
        ("account", account.name if account else post.account_id),
        ("type", post.post_type),
        ("aspect", aspect_words(post)),
        ("status", post.status.value),
        ("scheduled_at", when(post.scheduled_at)),
        ("active", "yes" if post.is_active else "no (paused: is_active = false)"),
        ("series", _series(post, when)),
        ("caption", post.caption),
        ("prompt", post.prompt),
        ("image_url", shown_url(post.image_url)),
        ("media_urls", shown_media_urls(post.media_urls)),
        ("video_url", shown_url(post.video_url)),
        ("cover_url", shown_url(post.cover_url)),
        ("image_count", post.image_count),
        ("alt_text", post.alt_text),
        ("user_tags", csv_options.format_user_tags(post.user_tags) if post.user_tags else None),
        ("collaborators", csv_options.format_collaborators(post.collaborators) if post.collaborators else None),
        ("location_id", post.location_id),
        ("share_to_feed", feed_words(post)),
        ("thumb_offset", _thumb_offset(post.thumb_offset)),
        ("audio_name", post.audio_name),
        ("trial_params", _trial(post.trial_params)),
        ("first_comment", post.first_comment),
        ("comment", comment_state(post, when)),
        ("allow_duplicate", "yes: published even if it repeats a recent post" if post.allow_duplicate else None),
        ("requires_approval", _approval(post, account)),
        ("approved", f"{when(post.approved_at)} by {post.approved_by}" if post.approved_at else None),
        ("attempts", post.attempts),
        ("last_error", post.last_error),
        ("ig_media_id", post.ig_media_id),
        ("permalink", post.permalink),
        ("published_at", at(post.published_at)),
        ("created_at", at(post.created_at)),
        ("updated_at", at(post.updated_at)),
    ]
    return [(name, str(value)) for name, value in rows if value not in (None, "")]
