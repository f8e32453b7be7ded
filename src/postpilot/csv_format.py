"""The CSV format of posts (a public format: marketers build these files in spreadsheets): its columns and the
one rule every text cell follows. The import (``csvio``), the export (``csv_export``) and the reading back of an
exported row (``csv_update``) all speak it, so it sits below the three rather than in one of them.

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

from postpilot.domain.model import CONTENT_FIELDS

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
# Written by ``post export`` and read back by the import: ``id`` names the post a row updates; the others are
# results (and the duplicate confirmation, see above), shown in the export and ignored by the import.
READ_ONLY_COLUMNS = ("status", "last_error", "allow_duplicate", "ig_media_id", "permalink", "published_at")
EXPORT_COLUMNS = ("id", *COLUMNS, *READ_ONLY_COLUMNS)

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection). Exports prefix such
# cells with an apostrophe, which spreadsheets show as text; imports take that apostrophe off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def unneutralise(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell
