"""``postpilot series …`` through Typer's CliRunner, on SQLite and PostgreSQL: what a marketer types and reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from postpilot.cli import cli
from postpilot.db.engine import build_engine
from tests.integration.cli_env import isolate_cli

SERIES = ["series", "add", "--account", "shop", "--every", "week", "--on", "mon,thu", "--at", "09:00",
          "--from", "2030-01-07", "--until", "2030-12-31", "--prompt", "fresh bread on a wooden table"]


@pytest.fixture(autouse=True)
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    isolate_cli(monkeypatch, db_url=db_url, tmp_path=tmp_path)
    assert invoke(["account", "add", "shop", "--ig-user-id", "17841400000000001", "--dry-run"]).exit_code == 0
    assert invoke(["account", "set", "shop", "--tz", "Europe/Paris"]).exit_code == 0
    return db_url


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def test_add_shows_the_rule_in_words_and_the_next_occurrences() -> None:
    result = invoke(SERIES)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ("series 1 for shop: every week on Monday and Thursday at 09:00 (Europe/Paris), from "
                        "2030-01-07 until 2030-12-31")
    assert lines[1:4] == ["next:", "  #1    2030-01-07 09:00 CET  (not created yet)",
                          "  #2    2030-01-10 09:00 CET  (not created yet)"]
    assert "each occurrence becomes a post two weeks ahead of its time" in lines[-1]


def test_add_creates_the_posts_of_the_next_two_weeks_at_once(env: str) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).date()
    result = invoke(["series", "add", "--account", "shop", "--every", "day", "--at", "18:30", "--tz",
                     "America/New_York", "--from", start.isoformat(), "--count", "3", "--caption", "Soup of the day",
                     "--prompt", "a bowl of soup"])
    assert result.exit_code == 0, result.output
    assert "(post 1, scheduled)" in result.output and "created post 1, 2, 3 (the next two weeks)" in result.output
    listed = invoke(["post", "list", "--tz", "America/New_York"]).output
    assert listed.count("18:30 EST") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "fortnight"], "--every must be day, week or month (got 'fortnight')"),
        (["--at", "9h"], "--at must be a time of day as HH:MM, such as 09:00 (got '9h')"),
        (["--at", "24:00"], "--at must be a time of day as HH:MM"),
        (["--on", "mon,funday"], "--on must be days such as mon,thu; 'funday' is not one"),
        (["--from", "7 January"], "--from must be a date as YYYY-MM-DD, such as 2027-01-04 (got '7 January')"),
        (["--until", "2029-12-31"], "--until 2029-12-31 is before --from 2030-01-07"),
        (["--until", "end of year"], "--until must be a date as YYYY-MM-DD"),
        (["--count", "0"], "--count must be a whole number of 1 or more (got 0)"),
        (["--interval", "0"], "--interval must be a whole number of 1 or more (got 0)"),
        (["--day", "15"], "--day is only for a monthly series; a weekly one takes none"),
        (["--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--caption", "x" * 2201], "caption is 2201 characters long; Instagram allows at most 2200"),
        (["--aspect", "wide"], "aspect must be square, portrait or landscape"),
        (["--image-url", "https://example.com/a.jpg"],
         "a photo takes either an image_url (your own image) or a prompt"),
    ],
)
def test_every_mistake_is_one_line_naming_the_option(args: list[str], message: str) -> None:
    base = list(SERIES)
    for flag in args[::2]:
        if flag in base:  # the test's value replaces the standard one
            i = base.index(flag)
            del base[i : i + 2]
    result = invoke(base + args)
    assert result.exit_code == 3, result.output
    assert message in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["series", "add", "--account", "shop", "--at", "09:00"],
         "a series needs --every (day, week or month) and --at"),
        (["series", "add", "--account", "shop", "--every", "month", "--day", "32", "--at", "09:00", "--prompt", "p"],
         "--day must be a day of the month from 1 to 31 (got 32)"),
        (["series", "add", "--account", "shop", "--every", "day", "--at", "09:00", "--from", "2030-01-01"],
         "a photo needs an image_url or a prompt to generate the image from"),
        (["series", "edit", "1"], "nothing to change: give at least one option"),
        (["series", "add", "--account", "shop", "--every", "day", "--at", "09:00", "--from", "2020-01-01", "--count",
          "2", "--prompt", "p"], "every occurrence of this series is in the past"),
    ],
)
def test_other_mistakes(args: list[str], message: str) -> None:
    result = invoke(args)
    assert result.exit_code == 3, result.output
    assert message in result.output


def test_an_unknown_account_or_series_is_not_found() -> None:
    result = invoke([*SERIES[:3], "nobody", *SERIES[4:]])
    assert result.exit_code == 4 and "no account named 'nobody'" in result.output
    for args in (["series", "show", "9"], ["series", "cancel", "9"], ["series", "edit", "9", "--caption", "x"]):
        result = invoke(args)
        assert result.exit_code == 4 and "no series with id 9 (see postpilot series list)" in result.output


def test_list_and_show() -> None:
    assert invoke(["series", "list"]).output == "no series\n"
    invoke(SERIES)
    listed = invoke(["series", "list"]).output
    assert listed.splitlines() == [
        "ID  ACCOUNT  TYPE   STATE   RULE",
        "1   shop     photo  active  every week on Monday and Thursday at 09:00 (Europe/Paris), from 2030-01-07 until "
        "2030-12-31",
    ]
    shown = invoke(["series", "show", "1"]).output
    assert "rule: every week on Monday and Thursday at 09:00 (Europe/Paris), from 2030-01-07" in shown
    assert "prompt: fresh bread on a wooden table" in shown and "#1    2030-01-07 09:00 CET" in shown


def _soon_daily(env: str) -> None:
    """A daily series whose first posts exist now; the first of them is already prepared."""
    start = (datetime.now(UTC) + timedelta(days=2)).date()
    assert invoke(["series", "add", "--account", "shop", "--every", "day", "--at", "09:00", "--from",
                   start.isoformat(), "--count", "4", "--prompt", "soup"]).exit_code == 0
    engine = build_engine(env)
    with engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'ready' WHERE id = 1"))
        conn.execute(text("INSERT INTO post_media (post_id, position, source, stored_url) "
                          "VALUES (1, 0, 'generated', 'https://cdn.example.com/1.jpg')"))
    engine.dispose()


def test_edit_says_what_changed_and_what_was_left(env: str) -> None:
    _soon_daily(env)
    result = invoke(["series", "edit", "1", "--caption", "Soup! #lunch"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "series 1 edited (caption)",
        "3 upcoming post(s) changed",
        "1 already prepared left as they are (post 1): change them with postpilot post edit ID, or stop them "
        "with postpilot post cancel ID",
    ]
    result = invoke(["series", "edit", "1", "--at", "12:15"])
    assert result.exit_code == 0, result.output
    assert "3 upcoming post(s) removed (no longer in the rule)" in result.output
    assert "3 post(s) created for the new rule" in result.output  # after the prepared one: 4 in all
    assert "rule: every day at 12:15 (Europe/Paris)" in result.output
    result = invoke(["series", "edit", "1", "--on", "mon"])
    assert result.exit_code == 3 and "--on is only for a weekly series; a daily one takes none" in result.output


def test_a_series_written_with_sql_that_cannot_be_used_says_why(env: str) -> None:
    engine = build_engine(env)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO post_series (account_id, prompt, freq, weekdays, local_time, starts_on) "
                          "VALUES (1, 'p', 'weekly', 'mon,funday', '09:00', '2030-01-07')"))
    engine.dispose()
    assert invoke(["run-once"]).exit_code == 0
    listed = invoke(["series", "list"]).output.splitlines()
    assert listed[1].startswith("1   shop     photo  held   (a rule that cannot be read: see below)")
    assert listed[2] == ("    not expanded: weekdays must be days such as mon,thu (mon, tue, wed, thu, fri, sat, "
                         "sun); 'funday' is not one")
    assert "not expanded: weekdays must be days such as mon,thu" in invoke(["series", "show", "1"]).output


def test_a_series_whose_last_occurrence_is_past_is_shown_as_ended(env: str) -> None:
    engine = build_engine(env)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO post_series (account_id, prompt, freq, local_time, starts_on, until_on) "
                          "VALUES (1, 'p', 'daily', '09:00', '2020-01-01', '2020-01-31')"))
    engine.dispose()
    assert invoke(["series", "list"]).output.splitlines()[1].startswith("1   shop     photo  ended  every day")
    assert "next: none (the series has ended)" in invoke(["series", "show", "1"]).output


def test_cancel_says_what_was_cancelled_and_what_was_left(env: str) -> None:
    _soon_daily(env)
    result = invoke(["series", "cancel", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == ["series 1 cancelled", "3 upcoming post(s) cancelled"]
    assert "1 already prepared left as they are (post 1)" in result.output
    assert "  cancelled  every day at 09:00" in invoke(["series", "list"]).output
    result = invoke(["series", "edit", "1", "--caption", "x"])
    assert result.exit_code == 3 and "series 1 is cancelled" in result.output
