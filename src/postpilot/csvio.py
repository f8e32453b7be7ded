"""The CSV import and export format (a public format: marketers build these files in spreadsheets).

Columns (header row required; order free; unknown columns are an error so typos do not pass silently):
``account, post_type, scheduled_at, timezone, caption, prompt, image_url, media_urls, video_url, cover_url,
image_count, aspect, alt_text, user_tags, collaborators, location_id, share_to_feed, thumb_offset, audio_name,
trial_params, first_comment``. ``media_urls`` holds the carousel's URLs (images or .mp4/.mov videos) separated
by spaces, ``|`` or new lines; the option cells are described in ``csv_options``. ``scheduled_at`` is ISO 8601
with an offset, or a local time with a ``timezone`` (IANA name).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from postpilot import csv_options as opts
from postpilot.domain import validation
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import CONTENT_FIELDS, DRAFT_FIELDS, Account, Post
from postpilot.domain.timeparse import parse_when
from postpilot.redaction import display_url

# The CSV names the account by name and carries a time zone; the rest are the table's content columns.
COLUMNS = ("account", "post_type", "scheduled_at", "timezone", *CONTENT_FIELDS[1:], "first_comment")
REQUIRED = ("account", "scheduled_at")
EXPORT_COLUMNS = ("id", *COLUMNS, "status", "last_error", "ig_media_id", "permalink", "published_at")


# Written by ``post export`` and read back by the import: ``id`` names the post a row updates; the others are
# results, shown in the export and ignored by the import (a row cannot set them).
READ_ONLY_COLUMNS = ("status", "last_error", "ig_media_id", "permalink", "published_at")
IMPORT_COLUMNS = ("id", *COLUMNS, *READ_ONLY_COLUMNS)
# A spreadsheet saving CSV in much of Europe separates cells with ";" (the comma is the decimal mark there).
DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int
    values: dict[str, Any] | None  # a new post's columns, or the changed columns of ``post_id``
    problems: list[str]
    post_id: int | None = None  # the row updates this post (an exported row, edited)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection). Exports prefix such
# cells with an apostrophe, which spreadsheets show as text; imports take that apostrophe off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _unneutralise(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def split_media_urls(value: str) -> list[str]:
    return [u for u in re.split(r"[\s|]+", value.strip()) if u]


# The csv module refuses cells over 128 KiB; a caption is at most 2,200 characters, so a cell this large is a
# mistake (a whole file pasted into one cell), reported with its line rather than as an internal error.
MAX_CELL_CHARS = 131_072


def parse_csv(
    stream: TextIO,
    find_account: Callable[[str], Account | None],
    *,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
    find_post: Callable[[int], Post | None] | None = None,
) -> list[RowResult]:
    """Every row checked, with what is wrong per line. ``progress(rows_read)`` is called every 1,000 rows.
    ``now``: refuse times more than a few minutes before it (None: accept any time). A row with an ``id``
    (an exported row) updates that post (``find_post`` reads it) with the columns that changed."""
    return _parse_csv(stream, find_account, progress, now, find_post)


def _unreadable(exc: csv.Error, line: int) -> InvalidInput:
    if "field larger than field limit" in str(exc):
        return InvalidInput(
            f"a cell in the row starting on line {line + 1} is longer than {MAX_CELL_CHARS:,} characters; check the "
            "quoting there (a missing closing quote makes the rest of the file one cell)"
        )
    return InvalidInput(f"the CSV file cannot be read at line {line}: {exc}")


def _delimiter(first_line: str) -> str:
    """The separator the header line uses: the one of ``DELIMITERS`` it holds most of (a comma by default)."""
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _parse_csv(
    stream: TextIO,
    find_account: Callable[[str], Account | None],
    progress: Callable[[int], None] | None,
    now: datetime | None,
    find_post: Callable[[int], Post | None] | None = None,
) -> list[RowResult]:
    text = stream.read()
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text.split("\n", 1)[0]))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise _unreadable(exc, reader.line_num) from None
    # Headers as a spreadsheet may leave them: any case, stray spaces.
    header = [h.strip().lower() for h in (fieldnames or [])]
    twice = sorted({h for h in header if header.count(h) > 1 and h})
    if twice:
        raise InvalidInput(f"the column(s) {', '.join(twice)} appear more than once in the header; keep one of each")
    if not header:
        raise InvalidInput("the CSV file is empty: the first line must name the columns, e.g. " + ",".join(COLUMNS[:5]))
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown column(s) {', '.join(unknown)}; the columns are: {', '.join(COLUMNS)} (and, as post export "
            f"writes them, id to update a post, {', '.join(READ_ONLY_COLUMNS)} which are ignored)"
        )
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}")
    reader.fieldnames = header
    results = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _unreadable(exc, reader.line_num) from None
        result = _parse_row(reader.line_num, row, find_account, now)
        results.append(_as_update(result, row, find_post, now) if (row.get("id") or "").strip() else result)
        if progress is not None and len(results) % 1000 == 0:
            progress(len(results))
    return results


def _parse_row(
    line: int, row: dict[str, str | None], find_account: Callable[[str], Account | None], now: datetime | None
) -> RowResult:
    get = {k: _blank(_unneutralise(v) if isinstance(v, str) else None) for k, v in row.items() if k is not None}
    problems: list[str] = []
    if None in row:  # more cells than columns
        problems.append("the row has more cells than the header has columns")
    name = get.get("account")
    account = find_account(name) if name else None
    if not name:
        problems.append("account is empty")
    elif account is None:
        problems.append(f"no account named {name!r} (see postpilot account list)")
    when = None
    if get.get("scheduled_at"):
        try:
            when = parse_when(get["scheduled_at"] or "", get.get("timezone"))
        except InvalidInput as exc:
            problems.append(exc.message)
        if when is not None and now is not None:
            past = validation.past_problem(when, now, option="post import --allow-past")
            if past:
                problems.append(past)
    else:
        problems.append("scheduled_at is empty")
    image_count: Any = get.get("image_count")
    if image_count is not None:
        try:
            image_count = int(image_count)
        except ValueError:
            problems.append(f"image_count must be a whole number (got {image_count!r})")
            image_count = None
    raw_media = get.get("media_urls")
    media_urls = split_media_urls(raw_media) if raw_media else None
    user_tags, tag_problem = opts.parse_user_tags(get.get("user_tags"))
    share_to_feed, feed_problem = opts.parse_bool(get.get("share_to_feed"), "share_to_feed")
    thumb_offset, offset_problem = opts.parse_int(get.get("thumb_offset"), "thumb_offset")
    problems += [p for p in (tag_problem, feed_problem, offset_problem) if p]
    extras = {
        "first_comment": get.get("first_comment"),
        "user_tags": user_tags,
        "collaborators": opts.parse_collaborators(get.get("collaborators")),
        "location_id": get.get("location_id"),
        "share_to_feed": share_to_feed,
        "thumb_offset": thumb_offset,
        "audio_name": get.get("audio_name"),
        "trial_params": opts.parse_trial(get.get("trial_params")),
    }
    draft = validation.PostDraft(
        post_type=get.get("post_type") or "photo",
        caption=get.get("caption") or "",
        prompt=get.get("prompt"),
        image_url=get.get("image_url"),
        media_urls=media_urls,
        video_url=get.get("video_url"),
        cover_url=get.get("cover_url"),
        image_count=image_count,
        aspect=get.get("aspect") or "square",
        alt_text=get.get("alt_text"),
        scheduled_at=when,
        **extras,
    )
    problems += validation.option_conflicts(draft)
    if when is not None:
        problems += validation.problems(draft, account, account_required=account is not None)
    else:
        problems += [
            p for p in validation.problems(draft, account, account_required=False) if not p.startswith("scheduled_at")
        ]
    if problems or account is None or when is None:
        return RowResult(line, None, _dedupe(problems))
    values = {
        "account_id": account.id,
        "post_type": draft.post_type,
        "caption": draft.caption,
        "prompt": draft.prompt,
        "image_url": draft.image_url,
        "media_urls": media_urls,
        "video_url": draft.video_url,
        "cover_url": draft.cover_url,
        "image_count": image_count,
        "aspect": draft.aspect,
        "alt_text": draft.alt_text,
        **extras,
        "scheduled_at": when,
    }
    return RowResult(line, values, [])


def _as_update(
    result: RowResult, row: dict[str, str | None], find_post: Callable[[int], Post | None] | None, now: datetime | None
) -> RowResult:
    """A row with an ``id``: the columns that differ from the post as it is, or what is wrong."""
    raw = (row.get("id") or "").strip()
    if not raw.isdigit():
        return RowResult(result.line, None, [f"id must be a post's number, or empty for a new post (got {raw!r})"])
    post_id = int(raw)
    current = find_post(post_id) if find_post is not None else None
    if current is None:
        return RowResult(result.line, None, [f"no post with id {post_id} (leave id empty to add a new post)"])
    # Rules about the row as a new post (a time in the past, a prompt beside our own filled image URL) do not
    # apply to an exported row: only what it changes counts.
    as_new_post_only = ("in the past", "not both", "only for a carousel generated", "only for a reel")
    problems = [p for p in result.problems if not any(words in p for words in as_new_post_only)]
    if problems or result.values is None:
        return RowResult(result.line, None, problems, post_id)
    values = result.values
    if values["account_id"] != current.account_id:
        return RowResult(result.line, None, ["a post cannot move to another account: add it as a new row"], post_id)
    changed: dict[str, Any] = {}
    for name in DRAFT_FIELDS:
        new, old = values.get(name), getattr(current, name)
        if _same(name, new, old):
            continue
        changed[name] = new
    if "scheduled_at" in changed and now is not None:
        past = validation.past_problem(changed["scheduled_at"], now, option="post import --allow-past")
        if past:
            return RowResult(result.line, None, [past], post_id)
    return RowResult(result.line, changed, [], post_id)


def _same(name: str, new: Any, old: Any) -> bool:
    """The exported value read back means "unchanged": URLs were shown without their query string or
    password, and empty cells read as nothing."""
    if (new in (None, "", [])) and (old in (None, "", [])):
        return True
    if name in ("image_url", "video_url", "cover_url") and isinstance(old, str) and new in (old, display_url(old)):
        return True
    if name == "media_urls" and isinstance(old, list) and isinstance(new, list):
        return [str(u) for u in new] in ([str(u) for u in old], [display_url(str(u)) for u in old])
    return bool(new == old)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def export_csv(posts: Iterable[Post], account_names: dict[int, str], *, full_urls: bool = False) -> str:
    """The posts as CSV. URLs are shown as everywhere else (no user:password, ``?…`` for a query string)
    unless ``full_urls``; every text cell that a spreadsheet would run as a formula is neutralised."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()

    def url(value: object) -> str:
        if not isinstance(value, str) or not value:
            return ""
        return value if full_urls else display_url(value)

    for p in posts:
        media_urls = " ".join(url(u) for u in p.media_urls) if isinstance(p.media_urls, list) else ""
        row = {
            "id": p.id,
            "account": account_names.get(p.account_id, p.account_id),
            "post_type": p.post_type,
            "scheduled_at": p.scheduled_at.isoformat(),
            "timezone": "",
            "caption": p.caption,
            "prompt": p.prompt or "",
            "image_url": url(p.image_url),
            "media_urls": media_urls,
            "video_url": url(p.video_url),
            "cover_url": url(p.cover_url),
            "image_count": p.image_count or "",
            "aspect": p.aspect,
            "alt_text": p.alt_text or "",
            "user_tags": opts.format_user_tags(p.user_tags),
            "collaborators": opts.format_collaborators(p.collaborators),
            "location_id": p.location_id or "",
            "share_to_feed": "" if p.share_to_feed is None else str(p.share_to_feed).lower(),
            "thumb_offset": "" if p.thumb_offset is None else p.thumb_offset,
            "audio_name": p.audio_name or "",
            "trial_params": opts.format_trial(p.trial_params),
            "first_comment": p.first_comment or "",
            "status": p.status.value,
            "last_error": p.last_error or "",
            "ig_media_id": p.ig_media_id or "",
            "permalink": p.permalink or "",
            "published_at": p.published_at.isoformat() if p.published_at else "",
        }
        writer.writerow({k: neutralise(v) if isinstance(v, str) else v for k, v in row.items()})
    return out.getvalue()
