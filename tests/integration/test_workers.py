"""Who is alive (issue 12 item 11), on SQLite and PostgreSQL: a lease whose holder stopped beating is free within
seconds; a live holder, or one without a heartbeat, keeps its lease until it runs out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, update

from postpilot.db.repository import Repository
from postpilot.db.rows import posts, workers
from postpilot.db.types import db_now_plus
from postpilot.db.workers import DEAD_AFTER_S
from postpilot.domain.model import LoginKind
from postpilot.liveness import Heartbeat


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine=engine)


def _publishing_post(engine: Engine, repo: Repository, *, owner: str) -> int:
    account = repo.create_account(name="brand", ig_user_id="17841400000000001", login_kind=LoginKind.FACEBOOK,
                                  dry_run=True, token_encrypted=None)
    with engine.begin() as conn:
        row = conn.execute(insert(posts).returning(posts.c.id), {
            "account_id": account, "caption": "live?", "scheduled_at": datetime.now(UTC) - timedelta(minutes=1),
            "status": "publishing", "lease_owner": owner, "lease_until": datetime.now(UTC) + timedelta(minutes=5),
            "publish_attempted_at": datetime.now(UTC) - timedelta(seconds=5), "container_id": "c1",
        }).one()
    return int(row[0])


def _age(engine: Engine, owner: str, seconds: float) -> None:
    with engine.begin() as conn:
        conn.execute(update(workers).where(workers.c.owner == owner).values(heartbeat_at=db_now_plus(-seconds)))


def test_a_post_held_by_a_worker_that_stopped_beating_is_taken_over(engine: Engine, repo: Repository) -> None:
    post_id = _publishing_post(engine, repo, owner="host:1:dead")
    repo.register_worker("host:1:dead", kind="daemon", host="host", pid=1)
    assert repo.claim_stale_publishing(owner="other", lease_s=300, batch=10) == []  # alive: its lease holds
    _age(engine, "host:1:dead", DEAD_AFTER_S + 1)
    taken = repo.claim_stale_publishing(owner="other", lease_s=300, batch=10)
    assert [p.id for p in taken] == [post_id]
    assert repo.require_post(post_id).lease_owner == "other"


def test_a_holder_without_a_heartbeat_keeps_its_lease_until_it_runs_out(engine: Engine, repo: Repository) -> None:
    # A CLI command, or a version before heartbeats: only the lease speaks for it.
    _publishing_post(engine, repo, owner="old-version")
    assert repo.claim_stale_publishing(owner="other", lease_s=300, batch=10) == []


def test_the_dead_holder_loses_its_writes(engine: Engine, repo: Repository) -> None:
    post_id = _publishing_post(engine, repo, owner="paused")
    repo.register_worker("paused", kind="daemon", host="h", pid=2)
    _age(engine, "paused", DEAD_AFTER_S + 1)
    repo.claim_stale_publishing(owner="other", lease_s=300, batch=10)
    assert repo.beat("paused") is False  # it learns that it was counted dead
    assert repo.release_lease(post_id, owner="paused") is False  # and its writes are refused
    assert repo.require_post(post_id).lease_owner == "other"


def test_a_clean_exit_frees_what_is_left_at_once(engine: Engine, repo: Repository) -> None:
    post_id = _publishing_post(engine, repo, owner="leaving")
    beat = Heartbeat(repo, owner="leaving", kind="daemon", every_s=0.05)
    beat.start()
    assert repo.claim_stale_publishing(owner="other", lease_s=300, batch=10) == []
    beat.stop()
    assert [p.id for p in repo.claim_stale_publishing(owner="other", lease_s=300, batch=10)] == [post_id]


def test_the_heartbeat_thread_keeps_the_row_fresh(engine: Engine, repo: Repository) -> None:
    beat = Heartbeat(repo, owner="beating", kind="once", every_s=0.05)
    beat.start()
    try:
        _age(engine, "beating", DEAD_AFTER_S + 1)
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while beat.late_beats == 0 and datetime.now(UTC) < deadline:
            pass
        assert beat.late_beats == 1
        assert ("beating", "once") in repo.live_workers()
    finally:
        beat.stop()
    assert ("beating", "once") not in repo.live_workers()


def test_sqlite_lock_holder_declares_other_daemons_dead_but_not_passes(engine: Engine, repo: Repository) -> None:
    repo.register_worker("old-daemon", kind="daemon", host="h", pid=3)
    repo.register_worker("a-pass", kind="once", host="h", pid=4)
    repo.register_worker("me", kind="daemon", host="h", pid=5)
    assert repo.declare_other_daemons_dead("me") == 1
    assert repo.live_workers() == [("a-pass", "once"), ("me", "daemon")]


def test_dead_rows_are_forgotten_after_an_hour(engine: Engine, repo: Repository) -> None:
    repo.register_worker("long-gone", kind="daemon", host="h", pid=6)
    repo.register_worker("recent", kind="daemon", host="h", pid=7)
    _age(engine, "long-gone", 3601)
    _age(engine, "recent", DEAD_AFTER_S + 1)
    assert repo.forget_dead_workers() == 1
