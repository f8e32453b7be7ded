"""Reading the Graph API's JSON answers: ids, optional fields, media, cursors and timestamps.

Meta sends ids as strings or numbers and leaves fields out freely; these readers take whatever came and
give typed values or None. A required id that is missing raises our error, never ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from postpilot.domain.errors import OutcomeUnknown, Transient
from postpilot.instagram.error_table import Stage
from postpilot.instagram.graph_api import MediaInfo


def required_str(body: dict[str, Any], key: str, *, during: Stage) -> str:
    value = body.get(key)
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    if during == "publish":
        raise OutcomeUnknown(
            "Instagram accepted the publish but sent no media id; the post may be live, so it is checked."
        )
    raise Transient(f"Instagram's answer had no {key}; it will be asked again.")


def opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def read_media_info(item: Mapping[str, Any]) -> MediaInfo | None:
    media_id = item.get("id")
    if not isinstance(media_id, str | int) or isinstance(media_id, bool):
        return None
    return MediaInfo(
        id=str(media_id),
        permalink=opt_str(item.get("permalink")),
        timestamp=parse_graph_time(item.get("timestamp")),
        media_type=opt_str(item.get("media_type")),
        caption=opt_str(item.get("caption")),
    )


def next_cursor(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None  # no next link: this was the last page
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def parse_graph_time(value: object) -> datetime | None:
    """Meta's timestamps ("2026-01-31T09:30:00+0000") as aware UTC; None when missing or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    for parse in (lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z"), datetime.fromisoformat):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            return None
        return parsed.astimezone(UTC)
    return None
