"""Reading the instant a marketer means. Naive datetimes never get past this module."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from postpilot.domain.errors import InvalidInput

EXAMPLE = "2026-12-01T09:00:00+01:00"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or America/New_York"
        ) from exc


def parse_when(text: str, tz: str | None = None) -> datetime:
    """ISO 8601 with an offset or ``Z`` is an instant as written. A time without an offset
    (``2026-12-01 09:00``) is read in ``tz``; with no ``tz`` it is refused rather than guessed."""
    raw = text.strip()
    if not raw:
        raise InvalidInput(f"scheduled_at is empty: give a time such as {EXAMPLE}")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"scheduled_at {raw!r} is not a date and time: use ISO 8601 such as {EXAMPLE} or '2026-12-01 09:00'"
        ) from exc
    if value.tzinfo is None:
        if tz is None:
            raise InvalidInput(f"scheduled_at {raw!r} has no UTC offset: add one (e.g. {EXAMPLE}) or give a time zone")
        value = value.replace(tzinfo=zone(tz))
    return value.astimezone(UTC)


def require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput("scheduled_at has no time zone: postpilot schedules instants, give an offset")
    return value.astimezone(UTC)


_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str) -> int:
    """``36h`` → 129600 seconds: a whole number and m, h or d; ``option`` names the flag in the message."""
    raw = text.strip()
    value, unit = raw[:-1], raw[-1:].lower()
    if unit not in _UNITS or not value.isdigit() or int(value) == 0:
        raise InvalidInput(f"{option} must be a number and m, h or d, e.g. 7d or 36h (got {text!r})")
    return int(value) * _UNITS[unit]


def known_zone(name: str | None) -> ZoneInfo:
    """The zone to show times in: an account's stored name, which the database cannot check, falls back to
    UTC rather than failing a listing."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def shown_time(moment: datetime, zone_name: str | None, *, seconds: bool = False) -> str:
    """``2030-06-03 09:00 CEST`` in the zone people live in; UTC is spelled out (``… 07:00 UTC``)."""
    local = moment.astimezone(known_zone(zone_name))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
