"""The options of ``series add`` and ``series edit``, read into ``post_series`` column values: the rule (when)
and the template (what each occurrence publishes, with every option ``post add`` has, from ``post_options``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from postpilot.domain.errors import InvalidInput
from postpilot.domain.recurrence import parse_weekdays, weekdays_text
from postpilot.domain.series_rules import parse_day, parse_local_time
from postpilot.domain.timeparse import zone

# The option that sets each column, for messages.
OPTION_NAMES = {
    "freq": "--every",
    "every": "--interval",
    "weekdays": "--on",
    "month_day": "--day",
    "local_time": "--at",
    "time_zone": "--tz",
    "starts_on": "--from",
    "until_on": "--until",
    "max_count": "--count",
}
_FREQ_WORDS = {
    "day": "daily",
    "days": "daily",
    "daily": "daily",
    "week": "weekly",
    "weeks": "weekly",
    "weekly": "weekly",
    "month": "monthly",
    "months": "monthly",
    "monthly": "monthly",
}
SHOWN_NEXT = 5

Every = Annotated[str | None, typer.Option("--every", help="day, week or month.")]
Interval = Annotated[int | None, typer.Option("--interval", help="Every N days, weeks or months (default 1).")]
On = Annotated[str | None, typer.Option("--on", help="Weekly: the days, e.g. mon,thu (default: --from's weekday).")]
Day = Annotated[
    int | None, typer.Option("--day", help="Monthly: the day of the month, 1–31 (a shorter month: its last day).")
]
At = Annotated[str | None, typer.Option("--at", help="The local time of day, HH:MM (e.g. 09:00).")]
Tz = Annotated[str | None, typer.Option("--tz", help="IANA time zone of --at (default: the account's).")]
From = Annotated[str | None, typer.Option("--from", help="The first day, YYYY-MM-DD (default: today).")]
Until = Annotated[str | None, typer.Option("--until", help="The last day an occurrence may fall on, YYYY-MM-DD.")]
Count = Annotated[int | None, typer.Option("--count", help="How many times in all.")]
PostType = Annotated[str | None, typer.Option("--type", help="photo, carousel, reel or story.")]
Caption = Annotated[str | None, typer.Option(help="≤ 2200 characters, ≤ 30 hashtags, ≤ 20 @mentions.")]
Prompt = Annotated[str | None, typer.Option(help="Generate each occurrence's image(s) from this text.")]
ImageUrl = Annotated[str | None, typer.Option(help="Photo: your own image (http/https).")]
MediaUrl = Annotated[list[str] | None, typer.Option(help="Carousel: an image URL; repeat 2–10 times.")]
VideoUrl = Annotated[str | None, typer.Option(help="Reel: the video (MP4/MOV) URL.")]
CoverUrl = Annotated[str | None, typer.Option(help="Reel: optional cover image URL.")]
ImageCount = Annotated[int | None, typer.Option(help="Carousel: images to generate (2–10).")]
AspectOpt = Annotated[str | None, typer.Option("--aspect", help="square, portrait or landscape.")]
AltText = Annotated[str | None, typer.Option(help="Accessibility text (≤ 1000 characters).")]
FirstComment = Annotated[str | None, typer.Option(help="A comment posted right after each occurrence is live.")]
Approval = Annotated[
    bool | None,
    typer.Option("--approval/--no-approval", help="Each occurrence waits for a person (default: as the account)."),
]


def _freq(word: str) -> str:
    found = _FREQ_WORDS.get(word.strip().lower())
    if found is None:
        raise InvalidInput(f"--every must be day, week or month (got {word!r})")
    return found


def rule_options(*, editing: bool = False, **given: Any) -> dict[str, Any]:
    """The rule options a person gave, as column values (in an edit, '' clears --until and 0 --count)."""
    out: dict[str, Any] = {}
    if given["every"] is not None:
        out["freq"] = _freq(given["every"])
    if given["interval"] is not None:
        out["every"] = given["interval"]
    if given["on"] is not None:
        try:
            out["weekdays"] = weekdays_text(parse_weekdays(given["on"])) or None
        except ValueError as exc:
            raise InvalidInput(f"--on must be days such as mon,thu; {str(exc)!r} is not one") from None
    if given["day"] is not None:
        out["month_day"] = given["day"]
    if given["at"] is not None:
        out["local_time"] = parse_local_time(given["at"], "--at").strftime("%H:%M")
    if given["tz"] is not None:
        zone(given["tz"])
        out["time_zone"] = given["tz"]
    if given["from_"] is not None:
        out["starts_on"] = parse_day(given["from_"], "--from")
    if given["until"] is not None:
        out["until_on"] = parse_day(given["until"], "--until") if given["until"] or not editing else None
    if given["count"] is not None:
        out["max_count"] = (given["count"] or None) if editing else given["count"]
    return out


def content_options(**given: Any) -> dict[str, Any]:
    out = {k: v for k, v in given.items() if v is not None and k != "media_url"}
    if given.get("media_url") is not None:
        out["media_urls"] = list(given["media_url"]) or None
    return out
