"""``post import``: a CSV file of posts read and every row checked, with what is wrong said per line.

The format (columns, cells) is ``csv_format``'s. A header may be in any case, with stray spaces, and cells may
be separated by commas, semicolons or tabs. A row with an ``id`` (from ``post export``) updates that post with
the columns that changed (``csv_update`` says which); the others are new posts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from postpilot import csv_options as opts
from postpilot import csv_update
from postpilot.csv_format import COLUMNS, EXPORT_COLUMNS, READ_ONLY_COLUMNS, unneutralise
from postpilot.domain import validation
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import Account, Post
from postpilot.domain.timeparse import parse_when

REQUIRED = ("account", "scheduled_at")
# The import reads what the export writes: ``id`` names the post a row updates, the read-only columns are ignored.
IMPORT_COLUMNS = EXPORT_COLUMNS
# A spreadsheet saving CSV in much of Europe separates cells with ";" (the comma is the decimal mark there).
DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int
    values: dict[str, Any] | None  # a new post's columns, or the changed columns of ``post_id``
    problems: list[str]
    post_id: int | None = None  # the row updates this post (an exported row, edited)


def _blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


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
        if (row.get("id") or "").strip():
            results.append(_update_row(reader.line_num, row, header, find_account, find_post, now))
        else:
            results.append(_parse_row(reader.line_num, row, find_account, now))
        if progress is not None and len(results) % 1000 == 0:
            progress(len(results))
    return results


def _update_row(
    line: int,
    row: dict[str, str | None],
    header: list[str],
    find_account: Callable[[str], Account | None],
    find_post: Callable[[int], Post | None] | None,
    now: datetime | None,
) -> RowResult:
    """A row with an ``id``: checked against the post it updates."""
    raw = (row.get("id") or "").strip()
    try:
        current = find_post(int(raw)) if raw.isdigit() and find_post is not None else None
    except InvalidInput as exc:  # the post's row cannot be read (UnreadableRow): said on this line
        return RowResult(line, None, [exc.message], int(raw))
    if current is not None:
        row = csv_update.with_kept_columns(row, header, current)
    return _as_update(_parse_row(line, row, find_account, now, current), raw, current, now)


def _parse_row(
    line: int,
    row: dict[str, str | None],
    find_account: Callable[[str], Account | None],
    now: datetime | None,
    current: Post | None = None,
) -> RowResult:
    """One row checked as a new post; ``current``: the post a row with an ``id`` updates."""
    get = {k: _blank(unneutralise(v) if isinstance(v, str) else None) for k, v in row.items() if k is not None}
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
        if when is not None and now is not None and current is None:
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
    media_urls, media_problem = opts.parse_media_urls(get.get("media_urls"))
    for name in ("user_tags", "collaborators", "trial_params"):
        json_problem = opts.json_problem(get.get(name), name)
        if json_problem:
            problems.append(json_problem)
            get[name] = None  # said once, in these words, not again by the rules
    user_tags, tag_problem = opts.parse_user_tags(get.get("user_tags"))
    share_to_feed, feed_problem = opts.parse_bool(get.get("share_to_feed"), "share_to_feed")
    thumb_offset, offset_problem = opts.parse_int(get.get("thumb_offset"), "thumb_offset")
    requires_approval, approval_problem = opts.parse_bool(get.get("requires_approval"), "requires_approval")
    if approval_problem:
        approval_problem += "; leave it empty to do as the account says"
    problems += [p for p in (media_problem, tag_problem, feed_problem, offset_problem, approval_problem) if p]
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
        rules = validation.problems(draft, account, account_required=account is not None)
    else:
        rules = [
            p for p in validation.problems(draft, account, account_required=False) if not p.startswith("scheduled_at")
        ]
    if media_problem:  # the cell was said to be unreadable; "needs media_urls" would repeat it
        rules = [p for p in rules if not p.startswith("a carousel needs media_urls")]
    if current is not None:
        rules = [p for p in rules if not p.startswith(csv_update.kept_url_problems(draft, current))]
    problems += rules
    if current is not None:
        problems = [p for p in problems if not p.startswith(csv_update.AS_NEW_POST_ONLY)]
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
        "requires_approval": requires_approval,
    }
    return RowResult(line, values, [])


def _as_update(result: RowResult, raw: str, current: Post | None, now: datetime | None) -> RowResult:
    """A row with an ``id``: the columns that differ from the post as it is (``current``), or what is wrong."""
    if not raw.isdigit():
        return RowResult(result.line, None, [f"id must be a post's number, or empty for a new post (got {raw!r})"])
    post_id = int(raw)
    if current is None:
        return RowResult(result.line, None, [f"no post with id {post_id} (leave id empty to add a new post)"])
    if result.problems or result.values is None:
        return RowResult(result.line, None, result.problems, post_id)
    values = result.values
    if values["account_id"] != current.account_id:
        return RowResult(result.line, None, ["a post cannot move to another account: add it as a new row"], post_id)
    changed = csv_update.changes(values, current)
    if "scheduled_at" in changed and now is not None:
        past = validation.past_problem(changed["scheduled_at"], now, option="post import --allow-past")
        if past:
            return RowResult(result.line, None, [past], post_id)
    return RowResult(result.line, changed, [], post_id)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
