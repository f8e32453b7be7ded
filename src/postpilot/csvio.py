"""The CSV import and export format (a public format: marketers build these files in spreadsheets).

Columns (header row required; order free; unknown columns are an error so typos do not pass silently):
``account, post_type, scheduled_at, timezone, caption, prompt, image_url, media_urls, video_url, cover_url,
image_count, aspect, alt_text, user_tags, collaborators, location_id, share_to_feed, thumb_offset, audio_name,
trial_params, first_comment, requires_approval``. ``media_urls`` holds the carousel's URLs (images, or
.mp4/.mov/.m4v videos) separated by spaces, ``|`` or new lines, or its JSON array with per-slide objects
(``{"url": …, "alt_text": …}``, ``{"url": …, "type": "video"}``); the option cells are described in
``csv_options``. ``scheduled_at`` is ISO 8601 with an offset, or a local time with a ``timezone`` (IANA name).

``post export`` adds ``id`` and the results (``READ_ONLY_COLUMNS``), among them ``allow_duplicate``: a person's
confirmation of one held repeat (``post retry ID --allow-duplicate``), shown but never set by an import, so a
row copied from an export does not carry that confirmation to a new post.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from postpilot import csv_options as opts
from postpilot.domain import validation
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import CONTENT_FIELDS, DRAFT_FIELDS, Account, Post
from postpilot.domain.publish_options import media_item_url
from postpilot.domain.timeparse import parse_when
from postpilot.redaction import display_url

# The CSV names the account by name and carries a time zone; the rest are the table's content columns.
COLUMNS = (
    "account",
    "post_type",
    "scheduled_at",
    "timezone",
    *CONTENT_FIELDS[1:],
    "first_comment",
    "requires_approval",
)
REQUIRED = ("account", "scheduled_at")
# Written by ``post export`` and read back by the import: ``id`` names the post a row updates; the others are
# results (and the duplicate confirmation, see above), shown in the export and ignored by the import.
READ_ONLY_COLUMNS = ("status", "last_error", "allow_duplicate", "ig_media_id", "permalink", "published_at")
EXPORT_COLUMNS = ("id", *COLUMNS, *READ_ONLY_COLUMNS)
IMPORT_COLUMNS = EXPORT_COLUMNS
# What an import compares with the post a row with an ``id`` updates.
UPDATE_FIELDS = (*DRAFT_FIELDS, "requires_approval")
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
        # A column the file leaves out is as the post has it (not emptied): an update row says what changes,
        # also when a spreadsheet user deleted the columns they do not work with.
        kept = _export_row(current, "", _exact_url)
        row = {**{c: neutralise(_cell(kept[c])) for c in COLUMNS if c not in header}, **row}
    return _as_update(_parse_row(line, row, find_account, now, current), raw, current, now)


def _parse_row(
    line: int,
    row: dict[str, str | None],
    find_account: Callable[[str], Account | None],
    now: datetime | None,
    current: Post | None = None,
) -> RowResult:
    """One row checked as a new post; ``current``: the post a row with an ``id`` updates."""
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
        # A URL the post already holds, read back unchanged, is not this file's to answer for: preparation
        # fills in where it stored the images (file:// with the local store).
        kept = tuple(_URL_PROBLEM_STARTS[n] for n in _URL_COLUMNS if _unchanged(n, getattr(draft, n), current))
        rules = [p for p in rules if not p.startswith(kept)]
    problems += rules
    if current is not None:
        problems = [p for p in problems if not p.startswith(_AS_NEW_POST_ONLY)]
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
    changed: dict[str, Any] = {}
    for name in UPDATE_FIELDS:
        new, old = values.get(name), getattr(current, name)
        if name == "media_urls":
            new = _with_hidden_urls(new, old)
        if _same(name, new, old):
            continue
        changed[name] = new
    if "scheduled_at" in changed and now is not None:
        past = validation.past_problem(changed["scheduled_at"], now, option="post import --allow-past")
        if past:
            return RowResult(result.line, None, [past], post_id)
    return RowResult(result.line, changed, [], post_id)


# Rules about a row as a new post that do not apply to an exported row, where only what it changes counts: a
# prompt beside the image URL preparation filled in (a time in the past is checked only when it changes).
_AS_NEW_POST_ONLY = (
    "a photo takes either an image_url (your own image) or a prompt",
    "a carousel takes either media_urls (your own images) or a prompt",
    "a story takes either your own image_url or video_url, or a prompt",
    "image_count is only for a carousel generated from a prompt",
    "video_url and cover_url are only for a reel",
)
_URL_COLUMNS = ("image_url", "media_urls", "video_url", "cover_url")
_URL_PROBLEM_STARTS = {n: f"{n} " for n in _URL_COLUMNS} | {"media_urls": "media_urls item "}


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
    url = _exact_url if full_urls else _shown_url
    for p in posts:
        row = _export_row(p, account_names.get(p.account_id, p.account_id), url)
        writer.writerow({k: neutralise(v) if isinstance(v, str) else v for k, v in row.items()})
    return out.getvalue()


def _exact_url(value: object) -> str:
    return value if isinstance(value, str) else ""


def _shown_url(value: object) -> str:
    return display_url(value) if isinstance(value, str) and value else ""


def _export_row(p: Post, account: object, url: Callable[[object], str]) -> dict[str, Any]:
    """The post's cells as the export writes them (before neutralising), its URLs as ``url`` shows them."""
    return {
        "id": p.id,
        "account": account,
        "post_type": p.post_type,
        "scheduled_at": p.scheduled_at.isoformat(),
        "timezone": "",
        "caption": p.caption,
        "prompt": p.prompt or "",
        "image_url": url(p.image_url),
        "media_urls": opts.format_media_urls(p.media_urls, url),
        "video_url": url(p.video_url),
        "cover_url": url(p.cover_url),
        "image_count": p.image_count or "",
        "aspect": p.aspect,
        "alt_text": p.alt_text or "",
        "user_tags": opts.format_user_tags(p.user_tags),
        "collaborators": opts.format_collaborators(p.collaborators),
        "location_id": p.location_id or "",
        "share_to_feed": _bool_cell(p.share_to_feed),
        "thumb_offset": "" if p.thumb_offset is None else p.thumb_offset,
        "audio_name": p.audio_name or "",
        "trial_params": opts.format_trial(p.trial_params),
        "first_comment": p.first_comment or "",
        "requires_approval": _bool_cell(p.requires_approval),
        "status": p.status.value,
        "last_error": p.last_error or "",
        "allow_duplicate": _bool_cell(p.allow_duplicate),
        "ig_media_id": p.ig_media_id or "",
        "permalink": p.permalink or "",
        "published_at": p.published_at.isoformat() if p.published_at else "",
    }


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _bool_cell(value: bool | None) -> str:
    return "" if value is None else str(bool(value)).lower()
