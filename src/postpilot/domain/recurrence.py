"""Recurring posts: when a series' occurrences fall. Pure code: no clock, no database.

A rule is a wall-clock time in a time zone (``09:00`` in ``Europe/Paris``) on the days of a daily, weekly or
monthly pattern. Each occurrence is computed in local time first and only then turned into an instant, so
09:00 stays 09:00 across daylight-saving changes (08:00 UTC in winter, 07:00 UTC in summer).

Two local times are not plain instants:

- a time in the spring-forward gap (02:30 on the night the clocks jump from 02:00 to 03:00) does not exist;
  it is read with the offset in force before the jump, which moves it forward by the length of the gap
  (02:30 → 03:30). iCalendar (RFC 5545) does the same; it keeps two posts of that night in their order and
  their distance apart.
- a time in the fall-back hour (02:30 on the night 03:00 goes back to 02:00) happens twice; the first one
  (summer time, ``fold=0``) is taken.

Weekly series count weeks from the Monday of the week of ``starts_on``; monthly series count months from
the month of ``starts_on``; a month without ``month_day`` (31 in April, 30 in February) uses its last day.
``max_count`` counts the rule's occurrences from ``starts_on``, including any that passed unseen.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# More than this many occurrences in one look-ahead window means a mistaken rule, not a schedule.
MAX_PER_WINDOW = 1000


class Freq(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class Rule:
    freq: Freq
    local_time: time
    time_zone: str
    starts_on: date
    every: int = 1
    weekdays: tuple[int, ...] = ()  # 0 = Monday; weekly only; empty: the weekday of starts_on
    month_day: int | None = None  # monthly only; None: the day of starts_on
    until_on: date | None = None  # the last local date an occurrence may fall on (inclusive)
    max_count: int | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    number: int  # 1 for the rule's first occurrence
    at: datetime  # UTC


def to_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at wall-clock ``at`` in ``zone`` as a UTC instant (gap: moved forward; fold: the first)."""
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(UTC)


def local_days(rule: Rule) -> Iterator[date]:
    """The rule's local dates from ``starts_on``, in order, up to ``until_on`` and ``max_count``."""
    days = _pattern(rule)
    for number, day in enumerate(days, start=1):
        if rule.max_count is not None and number > rule.max_count:
            return
        if rule.until_on is not None and day > rule.until_on:
            return
        yield day


def occurrences(rule: Rule, *, after: datetime, through: datetime) -> list[Occurrence]:
    """The occurrences with ``after < at <= through``, numbered from the rule's start."""
    zone = ZoneInfo(rule.time_zone)
    found: list[Occurrence] = []
    # A local date is never more than a day and a bit away from its instant: skip whole days cheaply.
    first_day = (after - timedelta(days=2)).astimezone(zone).date()
    for number, day in enumerate(local_days(rule), start=1):
        if day < first_day:
            continue
        at = to_instant(day, rule.local_time, zone)
        if at > through:
            break
        if at > after:
            found.append(Occurrence(number, at))
            if len(found) >= MAX_PER_WINDOW:
                break
    return found


def upcoming(rule: Rule, *, after: datetime, limit: int) -> list[Occurrence]:
    """The next ``limit`` occurrences after ``after`` (for ``series show``)."""
    zone = ZoneInfo(rule.time_zone)
    first_day = (after - timedelta(days=2)).astimezone(zone).date()
    found: list[Occurrence] = []
    for number, day in enumerate(local_days(rule), start=1):
        if len(found) >= limit:
            break
        if day < first_day:
            continue
        at = to_instant(day, rule.local_time, zone)
        if at > after:
            found.append(Occurrence(number, at))
    return found


def first(rule: Rule) -> Occurrence | None:
    for day in local_days(rule):
        return Occurrence(1, to_instant(day, rule.local_time, ZoneInfo(rule.time_zone)))
    return None


def _pattern(rule: Rule) -> Iterator[date]:
    every = max(1, rule.every)
    start = rule.starts_on
    if rule.freq is Freq.DAILY:
        day = start
        while True:
            yield day
            day += timedelta(days=every)
    elif rule.freq is Freq.WEEKLY:
        weekdays = sorted(set(rule.weekdays)) or [start.weekday()]
        monday = start - timedelta(days=start.weekday())
        while True:
            for wd in weekdays:
                day = monday + timedelta(days=wd)
                if day >= start:
                    yield day
            monday += timedelta(weeks=every)
    else:
        wanted = rule.month_day or start.day
        year, month = start.year, start.month
        while True:
            day = date(year, month, min(wanted, calendar.monthrange(year, month)[1]))
            if day >= start:
                yield day
            month += every
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
            if year > 9999:
                return


# --------------------------------------------------------------------------------------------- words
def parse_weekdays(text: str) -> tuple[int, ...]:
    """``mon,thu`` → (0, 3). Also full names and spaces (``Monday Thursday``). Raises ValueError with the
    word it could not read."""
    out = []
    for word in text.replace(",", " ").split():
        key = word.strip().lower()[:3]
        if key not in WEEKDAYS or not WEEKDAY_NAMES[WEEKDAYS.index(key)].lower().startswith(word.strip().lower()):
            raise ValueError(word)
        out.append(WEEKDAYS.index(key))
    return tuple(sorted(set(out)))


def weekdays_text(weekdays: tuple[int, ...]) -> str:
    """(0, 3) → ``mon,thu``: how the ``weekdays`` column stores them."""
    return ",".join(WEEKDAYS[d] for d in sorted(set(weekdays)))


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(rule: Rule) -> str:
    """The rule in words: ``every week on Monday and Thursday at 09:00 (Europe/Paris), from 2027-01-04 until
    2027-12-31``."""
    unit = {Freq.DAILY: "day", Freq.WEEKLY: "week", Freq.MONTHLY: "month"}[rule.freq]
    head = f"every {unit}" if rule.every == 1 else f"every {rule.every} {unit}s"
    if rule.freq is Freq.WEEKLY:
        days = sorted(set(rule.weekdays)) or [rule.starts_on.weekday()]
        head += " on " + _and([WEEKDAY_NAMES[d] for d in days])
    elif rule.freq is Freq.MONTHLY:
        day = rule.month_day or rule.starts_on.day
        head += f" on the {_ordinal(day)}" + (" (or the month's last day)" if day > 28 else "")
    text = f"{head} at {rule.local_time.strftime('%H:%M')} ({rule.time_zone}), from {rule.starts_on.isoformat()}"
    if rule.until_on is not None:
        text += f" until {rule.until_on.isoformat()}"
    if rule.max_count is not None:
        text += f", {rule.max_count} time{'s' if rule.max_count != 1 else ''}"
    return text
