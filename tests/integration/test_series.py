"""Recurring posts on SQLite and PostgreSQL: the ``post_series`` contract, expansion exactly once (also with
three replicas racing), and edits and cancels that touch only occurrences not yet prepared."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from postpilot.db import migrate
from postpilot.db.engine import build_engine
from postpilot.db.repository import Repository
from postpilot.db.rows import posts
from postpilot.db.series import SERIES_AHEAD_S
from postpilot.domain.changes import NewMedia
from postpilot.domain.model import LoginKind, MediaSource, PostStatus
from postpilot.pipeline.once import run_once
from tests.conftest import create_pg_database, drop_pg_database
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import add_account, make_app

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine=engine)


@pytest.fixture
def shop(repo: Repository) -> int:
    account_id = repo.create_account(
        name="shop", ig_user_id="17841400000000001", login_kind=LoginKind.FACEBOOK, dry_run=True, token_encrypted=None
    )
    with repo.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET time_zone = 'Europe/Paris' WHERE id = :id"), {"id": account_id})
    return account_id


def _sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def _weekly(repo: Repository, account_id: int, **extra: object) -> int:
    values: dict[str, object] = {
        "account_id": account_id,
        "caption": "Weekly special #bakery",
        "prompt": "fresh bread on a wooden table",
        "freq": "weekly",
        "weekdays": "mon,thu",
        "local_time": "09:00",
        "starts_on": date(2027, 1, 4),
        "until_on": date(2027, 12, 31),
        **extra,
    }
    return repo.add_series(values)


def _local(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%a %Y-%m-%d %H:%M")


# ------------------------------------------------------------------------------------------ the table contract
def test_a_plain_sql_series_fills_its_defaults_and_expands_at_local_times(repo: Repository, shop: int) -> None:
    _sql(repo.engine, "INSERT INTO post_series (account_id, prompt, freq, weekdays, local_time, starts_on) "
                      "VALUES (1, 'fresh bread', 'weekly', 'mon,thu', '09:00', '2027-01-04')")
    (series,) = repo.list_series()
    assert series.template["post_type"] == "photo" and series.template["caption"] == ""
    assert series.template["aspect"] == "square" and series.rule_values["every"] == 1
    assert series.rule_values["time_zone"] is None and series.is_active and series.last_error is None

    created = repo.expand_series(now=NOW)
    made = repo.series_posts(series.id)
    assert [p.id for _at, p in made] == created
    # Two weeks from 1 January: Monday 4, Thursday 7 and Monday 11, 09:00 in the account's zone (Paris).
    assert [_local(p.scheduled_at) for _at, p in made] == [
        "Mon 2027-01-04 09:00", "Thu 2027-01-07 09:00", "Mon 2027-01-11 09:00", "Thu 2027-01-14 09:00"]
    post = made[0][1]
    assert post.status is PostStatus.SCHEDULED and post.prompt == "fresh bread" and post.caption == ""
    events = repo.events(post.id)
    assert [(e.kind, e.actor, e.message) for e in events] == [("created", "series:1", "occurrence 1 of series 1")]


@pytest.mark.parametrize(
    ("columns", "values", "constraint"),
    [
        ("freq", "'hourly'", "freq"),
        ("freq, every", "'daily', 0", "every"),
        ("freq, month_day", "'monthly', 32", "month_day"),
        ("freq, max_count", "'daily', 0", "max_count"),
        ("freq, until_on", "'daily', '2026-12-31'", "until_after_start"),
        ("freq, post_type", "'daily', 'tiktok'", "post_type"),
        ("freq, aspect", "'daily', 'wide'", "aspect"),
    ],
)
def test_the_database_refuses_a_broken_series(repo: Repository, shop: int, columns: str, values: str,
                                              constraint: str) -> None:
    with pytest.raises(DBAPIError) as info, repo.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO post_series (account_id, local_time, starts_on, {columns}) "
                          f"VALUES (1, '09:00', '2027-01-04', {values})"))
    assert f"ck_post_series_{constraint}" in str(info.value.orig)


@pytest.mark.parametrize("local_time", ["9:00", "24:00", "09:60", "0900", "ab:cd"])
def test_the_database_refuses_a_time_that_is_not_hh_mm(repo: Repository, shop: int, local_time: str) -> None:
    with pytest.raises(DBAPIError) as info, repo.engine.begin() as conn:
        conn.execute(text("INSERT INTO post_series (account_id, freq, local_time, starts_on) "
                          "VALUES (1, 'daily', :t, '2027-01-04')"), {"t": local_time})
    assert "ck_post_series_local_time" in str(info.value.orig)


def test_a_date_neither_database_can_read_is_refused(repo: Repository, shop: int) -> None:
    with pytest.raises(DBAPIError) as info, repo.engine.begin() as conn:
        conn.execute(text("INSERT INTO post_series (account_id, freq, local_time, starts_on) "
                          "VALUES (1, 'daily', '09:00', '4 January')"))
    assert "starts_on" in str(info.value.orig) or "invalid input syntax for type date" in str(info.value.orig)


def test_a_series_the_database_cannot_check_says_why_it_is_not_expanded(repo: Repository, shop: int) -> None:
    _sql(repo.engine, "INSERT INTO post_series (account_id, freq, local_time, starts_on, time_zone) "
                      "VALUES (1, 'daily', '09:00', '2027-01-04', 'Europe/Pariss')")
    assert repo.expand_series(now=NOW) == []
    (series,) = repo.list_series()
    assert series.last_error == (
        "time_zone: unknown time zone 'Europe/Pariss': use an IANA name such as Europe/Paris or America/New_York; "
        "a photo needs an image_url or a prompt to generate the image from"
    )
    _sql(repo.engine, "UPDATE post_series SET time_zone = 'Europe/Paris', prompt = 'soup'")
    assert len(repo.expand_series(now=NOW)) == 12  # 4 to 15 January
    assert repo.require_series(series.id).last_error is None


# ------------------------------------------------------------------------------------------ expansion
def test_a_year_of_a_weekly_series_lands_on_nine_local_on_both_databases(repo: Repository, shop: int) -> None:
    series_id = _weekly(repo, shop)
    # A daemon running all year: a pass every third day, each creating what entered the two-week horizon.
    created = []
    for day in range(0, 370, 3):
        created += repo.expand_series(now=NOW + timedelta(days=day))
    made = repo.series_posts(series_id)
    assert len(made) == len(created) == 104
    assert all(p.scheduled_at.astimezone(PARIS).strftime("%a %H:%M") in ("Mon 09:00", "Thu 09:00") for _a, p in made)
    hours = {p.scheduled_at.date(): p.scheduled_at.hour for _a, p in made}
    assert hours[date(2027, 3, 25)] == 8 and hours[date(2027, 3, 29)] == 7  # CET → CEST on 28 March
    assert hours[date(2027, 10, 28)] == 7 and hours[date(2027, 11, 1)] == 8  # CEST → CET on 31 October
    # Read back from the table itself, as a marketer's SQL would see it.
    with repo.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM scheduled_posts WHERE series_id = :s"),
                              {"s": series_id}).scalar_one()
    assert stored == 104


def test_a_year_in_new_york_keeps_nine_local_across_both_changes_on_both_databases(
    repo: Repository, shop: int
) -> None:
    """America/New_York changes on other days than Paris (14 March and 7 November 2027)."""
    new_york = ZoneInfo("America/New_York")
    series_id = _weekly(repo, shop, time_zone="America/New_York", weekdays="fri", until_on=date(2027, 12, 31))
    for day in range(0, 370, 3):
        repo.expand_series(now=NOW + timedelta(days=day))
    made = [p for _a, p in repo.series_posts(series_id)]
    assert len(made) == 52
    assert {p.scheduled_at.astimezone(new_york).strftime("%a %H:%M") for p in made} == {"Fri 09:00"}
    hours = {p.scheduled_at.date(): p.scheduled_at.hour for p in made}
    assert hours[date(2027, 3, 12)] == 14 and hours[date(2027, 3, 19)] == 13  # EST → EDT on 14 March
    assert hours[date(2027, 11, 5)] == 13 and hours[date(2027, 11, 12)] == 14  # EDT → EST on 7 November


def test_expansion_creates_only_ahead_and_never_twice(repo: Repository, shop: int) -> None:
    series_id = _weekly(repo, shop, starts_on=date(2026, 12, 1))  # started a month ago
    first = repo.expand_series(now=NOW)
    assert repo.expand_series(now=NOW) == []  # nothing new to make
    made = [p.scheduled_at for _a, p in repo.series_posts(series_id)]
    assert len(first) == 4 and min(made) > NOW  # the past is not filled in
    assert max(made) <= NOW + timedelta(seconds=SERIES_AHEAD_S)
    # A day later nothing is due yet (it refills once less than 13 days remain); two days later one more.
    assert repo.expand_series(now=NOW + timedelta(days=1)) == []
    assert len(repo.expand_series(now=NOW + timedelta(days=4))) == 1


def test_an_account_that_prepares_weeks_ahead_gets_its_occurrences_before_that(repo: Repository, shop: int) -> None:
    _sql(repo.engine, "UPDATE accounts SET prepare_ahead_s = :s", s=20 * 86_400)
    series_id = repo.add_series({"account_id": shop, "prompt": "soup", "freq": "daily", "local_time": "09:00",
                                 "starts_on": date(2027, 1, 2)})
    repo.expand_series(now=NOW)
    last = max(p.scheduled_at for _a, p in repo.series_posts(series_id))
    assert last.date() == date(2027, 2, 10)  # 40 days: twice its prepare window, past the usual two weeks
    assert repo.expand_series(now=NOW + timedelta(days=1)) == []  # and not every pass


def test_each_occurrence_exists_once_even_if_the_insert_runs_twice(repo: Repository, shop: int) -> None:
    series_id = _weekly(repo, shop)
    found = repo.require_series(series_id)
    at = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    with repo.engine.begin() as conn:
        assert repo._insert_occurrence(conn, found, at, 1) is not None
    with repo.engine.begin() as conn:
        assert repo._insert_occurrence(conn, found, at, 1) is None  # the unique index: ON CONFLICT DO NOTHING
    # A plain insert of the same occurrence is refused outright.
    with pytest.raises(IntegrityError), repo.engine.begin() as conn:
        conn.execute(insert(posts).values(account_id=shop, scheduled_at=at, series_id=series_id, occurrence_at=at))


@pytest.fixture
def replicas(db_url: str) -> Iterator[list[Repository]]:
    engines = [build_engine(db_url) for _ in range(3)]
    yield [Repository(engine=e) for e in engines]
    for e in engines:
        e.dispose()


def test_three_replicas_racing_create_each_occurrence_once(
    repo: Repository, shop: int, replicas: list[Repository]
) -> None:
    ids = [
        repo.add_series({"account_id": shop, "prompt": f"series {n}", "freq": "daily",
                         "local_time": f"{8 + n % 10:02d}:30", "starts_on": date(2027, 1, 1)})
        for n in range(12)
    ]
    barrier = threading.Barrier(3)
    created: list[list[int]] = [[] for _ in replicas]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            for step in range(3):
                barrier.wait()
                # Clocks a few seconds apart, as replicas' are: the horizon differs, the occurrences do not.
                created[n] += replicas[n].expand_series(now=NOW + timedelta(days=step * 5, seconds=n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with repo.engine.connect() as conn:
        rows = conn.execute(text("SELECT series_id, occurrence_at FROM scheduled_posts")).all()
        events = conn.execute(text("SELECT count(*) FROM post_events WHERE kind = 'created'")).scalar_one()
    per_occurrence = Counter((r[0], r[1]) for r in rows)
    assert per_occurrence and set(per_occurrence.values()) == {1}
    all_created = [i for c in created for i in c]
    assert len(all_created) == len(set(all_created)) == len(rows) == events
    # Every series has every day from 1 January to the end of the last horizon, once.
    assert {r[0] for r in rows} == set(ids)
    assert all(n >= 24 for n in Counter(r[0] for r in rows).values())


# ------------------------------------------------------------------------------------------ edit and cancel
def _prepare(repo: Repository, post_id: int) -> None:
    """As preparation leaves it: media made, the post ready."""
    repo.record_media(post_id, NewMedia(position=0, source=MediaSource.GENERATED,
                                        stored_url="https://cdn.example.com/a.jpg", width=1080, height=1080,
                                        bytes=1000, checksum="x"))
    _sql(repo.engine, "UPDATE scheduled_posts SET status = 'ready' WHERE id = :id", id=post_id)


def test_editing_the_content_changes_only_occurrences_not_yet_prepared(repo: Repository, shop: int) -> None:
    series_id = _weekly(repo, shop)
    ids = repo.expand_series(now=NOW)
    _prepare(repo, ids[0])
    result = repo.edit_series(series_id, {"caption": "New caption #bread", "alt_text": "Bread"}, now=NOW)
    assert result.changed == ids[1:] and result.left == [ids[0]] and result.removed == []
    assert repo.require_post(ids[0]).caption == "Weekly special #bakery"
    assert {repo.require_post(i).caption for i in ids[1:]} == {"New caption #bread"}
    assert repo.events(ids[1])[-1].message == "series 1 edited by cli: alt_text, caption"
    # Occurrences made later copy the new template.
    later = repo.expand_series(now=NOW + timedelta(days=7))
    assert later and repo.require_post(later[0]).caption == "New caption #bread"


def test_a_new_rule_moves_the_occurrences_not_yet_prepared(repo: Repository, shop: int) -> None:
    series_id = _weekly(repo, shop)
    ids = repo.expand_series(now=NOW)  # Mon 4, Thu 7, Mon 11, Thu 14
    _prepare(repo, ids[1])  # Thursday 7 is prepared
    result = repo.edit_series(series_id, {"weekdays": "mon,fri", "local_time": "10:30"}, now=NOW)
    assert result.left == [ids[1]]
    assert sorted(result.removed) == [ids[0], ids[2], ids[3]]
    # The prepared Thursday stays as it was, and the new rule takes over after it: no Monday 4 January at
    # 10:30 is made before a post that was kept.
    times = [_local(p.scheduled_at) for _a, p in repo.series_posts(series_id)]
    assert times == ["Thu 2027-01-07 09:00", "Fri 2027-01-08 10:30", "Mon 2027-01-11 10:30", "Fri 2027-01-15 10:30"]
    assert len(result.created) == 3


def test_a_new_time_never_puts_two_posts_on_the_day_of_a_prepared_one(repo: Repository, shop: int) -> None:
    series_id = repo.add_series({"account_id": shop, "prompt": "soup", "freq": "daily", "local_time": "09:00",
                                 "starts_on": date(2027, 1, 2), "max_count": 4})
    ids = repo.expand_series(now=NOW)
    _prepare(repo, ids[0])
    result = repo.edit_series(series_id, {"local_time": "12:15"}, now=NOW)
    assert result.removed == ids[1:] and len(result.created) == 3
    assert [_local(p.scheduled_at) for _a, p in repo.series_posts(series_id)] == [
        "Sat 2027-01-02 09:00", "Sun 2027-01-03 12:15", "Mon 2027-01-04 12:15", "Tue 2027-01-05 12:15"]
    # "4 times in all" counts the post kept from the old rule: no fifth one, however far ahead.
    assert repo.expand_series(now=NOW + timedelta(days=30)) == []


def test_cancelling_a_series_cancels_what_is_not_prepared_and_stops_it(repo: Repository, shop: int) -> None:
    series_id = _weekly(repo, shop)
    ids = repo.expand_series(now=NOW)
    _prepare(repo, ids[0])
    result = repo.cancel_series(series_id, actor="cli:maria")
    assert result.changed == ids[1:] and result.left == [ids[0]]
    assert repo.require_post(ids[0]).status is PostStatus.READY
    cancelled = repo.require_post(ids[1])
    assert cancelled.status is PostStatus.CANCELLED and cancelled.last_error == "series 1 cancelled by cli:maria"
    assert repo.events(ids[1])[-1].kind == "cancelled"
    assert repo.expand_series(now=NOW + timedelta(days=30)) == []
    found = repo.require_series(series_id)
    assert found.cancelled_at is not None and not found.is_active


def test_deleting_a_series_keeps_its_posts(repo: Repository, shop: int) -> None:
    series_id = _weekly(repo, shop)
    ids = repo.expand_series(now=NOW)
    _sql(repo.engine, "DELETE FROM post_series WHERE id = :id", id=series_id)
    with repo.engine.connect() as conn:
        left = conn.execute(text("SELECT id, series_id FROM scheduled_posts ORDER BY id")).all()
    assert [(r[0], r[1]) for r in left] == [(i, None) for i in ids]


# ------------------------------------------------------------------------------------------ run-once
def test_run_once_creates_an_occurrence_due_soon_and_prepares_it(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState]
) -> None:
    app = make_app(db_url, tmp_path, server.url, image_provider="card", media_store="local")
    try:
        account_id = add_account(app, dry_run=True)
        soon = datetime.now(UTC) + timedelta(minutes=30)
        app.repo.add_series({"account_id": account_id, "prompt": "a lighthouse at dawn", "freq": "daily",
                             "local_time": soon.strftime("%H:%M"), "time_zone": "UTC", "starts_on": soon.date(),
                             "max_count": 1})
        run_once(app)
        ((_at, post),) = app.repo.series_posts(1)
        assert post.status is PostStatus.READY and app.repo.media(post.id)
    finally:
        app.close()


# ------------------------------------------------------------------------------------------ migration 0010
@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = build_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield eng
        eng.dispose()
        return
    url = create_pg_database("postpilot_series_mig")
    eng = build_engine(url)
    try:
        yield eng
    finally:
        eng.dispose()
        drop_pg_database(url)


def test_down_to_0009_and_up_again_keeps_the_posts_and_their_rules(blank_engine: Engine) -> None:
    """On SQLite the series_id foreign key is written into the stored table definition and taken out again:
    the table is never rebuilt, so its triggers (and its media and history) stay."""
    migrate.upgrade(blank_engine)
    repo = Repository(engine=blank_engine)
    account = repo.create_account(name="shop", ig_user_id="1", login_kind=LoginKind.FACEBOOK, dry_run=True,
                                  token_encrypted=None)
    series_id = _weekly(repo, account)
    ids = repo.expand_series(now=NOW)
    migrate.downgrade(blank_engine, "0009")
    with blank_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scheduled_posts")).scalar_one() == len(ids)
    with pytest.raises(DBAPIError) as info, blank_engine.begin() as conn:  # the 0001 time trigger is still there
        conn.execute(text("INSERT INTO scheduled_posts (account_id, scheduled_at) VALUES (1, 'next tuesday')"))
    assert "scheduled_at" in str(info.value.orig) or "timestamp" in str(info.value.orig)
    migrate.upgrade(blank_engine)
    assert [p.id for p in repo.list_posts()] == ids
    series_id = _weekly(repo, account)
    assert len(repo.expand_series(now=NOW)) == len(ids)
    _sql(blank_engine, "DELETE FROM post_series WHERE id = :id", id=series_id)  # the foreign key works again
    with blank_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scheduled_posts WHERE series_id IS NULL")).scalar_one() == (
            2 * len(ids))


def test_a_daily_series_is_not_held_by_the_duplicate_guard(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState]
) -> None:
    """Its occurrences repeat on purpose (same caption, same prompt, a day apart): they never hold each other
    (a separate post with the same content still would, as any two posts do)."""
    app = make_app(db_url, tmp_path, server.url, image_provider="card", media_store="local")
    try:
        account_id = add_account(app, dry_run=True)
        _sql(app.engine, "UPDATE accounts SET prepare_ahead_s = :s", s=2 * 86_400)
        soon = datetime.now(UTC) + timedelta(minutes=30)
        app.repo.add_series({"account_id": account_id, "caption": "Soup of the day", "prompt": "a bowl of soup",
                             "freq": "daily", "local_time": soon.strftime("%H:%M"), "time_zone": "UTC",
                             "starts_on": soon.date(), "max_count": 2})
        run_once(app)
        statuses = [p.status for _at, p in app.repo.series_posts(1)]
        assert statuses == [PostStatus.READY, PostStatus.READY]
    finally:
        app.close()
