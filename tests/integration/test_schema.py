"""The post table is a public contract: plain SQL inserts on both databases, CHECK constraints, drift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from postpilot.db import migrate
from postpilot.db.engine import build_engine
from postpilot.db.models import PARTIAL_INDEXES, Base
from postpilot.db.repository import Repository
from postpilot.domain.model import LoginKind, PostStatus
from tests.conftest import create_pg_database, drop_pg_database


def _account(engine: Engine) -> int:
    return Repository(engine=engine).create_account(
        name="shop", ig_user_id="1784", login_kind=LoginKind.FACEBOOK, dry_run=True, token_encrypted=None
    )


def test_the_readme_insert_reads_back_as_utc(engine: Engine) -> None:
    _account(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scheduled_posts (account_id, post_type, caption, prompt, scheduled_at) "
                "VALUES (1, 'photo', 'Hello', 'a lighthouse at dawn', '2026-12-01T09:00:00+01:00')"
            )
        )
    post = Repository(engine=engine).require_post(1)
    assert post.scheduled_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert post.status is PostStatus.SCHEDULED
    assert post.aspect == "square" and post.is_active and post.attempts == 0
    assert post.caption == "Hello" and post.image_url is None and post.created_at is not None


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2026-12-01T08:00:00Z", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01 03:00:00-05:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01T08:00:00.250+00:00", datetime(2026, 12, 1, 8, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_offsets_are_honoured(engine: Engine, literal: str, expected: datetime) -> None:
    _account(engine)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO scheduled_posts (account_id, scheduled_at) VALUES (1, '{literal}')"))
    assert Repository(engine=engine).require_post(1).scheduled_at == expected


def test_due_ordering_is_chronological_with_mixed_offsets(engine: Engine) -> None:
    _account(engine)
    with engine.begin() as conn:
        for literal in ("2026-12-01T09:30:00+01:00", "2026-12-01T08:10:00Z", "2026-12-01T02:00:00-06:00"):
            conn.execute(
                text(f"INSERT INTO scheduled_posts (account_id, scheduled_at) VALUES (1, '{literal}')")
            )
    order = [p.id for p in Repository(engine=engine).list_posts()]
    assert order == [3, 2, 1]  # 08:00Z, 08:10Z, 08:30Z


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("post_type", "'tiktok'", "post_type"),
        ("aspect", "'wide'", "aspect"),
        ("status", "'done'", "status"),
        ("image_count", "1", "image_count"),
        ("image_count", "11", "image_count"),
        ("caption", "'" + "x" * 2201 + "'", "caption_length"),
    ],
)
def test_check_constraints_refuse_bad_values(
    engine: Engine, column: str, value: str, constraint: str
) -> None:
    _account(engine)
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO scheduled_posts (account_id, scheduled_at, {column}) "
                f"VALUES (1, '2026-12-01T08:00:00Z', {value})"
            )
        )
    assert constraint in str(info.value.orig)


def test_unreadable_time_is_refused_with_a_message(engine: Engine) -> None:
    _account(engine)
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(
            text("INSERT INTO scheduled_posts (account_id, scheduled_at) VALUES (1, 'next tuesday')")
        )
    message = str(info.value.orig)
    if engine.dialect.name == "sqlite":
        assert "scheduled_at must be an ISO 8601 timestamp" in message
    else:
        assert "invalid input syntax for type timestamp" in message


def test_malformed_media_urls_json_is_refused(engine: Engine) -> None:
    _account(engine)
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scheduled_posts (account_id, post_type, scheduled_at, media_urls) "
                "VALUES (1, 'carousel', '2026-12-01T08:00:00Z', '[\"https://a\", ')"
            )
        )
    assert "json" in str(info.value.orig).lower()


def test_media_urls_json_array_round_trips(engine: Engine) -> None:
    _account(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scheduled_posts (account_id, post_type, scheduled_at, media_urls) VALUES "
                "(1, 'carousel', '2026-12-01T08:00:00Z', '[\"https://a.example/1.jpg\", \"https://a.example/2.jpg\"]')"
            )
        )
    assert Repository(engine=engine).require_post(1).media_urls == [
        "https://a.example/1.jpg",
        "https://a.example/2.jpg",
    ]


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_is_at_head_and_downgrade_works(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", sorted(PARTIAL_INDEXES))
def test_every_partial_index_is_partial_with_its_predicate(engine: Engine, name: str) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar_one()
        else:
            sql = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}).scalar_one()

    def words(value: str) -> str:  # PostgreSQL writes the predicate back in its own way: compare the words
        return " ".join(re.findall(r"[a-z_]+|'[a-z]+'", value.lower().replace("::text", "")))

    where = sql[sql.upper().index(" WHERE ") + 7 :]
    expected = words(PARTIAL_INDEXES[name])
    if engine.dialect.name == "postgresql" and " in " in expected:
        assert all(w in words(where) for w in expected.split() if w not in ("in",)), (where, expected)
    else:
        assert words(where) == expected, (where, expected)


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    # The daemon compares the database against HEAD_REVISION without loading Alembic; keep them in step.
    assert migrate.script_head() == migrate.HEAD_REVISION


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (migrations are run up and down, so the shared ones will not do)."""
    if request.param == "sqlite":
        eng = build_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield eng
        eng.dispose()
        return
    url = create_pg_database("postpilot_mig")
    eng = build_engine(url)
    try:
        yield eng
    finally:
        eng.dispose()
        drop_pg_database(url)


def test_upgrading_a_populated_0001_database_keeps_its_posts_and_rules(blank_engine: Engine) -> None:
    migrate.upgrade(blank_engine, "0001")
    account = _account(blank_engine)
    with blank_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scheduled_posts (account_id, caption, image_url, scheduled_at) "
                "VALUES (:a, 'kept', 'https://cdn.example.com/a.jpg', '2026-12-01T09:00:00+01:00')"
            ),
            {"a": account},
        )

    migrate.upgrade(blank_engine)
    assert migrate.current_revision(blank_engine) == migrate.HEAD_REVISION
    repo = Repository(engine=blank_engine)
    (kept,) = repo.list_posts()
    assert kept.caption == "kept" and kept.container_ready_at is None
    assert kept.scheduled_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    # Down to 0001 and up again: the column goes and comes back, the timestamp rules survive (a SQLite
    # batch rebuild would have dropped the triggers that refuse unreadable times).
    migrate.downgrade(blank_engine, "0001")
    assert migrate.current_revision(blank_engine) == "0001"
    with pytest.raises(DBAPIError), blank_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO scheduled_posts (account_id, caption, scheduled_at) VALUES (:a, 'x', 'next tuesday')"),
            {"a": account},
        )
    migrate.upgrade(blank_engine)
    assert [p.caption for p in repo.list_posts()] == ["kept"]


@pytest.mark.parametrize("literal", ["infinity", "-infinity", "0044-03-15 12:00:00 BC", "10000-01-01 00:00:00+00",
                                     "0000-01-01 00:00:00", "1969-12-31 23:59:59+00"])
def test_times_python_cannot_read_are_refused(engine: Engine, literal: str) -> None:
    """Issue 12 item 4: such a row used to make every ``post list`` and poll fail. Each database refuses what it
    can parse (PostgreSQL: infinities, BC, year 10000; SQLite: year 0); the rest is not a time at all."""
    _account(engine)
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(text(f"INSERT INTO scheduled_posts (account_id, scheduled_at) VALUES (1, '{literal}')"))
    message = str(info.value.orig)
    assert ("scheduled_at_range" in message or "scheduled_at must be a real time" in message
            or "scheduled_at must be an ISO 8601 timestamp" in message or "out of range" in message), message


@pytest.mark.parametrize(("word", "expected"), [("'true'", True), ("'FALSE'", False), ("' yes '", True),
                                                ("'off'", False), ("'1'", True), ("'0'", False), ("true", True),
                                                ("false", False)])
def test_is_active_means_the_same_on_both_databases(engine: Engine, word: str, expected: bool) -> None:
    _account(engine)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO scheduled_posts (account_id, scheduled_at, is_active) "
                          f"VALUES (1, '2026-12-01T08:00:00Z', {word})"))
        stored = conn.execute(text("SELECT is_active FROM scheduled_posts WHERE is_active")).all()
    assert bool(stored) is expected
    assert Repository(engine=engine).require_post(1).is_active is expected


@pytest.mark.parametrize("word", ["'maybe'", "'2'", "2"])
def test_is_active_that_is_neither_true_nor_false_is_refused_on_both(engine: Engine, word: str) -> None:
    _account(engine)
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(text(f"INSERT INTO scheduled_posts (account_id, scheduled_at, is_active) "
                          f"VALUES (1, '2026-12-01T08:00:00Z', {word})"))
    message = str(info.value.orig)
    assert "is_active must be true or false" in message or "type boolean" in message, message


def test_upgrade_holds_rows_with_unreadable_times_and_words(blank_engine: Engine) -> None:
    """Rows written before 0005 that it now refuses are held with their old value in last_error, not lost, and
    the upgrade never fails on them."""
    migrate.upgrade(blank_engine, "0004")
    account = _account(blank_engine)
    bad_time = "infinity" if blank_engine.dialect.name == "postgresql" else "0000-06-01 00:00:00"
    with blank_engine.begin() as conn:
        conn.execute(text("INSERT INTO scheduled_posts (account_id, caption, scheduled_at, status) VALUES "
                          f"(:a, 'never', '{bad_time}', 'publishing'), (:a, 'fine', '2026-12-01T08:00:00Z', "
                          "'scheduled')"), {"a": account})
        if blank_engine.dialect.name == "sqlite":
            conn.execute(text("INSERT INTO scheduled_posts (account_id, caption, scheduled_at, is_active) VALUES "
                              "(:a, 'quoted', '2026-12-01T08:00:00Z', 'true'), "
                              "(:a, 'odd', '2026-12-01T08:00:00Z', 'maybe')"), {"a": account})
    migrate.upgrade(blank_engine)
    posts_by_caption = {p.caption: p for p in Repository(engine=blank_engine).list_posts()}
    never = posts_by_caption["never"]
    assert never.status is PostStatus.UNCONFIRMED  # it may be live: a person decides
    assert "which is not a real time" in (never.last_error or "") and "post retry 1" in (never.last_error or "")
    assert posts_by_caption["fine"].status is PostStatus.SCHEDULED and posts_by_caption["fine"].last_error is None
    if blank_engine.dialect.name == "sqlite":
        assert posts_by_caption["quoted"].is_active is True
        odd = posts_by_caption["odd"]
        assert odd.is_active is False and "is_active was 'maybe'" in (odd.last_error or "")


def test_a_post_for_an_account_that_does_not_exist_is_refused_in_the_same_words(engine: Engine) -> None:
    """Issue 13: SQLite enforces foreign keys only when the connection asks (the ``sqlite3`` shell does not);
    a trigger refuses ``account_id = 99`` there too, with the message PostgreSQL gives."""
    _account(engine)
    raw = engine.raw_connection()  # no PRAGMA foreign_keys from us: as a marketer's shell would connect
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA foreign_keys=OFF")
        with pytest.raises(Exception) as info:
            cursor.execute("INSERT INTO scheduled_posts (account_id, scheduled_at) VALUES (99, '2026-12-01T08:00:00Z')")
        raw.rollback()
    finally:
        raw.close()
    assert "account_id does not name an account: see postpilot account list for the ids" in str(info.value)


def test_a_story_row_is_accepted_and_the_check_still_refuses_other_types(engine: Engine) -> None:
    """0009 widened the post_type check (on SQLite by editing the stored definition in place)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (name, ig_user_id, login_kind) VALUES ('s', '1', 'facebook')"))
        conn.execute(text("INSERT INTO scheduled_posts (account_id, post_type, image_url, scheduled_at) "
                          "VALUES (1, 'story', 'https://example.com/s.jpg', '2030-01-01T09:00:00Z')"))
        assert conn.execute(text("SELECT post_type, first_comment_attempts, allow_duplicate FROM scheduled_posts"))\
            .one() == ("story", 0, False)
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("INSERT INTO scheduled_posts (account_id, post_type, scheduled_at) "
                          "VALUES (1, 'tiktok', '2030-01-01T09:00:00Z')"))


@pytest.mark.parametrize("column", ["media_urls", "user_tags", "collaborators", "trial_params"])
@pytest.mark.parametrize("table", ["scheduled_posts", "post_series"])
def test_json_nested_too_deep_is_refused_in_the_same_words_on_both_databases(
    engine: Engine, table: str, column: str
) -> None:
    _account(engine)
    deep = '{"a": ' * 40 + "1" + "}" * 40
    required = (
        "(account_id, scheduled_at) VALUES (1, '2030-01-01 09:00:00+00:00'"
        if table == "scheduled_posts"
        else "(account_id, freq, local_time, starts_on) VALUES (1, 'daily', '09:00', '2030-01-01'"
    )
    names, values = required.split(" VALUES ")
    statement = f"INSERT INTO {table} {names[:-1]}, {column}) VALUES {values}, :v)"
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(text(statement), {"v": deep})
    assert f"{column} is nested deeper than 32 levels" in str(info.value.orig)
    with engine.begin() as conn:  # what postpilot reads is a few levels deep, and goes in
        conn.execute(text(statement), {"v": '[{"username": "a", "x": 0.5, "y": 0.5}]'})
