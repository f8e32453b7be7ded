"""A row of ``post export`` read back by ``post import`` (it has an ``id``): what it changes in its post.

Such a row is mostly the post as it is, written as the export writes it: URLs without their query string or
password, empty cells for nothing, and columns the person deleted. This module says which cells mean
"unchanged", so an update changes only what the person changed and a signed URL survives an edit. It is the
comparison only: ``csvio`` checks the row and makes its result.
"""

from __future__ import annotations

from typing import Any

from postpilot.csv_export import exact_url, export_row
from postpilot.csv_format import COLUMNS, neutralise
from postpilot.domain.model import DRAFT_FIELDS, Post
from postpilot.domain.publish_options import media_item_url
from postpilot.domain.validation import PostDraft
from postpilot.redaction import display_url

# What an import compares with the post a row with an ``id`` updates.
UPDATE_FIELDS = (*DRAFT_FIELDS, "requires_approval")

# Rules about a row as a new post that do not apply to an exported row, where only what it changes counts: a
# prompt beside the image URL preparation filled in (a time in the past is checked only when it changes).
AS_NEW_POST_ONLY = (
    "a photo takes either an image_url (your own image) or a prompt",
    "a carousel takes either media_urls (your own images) or a prompt",
    "a story takes either your own image_url or video_url, or a prompt",
    "image_count is only for a carousel generated from a prompt",
    "video_url and cover_url are only for a reel",
)
_URL_COLUMNS = ("image_url", "media_urls", "video_url", "cover_url")
_URL_PROBLEM_STARTS = {n: f"{n} " for n in _URL_COLUMNS} | {"media_urls": "media_urls item "}


def with_kept_columns(row: dict[str, str | None], header: list[str], current: Post) -> dict[str, str | None]:
    """``row`` with each column the file leaves out as ``current`` has it (not emptied): an update row says
    what changes, also when a spreadsheet user deleted the columns they do not work with."""
    kept = export_row(current, "", exact_url)
    return {**{c: neutralise(_cell(kept[c])) for c in COLUMNS if c not in header}, **row}


def _cell(value: Any) -> str:
    """A value of ``export_row`` as the CSV writer writes it."""
    return "" if value is None else str(value)


def kept_url_problems(draft: PostDraft, current: Post) -> tuple[str, ...]:
    """How the rules' problems start for each URL the post already holds, read back unchanged: such a URL is
    not this file's to answer for (preparation fills in where it stored the images: file:// with the local
    store)."""
    return tuple(_URL_PROBLEM_STARTS[n] for n in _URL_COLUMNS if _unchanged(n, getattr(draft, n), current))


def changes(values: dict[str, Any], current: Post) -> dict[str, Any]:
    """The checked values of an exported row that differ from the post as it is (``current``)."""
    changed: dict[str, Any] = {}
    for name in UPDATE_FIELDS:
        new, old = values.get(name), getattr(current, name)
        if name == "media_urls":
            new = _with_hidden_urls(new, old)
        if _same(name, new, old):
            continue
        changed[name] = new
    return changed


def _unchanged(name: str, new: Any, current: Post) -> bool:
    old = getattr(current, name)
    return _same(name, _with_hidden_urls(new, old) if name == "media_urls" else new, old)


def _same(name: str, new: Any, old: Any) -> bool:
    """The exported value read back means "unchanged": URLs were shown without their query string or
    password, and empty cells read as nothing."""
    if (new in (None, "", [])) and (old in (None, "", [])):
        return True
    if name in ("image_url", "video_url", "cover_url") and isinstance(old, str) and new in (old, display_url(old)):
        return True
    return bool(new == old)


def _with_hidden_urls(new: Any, old: Any) -> Any:
    """``media_urls`` read back from an export: a slide's URL still shown as the export showed a stored one
    (no password, ``?…`` for the query string) is that stored URL, so signed URLs survive an edit of the
    carousel. The same slide position is looked at first, then the other slides."""
    if not isinstance(new, list) or not isinstance(old, list):
        return new
    stored = [media_item_url(entry) for entry in old]
    by_shown: dict[str, str] = {}
    for url in stored:
        if isinstance(url, str):
            by_shown.setdefault(display_url(url), url)

    def back(url: Any, position: int) -> Any:
        if not isinstance(url, str):
            return url
        here = stored[position] if position < len(stored) else None
        if isinstance(here, str) and url == display_url(here):
            return here
        return by_shown.get(url, url)

    out: list[Any] = []
    for position, entry in enumerate(new):
        if isinstance(entry, dict) and "url" in entry:
            out.append({**entry, "url": back(entry["url"], position)})
        else:
            out.append(back(entry, position))
    return out
