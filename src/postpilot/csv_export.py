"""``post export``: posts written as CSV in the format of ``csv_format``, for a spreadsheet to open and, edited,
for ``post import`` to read back. Its own module because the import needs only one piece of it: the cells of a
post as exported (``export_row``), the baseline an edited row is compared with (``csv_update``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any

from postpilot import csv_options as opts
from postpilot.csv_format import EXPORT_COLUMNS, neutralise
from postpilot.domain.model import Post
from postpilot.redaction import display_url


def export_csv(posts: Iterable[Post], account_names: dict[int, str], *, full_urls: bool = False) -> str:
    """The posts as CSV. URLs are shown as everywhere else (no user:password, ``?…`` for a query string)
    unless ``full_urls``; every text cell that a spreadsheet would run as a formula is neutralised."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    url = exact_url if full_urls else _shown_url
    for p in posts:
        row = export_row(p, account_names.get(p.account_id, p.account_id), url)
        writer.writerow({k: neutralise(v) if isinstance(v, str) else v for k, v in row.items()})
    return out.getvalue()


def exact_url(value: object) -> str:
    return value if isinstance(value, str) else ""


def _shown_url(value: object) -> str:
    return display_url(value) if isinstance(value, str) and value else ""


def export_row(p: Post, account: object, url: Callable[[object], str]) -> dict[str, Any]:
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


def _bool_cell(value: bool | None) -> str:
    return "" if value is None else str(bool(value)).lower()
