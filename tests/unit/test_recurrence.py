"""When a series' occurrences fall (``domain/recurrence.py``) and how a series is read (``domain/series_rules``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import Account, LoginKind
from postpilot.domain.recurrence import (
    Freq,
    Rule,
    describe,
    first,
    local_days,
    occurrences,
    parse_weekdays,
    to_instant,
    upcoming,
)
from postpilot.domain.series_rules import check_series, rule_problems, template_problems

YEAR_START = datetime(2026, 12, 31, tzinfo=UTC)
YEAR_END = datetime(2028, 1, 1, tzinfo=UTC)


def _weekly_year(zone: str) -> list[datetime]:
    rule = Rule(
        Freq.WEEKLY, time(9, 0), zone, date(2027, 1, 4), weekdays=(0, 3), until_on=date(2027, 12, 31)
    )
    return [o.at for o in occurrences(rule, after=YEAR_START, through=YEAR_END)]


@pytest.mark.parametrize(
    ("zone", "spring", "autumn", "winter_utc", "summer_utc"),
    [
        # Europe/Paris: CET (+1) until 28 March 2027 02:00, CEST (+2) until 31 October 2027 03:00.
        ("Europe/Paris", date(2027, 3, 28), date(2027, 10, 31), 8, 7),
        # America/New_York: EST (-5) until 14 March 2027 02:00, EDT (-4) until 7 November 2027 02:00.
        ("America/New_York", date(2027, 3, 14), date(2027, 11, 7), 14, 13),
    ],
)
def test_a_year_of_a_weekly_series_stays_at_nine_local_across_both_dst_changes(
    zone: str, spring: date, autumn: date, winter_utc: int, summer_utc: int
) -> None:
    found = _weekly_year(zone)
    assert len(found) == 104  # 52 Mondays and 52 Thursdays from 4 January to 30 December 2027
    local = [at.astimezone(ZoneInfo(zone)) for at in found]
    assert all((t.hour, t.minute) == (9, 0) for t in local)
    assert all(t.weekday() in (0, 3) for t in local)
    assert local[0].date() == date(2027, 1, 4) and local[-1].date() == date(2027, 12, 30)
    for at in found:
        summer = spring <= at.date() < autumn
        assert at.hour == (summer_utc if summer else winter_utc), at
    # The weeks that straddle each change: the UTC hour moves, the local hour does not.
    before_spring = max(at for at in found if at.date() < spring)
    after_spring = min(at for at in found if at.date() > spring)
    assert (before_spring.hour, after_spring.hour) == (winter_utc, summer_utc)
    before_autumn = max(at for at in found if at.date() < autumn)
    after_autumn = min(at for at in found if at.date() > autumn)
    assert (before_autumn.hour, after_autumn.hour) == (summer_utc, winter_utc)


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        ("Europe/Paris", date(2027, 3, 28), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),  # CEST already
        ("Europe/Paris", date(2027, 10, 31), datetime(2027, 10, 31, 8, 0, tzinfo=UTC)),  # CET again
        ("America/New_York", date(2027, 3, 14), datetime(2027, 3, 14, 13, 0, tzinfo=UTC)),
        ("America/New_York", date(2027, 11, 7), datetime(2027, 11, 7, 14, 0, tzinfo=UTC)),
    ],
)
def test_nine_on_the_day_of_the_change_itself(zone: str, day: date, expected: datetime) -> None:
    assert to_instant(day, time(9, 0), ZoneInfo(zone)) == expected


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected", "shown"),
    [
        # Spring forward: 02:30 does not exist; read with the offset before the jump, it is 03:30 summer time.
        ("Europe/Paris", date(2027, 3, 28), time(2, 30), datetime(2027, 3, 28, 1, 30, tzinfo=UTC), "03:30"),
        ("America/New_York", date(2027, 3, 14), time(2, 30), datetime(2027, 3, 14, 7, 30, tzinfo=UTC), "03:30"),
        # Fall back: 02:30 (Paris) and 01:30 (New York) happen twice; the first, still summer time, is taken.
        ("Europe/Paris", date(2027, 10, 31), time(2, 30), datetime(2027, 10, 31, 0, 30, tzinfo=UTC), "02:30"),
        ("America/New_York", date(2027, 11, 7), time(1, 30), datetime(2027, 11, 7, 5, 30, tzinfo=UTC), "01:30"),
    ],
)
def test_a_time_in_the_gap_moves_forward_and_a_repeated_time_is_the_first(
    zone: str, day: date, at: time, expected: datetime, shown: str
) -> None:
    rule = Rule(Freq.DAILY, at, zone, day - timedelta(days=1), until_on=day + timedelta(days=1))
    found = {o.at.astimezone(ZoneInfo(zone)).date(): o.at for o in occurrences(
        rule, after=YEAR_START, through=YEAR_END)}
    assert len(found) == 3
    assert found[day] == expected
    assert found[day].astimezone(ZoneInfo(zone)).strftime("%H:%M") == shown
    # The days either side are at the wall-clock time as written.
    assert {d: t.astimezone(ZoneInfo(zone)).strftime("%H:%M") for d, t in found.items() if d != day} == {
        day - timedelta(days=1): at.strftime("%H:%M"),
        day + timedelta(days=1): at.strftime("%H:%M"),
    }


def test_monthly_on_the_31st_uses_the_last_day_of_shorter_months() -> None:
    rule = Rule(Freq.MONTHLY, time(9, 0), "Europe/Paris", date(2027, 12, 31), month_day=31, max_count=4)
    assert list(local_days(rule)) == [date(2027, 12, 31), date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31)]
    rule = Rule(Freq.MONTHLY, time(9, 0), "UTC", date(2027, 1, 31), max_count=6)  # the day of starts_on
    assert [d.day for d in local_days(rule)] == [31, 28, 31, 30, 31, 30]


def test_a_monthly_day_before_the_start_begins_the_next_month() -> None:
    rule = Rule(Freq.MONTHLY, time(9, 0), "UTC", date(2027, 1, 20), month_day=5, max_count=2)
    assert list(local_days(rule)) == [date(2027, 2, 5), date(2027, 3, 5)]


def test_count_and_until_end_the_series() -> None:
    by_count = Rule(Freq.WEEKLY, time(9, 0), "UTC", date(2027, 1, 4), weekdays=(0, 3), max_count=3)
    assert list(local_days(by_count)) == [date(2027, 1, 4), date(2027, 1, 7), date(2027, 1, 11)]
    by_date = Rule(Freq.DAILY, time(9, 0), "UTC", date(2027, 1, 4), until_on=date(2027, 1, 6))
    assert list(local_days(by_date)) == [date(2027, 1, 4), date(2027, 1, 5), date(2027, 1, 6)]
    both = Rule(Freq.DAILY, time(9, 0), "UTC", date(2027, 1, 4), until_on=date(2027, 1, 31), max_count=2)
    assert len(list(local_days(both))) == 2  # whichever ends it first


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (Rule(Freq.DAILY, time(9), "UTC", date(2027, 1, 4), every=2, max_count=3),
         [date(2027, 1, 4), date(2027, 1, 6), date(2027, 1, 8)]),
        # Weeks count from the Monday of the start's week: Monday 4 January is before the start, so the
        # first Monday is in the week two weeks later.
        (Rule(Freq.WEEKLY, time(9), "UTC", date(2027, 1, 6), every=2, weekdays=(0, 4), max_count=4),
         [date(2027, 1, 8), date(2027, 1, 18), date(2027, 1, 22), date(2027, 2, 1)]),
        (Rule(Freq.WEEKLY, time(9), "UTC", date(2027, 1, 6), every=2, max_count=2),  # the start's weekday
         [date(2027, 1, 6), date(2027, 1, 20)]),
        (Rule(Freq.MONTHLY, time(9), "UTC", date(2027, 11, 15), every=2, max_count=3),
         [date(2027, 11, 15), date(2028, 1, 15), date(2028, 3, 15)]),
    ],
)
def test_an_interval_skips_days_weeks_or_months(rule: Rule, expected: list[date]) -> None:
    assert list(local_days(rule)) == expected


def test_a_window_takes_what_is_after_its_start_and_up_to_its_end_numbered_from_the_rule() -> None:
    rule = Rule(Freq.DAILY, time(9, 0), "UTC", date(2027, 1, 1))
    window = occurrences(
        rule, after=datetime(2027, 1, 3, 9, 0, tzinfo=UTC), through=datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
    )
    assert [(o.number, o.at.day) for o in window] == [(4, 4), (5, 5)]
    assert [o.number for o in upcoming(rule, after=datetime(2027, 1, 3, 9, 0, tzinfo=UTC), limit=3)] == [4, 5, 6]
    assert first(Rule(Freq.DAILY, time(9), "UTC", date(2027, 1, 4), max_count=1)) is not None


def test_the_rule_in_words() -> None:
    rule = Rule(Freq.WEEKLY, time(9, 0), "Europe/Paris", date(2027, 1, 4), weekdays=(0, 3),
                until_on=date(2027, 12, 31))
    assert describe(rule) == (
        "every week on Monday and Thursday at 09:00 (Europe/Paris), from 2027-01-04 until 2027-12-31"
    )
    monthly = Rule(Freq.MONTHLY, time(18, 30), "UTC", date(2027, 1, 31), every=2, max_count=6)
    assert describe(monthly) == (
        "every 2 months on the 31st (or the month's last day) at 18:30 (UTC), from 2027-01-31, 6 times"
    )


def test_weekdays_are_read_as_short_or_full_names() -> None:
    assert parse_weekdays("mon,thu") == (0, 3)
    assert parse_weekdays("Thursday, monday mon") == (0, 3)
    with pytest.raises(ValueError, match="funday"):
        parse_weekdays("mon,funday")


RULE = {"freq": "weekly", "weekdays": "mon,thu", "local_time": "09:00", "starts_on": "2027-01-04"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"freq": "hourly"}, "freq must be daily, weekly or monthly (got 'hourly')"),
        ({"every": 0}, "every must be a whole number of 1 or more (got 0)"),
        ({"weekdays": "mon,someday"}, "weekdays must be days such as mon,thu"),
        ({"freq": "daily"}, "weekdays is only for a weekly series; a daily one takes none"),
        ({"month_day": 32, "freq": "monthly", "weekdays": None}, "month_day must be a day of the month from 1 to 31"),
        ({"month_day": 3}, "month_day is only for a monthly series; a weekly one takes none"),
        ({"local_time": "9h"}, "local_time must be a time of day as HH:MM, such as 09:00 (got '9h')"),
        ({"local_time": "24:00"}, "local_time must be a time of day as HH:MM"),
        ({"local_time": None}, "local_time is missing"),
        ({"time_zone": "Europe/Pariss"}, "time_zone: unknown time zone 'Europe/Pariss'"),
        ({"starts_on": "4 January"}, "starts_on must be a date as YYYY-MM-DD, such as 2027-01-04 (got '4 January')"),
        ({"starts_on": None}, "starts_on is missing"),
        ({"until_on": "2026-12-31"}, "until_on 2026-12-31 is before starts_on 2027-01-04"),
        ({"until_on": "soon"}, "until_on must be a date as YYYY-MM-DD"),
        ({"max_count": 0}, "max_count must be a whole number of 1 or more (got 0)"),
    ],
)
def test_every_broken_rule_names_its_field(change: dict[str, object], message: str) -> None:
    rule, problems = rule_problems({**RULE, **change}, default_zone="UTC")
    assert rule is None
    assert any(message in p for p in problems), problems


def test_the_cli_names_its_options_in_the_same_messages() -> None:
    _, problems = rule_problems({**RULE, "local_time": "25:00"}, default_zone="UTC", names={"local_time": "--at"})
    assert problems == ["--at must be a time of day as HH:MM, such as 09:00 (got '25:00')"]


def test_a_missing_zone_is_the_accounts() -> None:
    rule, problems = rule_problems(RULE, default_zone="America/New_York")
    assert problems == [] and rule is not None and rule.time_zone == "America/New_York"


def _account() -> Account:
    return Account(id=1, name="shop", ig_user_id="1", login_kind=LoginKind.FACEBOOK, dry_run=True, is_active=True,
                   has_token=False, token_expires_at=None, needs_reconnect=False, last_error=None)


def test_the_template_follows_the_post_rules() -> None:
    with pytest.raises(InvalidInput) as info:
        check_series({**RULE, "post_type": "photo", "caption": "x" * 2201}, _account(), default_zone="UTC")
    assert "a photo needs an image_url or a prompt" in info.value.message
    assert "caption is 2201 characters long; Instagram allows at most 2200" in info.value.message
    with pytest.raises(InvalidInput, match=r"either an image_url .* or a prompt"):
        check_series({**RULE, "image_url": "https://example.com/a.jpg", "prompt": "p"}, _account(), default_zone="UTC")
    assert check_series({**RULE, "prompt": "bread"}, _account(), default_zone="UTC").weekdays == (0, 3)


def test_a_series_that_ends_before_it_starts_is_refused() -> None:
    rule, _ = rule_problems({**RULE, "starts_on": "2027-01-05", "until_on": "2027-01-06"}, default_zone="UTC")
    assert template_problems({"prompt": "p"}, rule, None) == [
        "the series has no occurrence: its until_on or max_count ends it before it starts"
    ]
