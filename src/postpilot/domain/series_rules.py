"""Reading a series as people write it (CLI options, or a ``post_series`` row inserted with SQL): the
recurrence rule and the post template, every broken rule as a sentence that names the field.

The template is checked by the post rules themselves (``domain/validation.py``), on a draft of the first
occurrence: a series is accepted exactly when its posts would be.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from postpilot.domain import validation
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import CONTENT_FIELDS, Account
from postpilot.domain.recurrence import WEEKDAYS, Freq, Rule, first, parse_weekdays
from postpilot.domain.timeparse import zone

# The columns of ``post_series`` copied into each occurrence's ``scheduled_posts`` row: everything a post
# publishes (so a column a later issue adds to the post is one a series can carry; a test holds the table to
# it), its first comment and whether it waits for approval.
TEMPLATE_FIELDS = (*CONTENT_FIELDS, "first_comment", "requires_approval")
# The columns that say when: changing one of them moves the occurrences not yet prepared.
RULE_FIELDS = (
    "freq",
    "every",
    "weekdays",
    "month_day",
    "local_time",
    "time_zone",
    "starts_on",
    "until_on",
    "max_count",
)
_DRAFT_FIELDS = {f.name for f in dataclasses.fields(validation.PostDraft)}


@dataclass(frozen=True, slots=True)
class Series:
    """A ``post_series`` row as written: ``template`` (``TEMPLATE_FIELDS``) and ``rule_values``
    (``RULE_FIELDS``) are raw, as a marketer's SQL may have left them; ``rule_problems`` reads them."""

    id: int
    account_id: int
    template: dict[str, Any]
    rule_values: dict[str, Any]
    is_active: bool
    cancelled_at: datetime | None
    expanded_through: datetime | None
    last_error: str | None
    created_at: datetime | None = None

    def rule(self, default_zone: str) -> Rule | None:
        return rule_problems(self.rule_values, default_zone=default_zone)[0]


@dataclass(frozen=True, slots=True)
class SeriesChange:
    """What ``series edit`` or ``series cancel`` did to the occurrences not yet prepared, and which prepared
    ones it left as they are."""

    changed: list[int] = field(default_factory=list)  # edited or cancelled
    removed: list[int] = field(default_factory=list)  # no longer in the rule: deleted before being prepared
    created: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)  # already prepared (or being published): untouched


def parse_local_time(text: str, field: str = "local_time") -> time:
    """``09:00`` or ``9:00`` → 09:00. The column stores ``HH:MM``."""
    raw = text.strip()
    hours, sep, minutes = raw.partition(":")
    if sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2:
        h, m = int(hours), int(minutes)
        if h <= 23 and m <= 59:
            return time(h, m)
    raise InvalidInput(f"{field} must be a time of day as HH:MM, such as 09:00 (got {text!r})")


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{field} must be a date as YYYY-MM-DD, such as 2027-01-04 (got {text!r})") from None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _day(value: Any, field: str, out: list[str]) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return parse_day(str(value), field)
    except InvalidInput as exc:
        out.append(exc.message)
        return None


def rule_problems(
    values: Mapping[str, Any], *, default_zone: str, names: Mapping[str, str] | None = None
) -> tuple[Rule | None, list[str]]:
    """The rule in ``values`` (``RULE_FIELDS``; a missing ``time_zone`` is ``default_zone``, the account's),
    or None with every problem. ``names``: what to call a field in messages (the CLI's option names)."""
    labels = names or {}

    def n(field: str) -> str:
        return labels.get(field, field)

    out: list[str] = []
    freq: Freq | None = None
    try:
        freq = Freq(str(values.get("freq")))
    except ValueError:
        out.append(f"{n('freq')} must be daily, weekly or monthly (got {values.get('freq')!r})")
    every = _whole(values.get("every", 1) if values.get("every") is not None else 1)
    if every is None or every < 1:
        out.append(f"{n('every')} must be a whole number of 1 or more (got {values.get('every')!r})")
    weekdays: tuple[int, ...] = ()
    raw_days = values.get("weekdays")
    if raw_days not in (None, ""):
        try:
            weekdays = parse_weekdays(str(raw_days))
        except ValueError as exc:
            out.append(f"{n('weekdays')} must be days such as mon,thu ({', '.join(WEEKDAYS)}); {str(exc)!r} is not one")
        if freq is not None and freq is not Freq.WEEKLY:
            out.append(f"{n('weekdays')} is only for a weekly series; a {freq.value} one takes none")
    month_day = None
    if values.get("month_day") is not None:
        month_day = _whole(values.get("month_day"))
        if month_day is None or not 1 <= month_day <= 31:
            out.append(f"{n('month_day')} must be a day of the month from 1 to 31 (got {values.get('month_day')!r})")
        if freq is not None and freq is not Freq.MONTHLY:
            out.append(f"{n('month_day')} is only for a monthly series; a {freq.value} one takes none")
    local_time = None
    raw_time = values.get("local_time")
    if isinstance(raw_time, time):
        local_time = raw_time
    elif raw_time is None:
        out.append(f"{n('local_time')} is missing: give the time of day to publish, such as 09:00")
    else:
        try:
            local_time = parse_local_time(str(raw_time), n("local_time"))
        except InvalidInput as exc:
            out.append(exc.message)
    zone_name = str(values.get("time_zone") or default_zone)
    try:
        zone(zone_name)
    except InvalidInput as exc:
        out.append(f"{n('time_zone')}: {exc.message}")
    starts_on = _day(values.get("starts_on"), n("starts_on"), out)
    if values.get("starts_on") is None:
        out.append(f"{n('starts_on')} is missing: give the first day of the series, such as 2027-01-04")
    until_on = _day(values.get("until_on"), n("until_on"), out)
    if starts_on and until_on and until_on < starts_on:
        out.append(f"{n('until_on')} {until_on.isoformat()} is before {n('starts_on')} {starts_on.isoformat()}")
    max_count = None
    if values.get("max_count") is not None:
        max_count = _whole(values.get("max_count"))
        if max_count is None or max_count < 1:
            out.append(f"{n('max_count')} must be a whole number of 1 or more (got {values.get('max_count')!r})")
    if out or freq is None or every is None or local_time is None or starts_on is None:
        return None, out
    rule = Rule(
        freq=freq,
        every=every,
        weekdays=weekdays,
        month_day=month_day,
        local_time=local_time,
        time_zone=zone_name,
        starts_on=starts_on,
        until_on=until_on,
        max_count=max_count,
    )
    return rule, out


def _draft_values(template: Mapping[str, Any]) -> dict[str, Any]:
    # Only what ``PostDraft`` knows: the post rules grow with the post table, and the template follows.
    values = {"post_type": "photo", **template}
    return {k: v for k, v in values.items() if k in _DRAFT_FIELDS and k != "scheduled_at"}


def template_problems(template: Mapping[str, Any], rule: Rule | None, account: Account | None) -> list[str]:
    """The post rules, on the series' first occurrence. ``account`` None: the account is not checked (the
    daemon expanding a series of a paused account still creates its posts, which wait like any other)."""
    occurrence = first(rule) if rule is not None else None
    if rule is not None and occurrence is None:
        return ["the series has no occurrence: its until_on or max_count ends it before it starts"]
    draft = validation.PostDraft(**_draft_values(template), scheduled_at=occurrence.at if occurrence else None)
    found = validation.problems(draft, account, account_required=account is not None)
    # The time is the rule's to check (and is reported above when the rule is broken).
    return [p for p in found if not p.startswith("scheduled_at")]


def check_series(
    values: Mapping[str, Any], account: Account, *, default_zone: str, names: Mapping[str, str] | None = None
) -> Rule:
    """Everything a person typed: the rule and the template, all problems at once (``InvalidInput``)."""
    rule, found = rule_problems(values, default_zone=default_zone, names=names)
    template: dict[str, Any] = {k: values.get(k) for k in TEMPLATE_FIELDS if k in values}
    draft = validation.PostDraft(**_draft_values(template))
    found += validation.option_conflicts(draft) + template_problems(template, rule, account)
    if found or rule is None:
        raise InvalidInput("; ".join(found))
    return rule
