"""The duplicate guard (issue 16): Instagram and its peers penalise repeated content, so a post whose caption
and media match one the same account published or has scheduled within a window is held until a person
confirms it (``post retry ID --allow-duplicate``) or the account turns the guard off.

"Match" is what a follower would see as the same post: the same kind, the same caption (ignoring case and
spacing), and the same media — the same image, video or carousel URLs, or, for generated images, the same
prompt. Of two upcoming repeats the later one is held. Occurrences of one recurring series repeat on purpose
and never hold each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from postpilot.domain.edits import PreparedContent, unchanged_fills, without_fills
from postpilot.domain.model import Post

DEFAULT_WINDOW_S = 3 * 86400.0


def _text(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


def _media(post: Post) -> tuple[str, ...]:
    if isinstance(post.media_urls, list) and post.media_urls:
        return tuple(_text(u.get("url") if isinstance(u, dict) else u) for u in post.media_urls)
    for url in (post.video_url, post.image_url):
        if url:
            return (_text(url),)
    return ("prompt:" + _text(post.prompt),)


def _as_written(post: Post) -> Post:
    # A prepared post holds our fills (the stored URL of its generated image): compare what the marketer wrote,
    # or a generated post, once prepared, would never match the same prompt written again.
    prepared = PreparedContent.from_json(post.prepared_content)
    return without_fills(post, unchanged_fills(post, prepared))


def content_key(post: Post) -> tuple[str, str, tuple[str, ...]]:
    written = _as_written(post)
    return (str(written.post_type), _text(written.caption), _media(written))


def find_duplicate(post: Post, others: list[Post]) -> Post | None:
    """The first of ``others`` (the account's posts near this one's time) that repeats ``post``."""
    key = content_key(post)
    for other in others:
        if other.id == post.id:
            continue
        if post.series_id is not None and other.series_id == post.series_id:
            continue
        if not other.published_at and (other.scheduled_at, other.id) > (post.scheduled_at, post.id):
            continue  # of two upcoming repeats the later one is held, whichever is prepared first
        if content_key(other) == key:
            return other
    return None


def held_message(post: Post, other: Post, *, window_s: float, when: datetime) -> str:
    days = window_s / 86400
    span = f"{days:g} day{'s' if days != 1 else ''}"
    verb = "published" if other.published_at else "scheduled"
    return (
        f"held as a duplicate: its caption and media match post {other.id} ({verb} for "
        f"{when:%Y-%m-%d %H:%M} UTC), within {span} of it; Instagram penalises repeated posts. If it is meant, "
        f"run: postpilot post retry {post.id} --allow-duplicate (or turn the guard off for the account: "
        "postpilot account set NAME --no-duplicate-guard)"
    )
