"""Issue 12 item 4, on SQLite and PostgreSQL: a row the database holds but Python cannot read (written before
the guards of migration 0005, or with them dropped by hand) is set aside with the column that is wrong, and the
rows beside it are claimed as usual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from postpilot.db.engine import build_engine
from postpilot.db.repository import Repository
from postpilot.db.rows import posts
from postpilot.domain.errors import UnreadableRow
from postpilot.domain.model import LoginKind, PostStatus
from postpilot.pipeline.once import run_once
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import add_account, make_app


def _bad_row(engine: Engine, account: int) -> int:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE scheduled_posts DROP CONSTRAINT ck_scheduled_posts_scheduled_at_range"))
            value = "-infinity"
        else:
            conn.execute(text("DROP TRIGGER scheduled_posts_check_time_ins"))
            conn.execute(text("DROP TRIGGER scheduled_posts_utc_ins"))
            value = "2026-00-00 broken"
        row = conn.execute(text(
            "INSERT INTO scheduled_posts (account_id, caption, prompt, scheduled_at) "
            f"VALUES (:a, 'bad', 'a prompt', '{value}') RETURNING id"), {"a": account}).one()
    return int(row[0])


def _restore(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # the SQLite file is this test's own copy
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM scheduled_posts WHERE NOT (scheduled_at >= '1970-01-01' "
                          "AND scheduled_at < '10000-01-01')"))
        conn.execute(text(
            "ALTER TABLE scheduled_posts ADD CONSTRAINT ck_scheduled_posts_scheduled_at_range "
            "CHECK (scheduled_at >= '1970-01-01 00:00:00+00' AND scheduled_at < '10000-01-01 00:00:00+00')"))


def test_an_unreadable_row_is_set_aside_and_its_neighbours_are_claimed(engine: Engine) -> None:
    repo = Repository(engine=engine)
    account = repo.create_account(name="brand", ig_user_id="17841400000000001", login_kind=LoginKind.FACEBOOK,
                                  dry_run=True, token_encrypted=None)
    try:
        bad = _bad_row(engine, account)
        with engine.begin() as conn:
            good = conn.execute(insert(posts).returning(posts.c.id), {
                "account_id": account, "caption": "good", "prompt": "a prompt",
                "scheduled_at": datetime.now(UTC) + timedelta(minutes=5)}).scalar_one()

        claimed = repo.claim_for_prepare(owner="me", ahead_s=3600, lease_s=300, batch=10)

        assert [p.id for p in claimed] == [good]
        with engine.connect() as conn:
            status, last_error, lease = conn.execute(
                text("SELECT status, last_error, lease_owner FROM scheduled_posts WHERE id = :i"), {"i": bad}).one()
        assert status == PostStatus.FAILED.value and lease is None
        assert last_error.startswith("the column scheduled_at holds a value postpilot cannot read"), last_error
        assert last_error.endswith(f"correct the row, then run postpilot post retry {bad}")
        # The next poll is not troubled by it again.
        assert repo.claim_for_prepare(owner="me", ahead_s=3600, lease_s=300, batch=10) == []
    finally:
        _restore(engine)


def test_a_whole_pass_goes_on_beside_an_unreadable_row_and_publishes_the_healthy_post(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState]
) -> None:
    """The row is a year out of range and overdue: failing it as missed, telling the channels, listing and
    exporting all read it, and none of them may stop the pass or the commands."""
    app = make_app(db_url, tmp_path, server.url, image_provider="card", media_store="local")
    try:
        account = add_account(app, dry_run=True)
        bad = _bad_row(app.engine, account)
        good = app.repo.add_post({"account_id": account, "caption": "good", "prompt": "a lighthouse",
                                  "scheduled_at": datetime.now(UTC) - timedelta(seconds=5)}, actor="test")
        tally = run_once(app)
        assert app.repo.require_post(good).status is PostStatus.SIMULATED, tally
        with app.engine.connect() as conn:
            status, last_error = conn.execute(
                text("SELECT status, last_error FROM scheduled_posts WHERE id = :i"), {"i": bad}).one()
        assert status == PostStatus.FAILED.value
        assert last_error.startswith("the column scheduled_at holds a value postpilot cannot read"), last_error
        skipped: list[str] = []
        assert [p.id for p in app.repo.list_posts(skipped=skipped)] == [good]
        assert skipped == [f"post {bad} cannot be read: {last_error.split('; the post is held')[0]}; correct the "
                           f"row with SQL, then run postpilot post retry {bad}"]
        with pytest.raises(UnreadableRow, match=f"post {bad} cannot be read: the column scheduled_at"):
            app.repo.require_post(bad)
        assert run_once(app).failed == 0  # the next pass is not troubled by it
    finally:
        app.close()
        restoring = build_engine(db_url)
        try:
            _restore(restoring)
        finally:
            restoring.dispose()


def test_a_caption_with_a_nul_byte_never_reaches_the_graph_api(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState], state: GraphState
) -> None:
    """PostgreSQL's text cannot hold it and refuses the INSERT; SQLite stores it, and the post fails alone
    with the reason before any Graph API call, beside a healthy post that is published."""
    app = make_app(db_url, tmp_path, server.url, image_provider="card", media_store="local",
                   public_media_url="https://media.example.test/postpilot")
    try:
        account = add_account(app, dry_run=False)
        due = datetime.now(UTC) - timedelta(seconds=5)
        insert_nul = text("INSERT INTO scheduled_posts (account_id, caption, prompt, scheduled_at) "
                          "VALUES (:a, :c, 'a lighthouse', :t)")
        if app.engine.dialect.name == "postgresql":
            with pytest.raises(Exception) as info, app.engine.begin() as conn:
                conn.execute(insert_nul, {"a": account, "c": "Hello\x00world", "t": due})
            assert "0x00" in str(info.value) or "NUL" in str(info.value)
            return
        with app.engine.begin() as conn:
            conn.execute(insert_nul, {"a": account, "c": "Hello\x00world", "t": due})
        good = app.repo.add_post({"account_id": account, "caption": "Hello", "prompt": "a lighthouse",
                                  "scheduled_at": due}, actor="test")
        run_once(app)
        (bad,) = [p for p in app.repo.list_posts() if p.id != good]
        assert bad.status is PostStatus.FAILED
        assert bad.last_error and "caption contains a NUL character" in bad.last_error
        assert app.repo.require_post(good).status is PostStatus.PUBLISHED
        assert all("\x00" not in (c.caption or "") for c in state.containers.values())
    finally:
        app.close()
