"""The rest of what Instagram lets a scheduler set on a post (issue 16): people tags, collaborators, location,
reel options, trial reels, a first comment, stories, and carousels that mix images and videos.

Pure rules, as Meta's IG User Media reference states them (``POST /{ig-user-id}/media``): each problem is a
sentence naming the field and the rule, and ``parse_*`` turn a checked value into what the staging flow
sends. Values come raw from the table, where a marketer may have written anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from postpilot.domain.model import PostType

MAX_USER_TAGS = 20  # Meta: at most 20 people tagged in one media
MAX_COLLABORATORS = 3  # the media reference: up to 3 usernames (its read side says 5; the create side rules)
FIRST_COMMENT_MAX_CHARS = 2200
AUDIO_NAME_MAX_CHARS = 255
GRADUATION_STRATEGIES = ("MANUAL", "SS_PERFORMANCE")
# After this many failed tries a first comment is given up (the post stays live; post show says why).
FIRST_COMMENT_MAX_ATTEMPTS = 5
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")
# Instagram usernames: letters, digits, periods and underscores, at most 30.
_USERNAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")
_LOCATION = re.compile(r"^[0-9]{1,32}$")


@dataclass(frozen=True, slots=True)
class UserTag:
    username: str
    x: float | None = None
    y: float | None = None
    item: int = 1  # the carousel slide (1-based) it belongs to; 1 for everything else

    def as_graph(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"username": self.username}
        if self.x is not None and self.y is not None:
            shown["x"], shown["y"] = self.x, self.y
        return shown


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One carousel slide as written in ``media_urls``: a URL, or an object with ``url`` (and ``type``,
    ``alt_text``)."""

    url: str
    kind: str  # image | video
    alt_text: str | None = None


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def looks_like_video(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(VIDEO_SUFFIXES)


def media_items(media_urls: Any) -> list[MediaItem]:
    """The slides of a checked ``media_urls``, in the order given."""
    items = []
    for entry in media_urls or ():
        if isinstance(entry, dict):
            url = str(entry.get("url", ""))
            kind = str(entry.get("type") or ("video" if looks_like_video(url) else "image"))
            alt = entry.get("alt_text")
            items.append(MediaItem(url=url, kind=kind, alt_text=str(alt) if alt is not None else None))
        else:
            url = str(entry)
            items.append(MediaItem(url=url, kind="video" if looks_like_video(url) else "image"))
    return items


def media_item_problems(index: int, entry: Any) -> list[str]:
    """The shape of one ``media_urls`` entry (its URL is checked by the caller)."""
    where = f"media_urls item {index}"
    if isinstance(entry, str):
        return []
    if not isinstance(entry, dict):
        return [f'{where} must be a URL or an object like {{"url": "https://…", "type": "video"}}']
    out = []
    unknown = sorted(set(entry) - {"url", "type", "alt_text"})
    if unknown:
        out.append(f"{where} has unknown keys {', '.join(unknown)}; it takes url, type and alt_text")
    if entry.get("type") not in (None, "image", "video"):
        out.append(f"{where} type must be image or video (got {entry.get('type')!r})")
    alt = entry.get("alt_text")
    if alt is not None and (not isinstance(alt, str) or len(alt) > 1000):
        out.append(f"{where} alt_text must be text of at most 1000 characters")
    if alt is not None and (entry.get("type") == "video" or looks_like_video(str(entry.get("url", "")))):
        out.append(f"{where} is a video; alt text is for images only")
    return out


def media_item_url(entry: Any) -> Any:
    return entry.get("url") if isinstance(entry, dict) else entry


def _username_problem(where: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{where} must be an Instagram username"
    if value.startswith("@"):
        return f"{where} {value!r}: write the username without the @"
    if not _USERNAME.match(value):
        return f"{where} {value[:40]!r} is not an Instagram username (letters, digits, . and _, at most 30)"
    return None


def _coordinate_problem(where: str, name: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        return f"{where} {name} must be a number from 0.0 to 1.0 (left/top to right/bottom; got {value!r})"
    return None


def user_tag_problems(value: Any, post_type: str, slides: list[MediaItem]) -> list[str]:
    if value is None:
        return []
    example = '[{"username": "friend", "x": 0.5, "y": 0.5}]'
    if not _is_list(value):
        return [f"user_tags must be a JSON array of people, e.g. {example}"]
    out = []
    if len(value) > MAX_USER_TAGS:
        out.append(f"user_tags has {len(value)} people; Instagram allows at most {MAX_USER_TAGS}")
    for i, tag in enumerate(value, start=1):
        where = f"user_tags item {i}"
        if not isinstance(tag, dict):
            out.append(f"{where} must be an object like {example[1:-1]}")
            continue
        unknown = sorted(set(tag) - {"username", "x", "y", "item"})
        if unknown:
            out.append(f"{where} has unknown keys {', '.join(unknown)}; it takes username, x, y and item")
        problem = _username_problem(f"{where} username", tag.get("username"))
        if problem:
            out.append(problem)
        has_xy = "x" in tag or "y" in tag
        if post_type == PostType.REEL.value:
            if has_xy:
                out.append(f"{where}: a reel tags people by username only; x and y are for images")
        elif post_type == PostType.STORY.value and not has_xy:
            pass  # a story may mention people without a place on the picture
        else:
            for name in ("x", "y"):
                problem = _coordinate_problem(where, name, tag.get(name))
                if problem:
                    out.append(problem)
        if "item" in tag:
            out += _tag_item_problems(where, tag["item"], post_type, slides)
    return out


def _tag_item_problems(where: str, item: Any, post_type: str, slides: list[MediaItem]) -> list[str]:
    if post_type != PostType.CAROUSEL.value:
        return [f"{where} item is for carousels (which slide the person is on)"]
    if isinstance(item, bool) or not isinstance(item, int) or item < 1:
        return [f"{where} item must be a slide number, 1 or more (got {item!r})"]
    if slides and item > len(slides):
        return [f"{where} item {item} is past the carousel's {len(slides)} slides"]
    if slides and slides[item - 1].kind == "video":
        return [f"{where} item {item} is a video; people are tagged on image slides"]
    return []


def collaborator_problems(value: Any, post_type: str) -> list[str]:
    if value is None:
        return []
    if post_type == PostType.STORY.value:
        return ["collaborators are not supported on stories (Instagram: feed images, reels and carousels)"]
    if not _is_list(value):
        return ['collaborators must be a JSON array of usernames, e.g. ["partner_shop"]']
    out = []
    if len(value) > MAX_COLLABORATORS:
        out.append(f"collaborators has {len(value)} usernames; Instagram allows at most {MAX_COLLABORATORS}")
    for i, name in enumerate(value, start=1):
        problem = _username_problem(f"collaborators item {i}", name)
        if problem:
            out.append(problem)
    return out


def location_problems(value: Any, post_type: str) -> list[str]:
    if value is None or value == "":
        return []
    if post_type == PostType.STORY.value:
        return ["location_id is not supported on stories"]
    if not isinstance(value, str | int) or isinstance(value, bool) or not _LOCATION.match(str(value)):
        return [f"location_id must be the numeric id of a Facebook Page with a location (got {str(value)[:40]!r})"]
    return []


def reel_option_problems(
    post_type: str, *, share_to_feed: Any, thumb_offset: Any, audio_name: Any, trial_params: Any
) -> list[str]:
    given = {
        "share_to_feed": share_to_feed is not None,
        "thumb_offset": thumb_offset is not None,
        "audio_name": audio_name not in (None, ""),
        "trial_params": trial_params is not None,
    }
    if post_type != PostType.REEL.value:
        return [f"{name} is only for a reel" for name, set_ in given.items() if set_]
    out = []
    if share_to_feed is not None and not isinstance(share_to_feed, bool):
        out.append("share_to_feed must be true or false")
    if thumb_offset is not None and (
        isinstance(thumb_offset, bool) or not isinstance(thumb_offset, int) or thumb_offset < 0
    ):
        out.append(f"thumb_offset must be a whole number of milliseconds, 0 or more (got {thumb_offset!r})")
    if audio_name not in (None, "") and (not isinstance(audio_name, str) or len(audio_name) > AUDIO_NAME_MAX_CHARS):
        out.append(f"audio_name must be text of at most {AUDIO_NAME_MAX_CHARS} characters")
    out += trial_problems(trial_params)
    return out


def trial_problems(value: Any) -> list[str]:
    if value is None:
        return []
    strategies = " or ".join(GRADUATION_STRATEGIES)
    if not isinstance(value, dict) or set(value) != {"graduation_strategy"}:
        return [f'trial_params must be {{"graduation_strategy": "MANUAL"}} (or SS_PERFORMANCE); got {value!r}'[:200]]
    if value["graduation_strategy"] not in GRADUATION_STRATEGIES:
        return [f"trial_params graduation_strategy must be {strategies} (got {value['graduation_strategy']!r})"]
    return []


def first_comment_problems(value: Any, post_type: str) -> list[str]:
    if value is None or value == "":
        return []
    if post_type == PostType.STORY.value:
        return ["first_comment is not possible on a story (stories take no comments)"]
    if not isinstance(value, str):
        return ["first_comment must be text"]
    out = []
    if len(value) > FIRST_COMMENT_MAX_CHARS:
        out.append(f"first_comment is {len(value)} characters long; Instagram allows at most {FIRST_COMMENT_MAX_CHARS}")
    if "\x00" in value:
        out.append("first_comment contains a NUL character (\\x00); remove it")
    return out


def parse_user_tags(value: Any) -> list[UserTag]:
    """Checked ``user_tags`` → tags (``item`` defaults to the first slide)."""
    tags = []
    for tag in value or ():
        x, y = tag.get("x"), tag.get("y")
        tags.append(
            UserTag(
                username=str(tag["username"]),
                x=float(x) if x is not None else None,
                y=float(y) if y is not None else None,
                item=int(tag.get("item", 1)),
            )
        )
    return tags


def parse_collaborators(value: Any) -> list[str]:
    return [str(v) for v in value or ()]
