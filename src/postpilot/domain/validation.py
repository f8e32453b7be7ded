"""The rules a post must meet, as pure functions shared by the CLI, the CSV import and the daemon.

``problems(draft, account)`` returns every broken rule as a sentence a marketer understands; ``check``
raises ``InvalidInput`` with all of them. Nothing here spends money or touches the network, so the daemon
validates before it generates or uploads anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from postpilot.domain import publish_options as options
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import FEED_ASPECTS, Account, PostType

CAPTION_MAX_CHARS = 2200
CAPTION_MAX_HASHTAGS = 30
CAPTION_MAX_MENTIONS = 20
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10
ALT_TEXT_MAX_CHARS = 1000
PROMPT_MAX_CHARS = 4000

# A hashtag or mention starts a word; "email@example.com" is not a mention.
_HASHTAG = re.compile(r"(?<![\w#])#\w+")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")


@dataclass(frozen=True, slots=True)
class PostDraft:
    """What a marketer asks for, before any processing. Types are loose on purpose (rows written with SQL)."""

    post_type: Any
    caption: Any = ""
    prompt: Any = None
    image_url: Any = None
    media_urls: Any = None
    video_url: Any = None
    cover_url: Any = None
    image_count: Any = None
    aspect: Any = "square"
    alt_text: Any = None
    scheduled_at: datetime | None = None
    first_comment: Any = None
    user_tags: Any = None
    collaborators: Any = None
    location_id: Any = None
    share_to_feed: Any = None
    thumb_offset: Any = None
    audio_name: Any = None
    trial_params: Any = None


def count_hashtags(caption: str) -> int:
    return len(_HASHTAG.findall(caption))


def count_mentions(caption: str) -> int:
    return len(_MENTION.findall(caption))


def url_problem(name: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"{name} must be a URL"
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        shown = f"{parts.scheme}://" if parts.scheme else value[:40]
        return f"{name} must start with http:// or https:// (got {shown})"
    if not parts.netloc:
        return f"{name} {value[:80]!r} has no host name"
    return None


def caption_problems(caption: Any) -> list[str]:
    if caption is None:
        return []
    if not isinstance(caption, str):
        return ["caption must be text"]
    out = []
    if "\x00" in caption:
        out.append("caption contains a NUL character (\\x00), which Instagram does not accept; remove it")
    if len(caption) > CAPTION_MAX_CHARS:
        out.append(f"caption is {len(caption)} characters long; Instagram allows at most {CAPTION_MAX_CHARS}")
    tags = count_hashtags(caption)
    if tags > CAPTION_MAX_HASHTAGS:
        out.append(f"caption has {tags} hashtags; Instagram allows at most {CAPTION_MAX_HASHTAGS}")
    mentions = count_mentions(caption)
    if mentions > CAPTION_MAX_MENTIONS:
        out.append(f"caption has {mentions} @mentions; Instagram allows at most {CAPTION_MAX_MENTIONS}")
    return out


def _media_list_problems(media_urls: Any) -> list[str]:
    if not isinstance(media_urls, Sequence) or isinstance(media_urls, str | bytes):
        return ['media_urls must be a JSON array of image URLs, e.g. ["https://…/1.jpg", "https://…/2.jpg"]']
    out = []
    n = len(media_urls)
    if not CAROUSEL_MIN <= n <= CAROUSEL_MAX:
        out.append(f"a carousel needs {CAROUSEL_MIN} to {CAROUSEL_MAX} images; media_urls has {n}")
    for i, entry in enumerate(media_urls, start=1):
        shape = options.media_item_problems(i, entry)
        out += shape
        if not shape:
            problem = url_problem(f"media_urls item {i}", options.media_item_url(entry))
            if problem:
                out.append(problem)
    return out


def account_problems(account: Account | None) -> list[str]:
    if account is None:
        return ["the account does not exist (see postpilot account list)"]
    if not account.is_active:
        return [f"account {account.name!r} is paused (inactive)"]
    return []


def _usable_prompt(draft: PostDraft) -> str | None:
    return draft.prompt if isinstance(draft.prompt, str) and draft.prompt.strip() else None


def common_problems(draft: PostDraft) -> list[str]:
    """The rules every post type shares: aspect, caption, prompt, alt text, image count, URLs, time."""
    out: list[str] = []
    if draft.aspect is not None and draft.aspect not in {a.value for a in FEED_ASPECTS}:
        out.append(f"aspect must be square, portrait or landscape (got {draft.aspect!r})")
    out += caption_problems(draft.caption)
    prompt = _usable_prompt(draft)
    if draft.prompt is not None and not isinstance(draft.prompt, str):
        out.append("prompt must be text")
    if prompt and len(prompt) > PROMPT_MAX_CHARS:
        out.append(f"prompt is {len(prompt)} characters long; at most {PROMPT_MAX_CHARS} are accepted")
    if draft.alt_text is not None and (not isinstance(draft.alt_text, str) or len(draft.alt_text) > ALT_TEXT_MAX_CHARS):
        out.append(f"alt_text must be text of at most {ALT_TEXT_MAX_CHARS} characters")
    if draft.image_count is not None:
        if not isinstance(draft.image_count, int) or isinstance(draft.image_count, bool):
            out.append("image_count must be a whole number")
        elif not CAROUSEL_MIN <= draft.image_count <= CAROUSEL_MAX:
            out.append(f"image_count must be between {CAROUSEL_MIN} and {CAROUSEL_MAX} (got {draft.image_count})")
    for name in ("image_url", "video_url", "cover_url"):
        value = getattr(draft, name)
        if value is not None:
            problem = url_problem(name, value)
            if problem:
                out.append(problem)
    return out


def photo_problems(draft: PostDraft) -> list[str]:
    out = []
    if draft.image_url is None and not _usable_prompt(draft):
        out.append("a photo needs an image_url or a prompt to generate the image from")
    if draft.media_urls is not None:
        out.append("media_urls is for carousels; a photo takes image_url")
    return out


def carousel_problems(draft: PostDraft) -> list[str]:
    out = []
    if draft.media_urls is not None:
        out += _media_list_problems(draft.media_urls)
    elif not _usable_prompt(draft):
        out.append("a carousel needs media_urls (2 to 10 image URLs) or a prompt to generate them from")
    if draft.image_url is not None:
        out.append("image_url is for photos; a carousel takes media_urls")
    return out


def reel_problems(draft: PostDraft) -> list[str]:
    out = []
    if draft.video_url is None:
        out.append("a reel needs a video_url (an MP4 or MOV that Instagram can download)")
    if draft.image_url is not None or draft.media_urls is not None:
        out.append("a reel takes video_url (and optionally cover_url), not image_url or media_urls")
    return out


def story_problems(draft: PostDraft) -> list[str]:
    """Meta: a story is ``media_type=STORIES`` with one image_url or video_url, and no caption."""
    out = []
    if draft.image_url is None and draft.video_url is None and not _usable_prompt(draft):
        out.append("a story needs an image_url, a video_url or a prompt to generate the image from")
    if draft.image_url is not None and draft.video_url is not None:
        out.append("a story is one image or one video: give image_url or video_url, not both")
    if draft.caption:
        out.append("a story has no caption on Instagram; leave caption empty (mention people with user_tags)")
    if draft.media_urls is not None:
        out.append("a story is one image or video; media_urls is for carousels")
    if draft.cover_url is not None:
        out.append("cover_url is for reels; a story takes image_url or video_url")
    if draft.alt_text is not None:
        out.append("alt_text is not supported on stories (feed images and carousel images take it)")
    return out


# One function per post type: a new kind of post adds its own.
TYPE_RULES = {
    PostType.PHOTO: photo_problems,
    PostType.CAROUSEL: carousel_problems,
    PostType.REEL: reel_problems,
    PostType.STORY: story_problems,
}


def option_problems(draft: PostDraft) -> list[str]:
    """People tags, collaborators, location, reel options and the first comment (``domain.publish_options``)."""
    kind = str(draft.post_type)
    slides = options.media_items(draft.media_urls) if kind == PostType.CAROUSEL.value and _media_ok(draft) else []
    return [
        *options.user_tag_problems(draft.user_tags, kind, slides),
        *options.collaborator_problems(draft.collaborators, kind),
        *options.location_problems(draft.location_id, kind),
        *options.reel_option_problems(
            kind,
            share_to_feed=draft.share_to_feed,
            thumb_offset=draft.thumb_offset,
            audio_name=draft.audio_name,
            trial_params=draft.trial_params,
        ),
        *options.first_comment_problems(draft.first_comment, kind),
    ]


def _media_ok(draft: PostDraft) -> bool:
    return draft.media_urls is not None and not _media_list_problems(draft.media_urls)


def option_conflicts(draft: PostDraft) -> list[str]:
    """What a person typed that the post would silently ignore (the CLI and the CSV import refuse it; a row
    written with SQL keeps the documented precedence: a given image wins over a prompt)."""
    out: list[str] = []
    kind = draft.post_type
    if kind == PostType.PHOTO.value and draft.image_url and draft.prompt:
        out.append("a photo takes either an image_url (your own image) or a prompt (a generated one), not both")
    if kind == PostType.CAROUSEL.value and draft.media_urls and draft.prompt:
        out.append("a carousel takes either media_urls (your own images) or a prompt (generated ones), not both")
    if draft.image_count is not None and (kind != PostType.CAROUSEL.value or draft.media_urls):
        out.append("image_count is only for a carousel generated from a prompt")
    if kind not in (PostType.PHOTO.value, PostType.STORY.value) and draft.image_url:
        out.append(
            f"image_url is only for a photo; a {kind} uses " + ("media_urls" if kind == "carousel" else "video_url")
        )
    if kind in (PostType.PHOTO.value, PostType.CAROUSEL.value) and (draft.video_url or draft.cover_url):
        out.append("video_url and cover_url are only for a reel (or video_url for a story)")
    if kind == PostType.REEL.value and draft.prompt:
        out.append("a reel is its video_url; a prompt makes images, which a reel does not use")
    if kind == PostType.STORY.value and draft.prompt and (draft.image_url or draft.video_url):
        out.append("a story takes either your own image_url or video_url, or a prompt, not both")
    return out


# A time this far in the past is a mistake (a date copied from last year), not "now": refused unless asked for.
PAST_GRACE_S = 300


def past_problem(when: datetime, now: datetime, *, option: str = "--allow-past") -> str | None:
    """A message for a time more than a few minutes ago; None for a time near or after ``now``."""
    ago = (now - when).total_seconds()
    if ago <= PAST_GRACE_S:
        return None
    return (
        f"scheduled_at {when.isoformat()} is {_ago(ago)} in the past; give a time in the future "
        f"(or use {option} to publish it as soon as possible)"
    )


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 86400:.0f} days"


def time_problems(draft: PostDraft) -> list[str]:
    if draft.scheduled_at is None:
        return ["scheduled_at is missing"]
    if draft.scheduled_at.tzinfo is None:
        return ["scheduled_at has no UTC offset; postpilot schedules instants"]
    return []


def problems(draft: PostDraft, account: Account | None = None, *, account_required: bool = True) -> list[str]:
    """Every broken rule, in the order a marketer reads them: account, type, shared rules, the type's own
    rules, the time."""
    out: list[str] = account_problems(account) if account_required else []
    try:
        post_type: PostType | None = PostType(draft.post_type)
    except ValueError:
        out.append(f"post_type must be photo, carousel, reel or story (got {draft.post_type!r})")
        post_type = None
    out += common_problems(draft)
    if post_type is not None:
        out += TYPE_RULES[post_type](draft)
        out += option_problems(draft)
    return out + time_problems(draft)


def check(draft: PostDraft, account: Account | None = None, *, account_required: bool = True) -> None:
    found = problems(draft, account, account_required=account_required)
    if found:
        raise InvalidInput("; ".join(found))


def carousel_size_for_prompt(prompt: str) -> int:
    """When a generated carousel has no image_count: 3 to 5 images, more for a richer prompt."""
    words = len(prompt.split())
    if words < 12:
        return 3
    if words < 30:
        return 4
    return 5
