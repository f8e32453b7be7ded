"""The repository's concurrency guarantees, on SQLite and PostgreSQL: atomic claims, guarded transitions,
missed posts, and leases in database time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select, text, update

from postpilot.db.engine import build_engine
from postpilot.db.repository import Repository
from postpilot.db.rows import events, posts
from postpilot.db.types import db_now
from postpilot.domain.model import LoginKind, PostStatus

ROWS = 2_000
CLAIMERS = 4


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine=engine)


def _account(repo: Repository) -> int:
    return repo.create_account(name="brand", ig_user_id="17841400000000001", login_kind=LoginKind.FACEBOOK,
                               dry_run=True, token_encrypted=None)


def _seed(engine: Engine, account_id: int, n: int, *, ago: timedelta = timedelta(minutes=1),
          status: str = "scheduled") -> list[int]:
    at = datetime.now(UTC) - ago
    with engine.begin() as conn:
        conn.execute(insert(posts), [
            {"account_id": account_id, "post_type": "photo", "prompt": f"p{i}", "scheduled_at": at, "status": status}
            for i in range(n)
        ])
        return [int(r[0]) for r in conn.execute(select(posts.c.id).order_by(posts.c.id))]


def _set(engine: Engine, post_id: int, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(update(posts).where(posts.c.id == post_id).values(**values))


def test_concurrent_claimers_take_each_row_exactly_once(db_url: str, repo: Repository, engine: Engine) -> None:
    ids = _seed(engine, _account(repo), ROWS)
    claimed: list[list[int]] = [[] for _ in range(CLAIMERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)
    # Between two claims a replica hands its batch to a pool. On SQLite the others wait for the file's write
    # lock in SQLite's busy handler, which sleeps in growing steps (up to 100 ms): a pause shorter than those
    # steps lets one claimer take every batch before the others wake (seen once on a loaded machine), which is
    # the file lock working, not a claim bug; 30 ms lets them interleave.
    pause_s = 0.03 if db_url.startswith("sqlite") else 0.002

    def claimer(i: int) -> None:
        # Each claimer is its own "replica": its own engine and connection pool.
        own = build_engine(db_url, pool_size=2)
        try:
            mine = Repository(engine=own)
            start.wait()
            while True:
                got = mine.claim_for_prepare(owner=f"replica-{i}", ahead_s=0, lease_s=300, batch=50)
                if not got:
                    return
                claimed[i].extend(p.id for p in got)
                time.sleep(pause_s)  # hand the work to a pool, as a replica would; lets the others interleave
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not errors, errors
    every = [pid for chunk in claimed for pid in chunk]
    duplicates = [pid for pid, n in Counter(every).items() if n > 1]
    assert duplicates == []
    assert sorted(every) == ids
    assert sum(1 for chunk in claimed if chunk) >= 2, "the claimers did not actually run concurrently"

    with engine.connect() as conn:
        owners = dict(conn.execute(select(posts.c.id, posts.c.lease_owner)).all())
        statuses = set(conn.execute(select(posts.c.status).distinct()).scalars())
        claim_events = conn.execute(text("SELECT count(*) FROM post_events WHERE kind = 'claimed'")).scalar_one()
    assert statuses == {"preparing"}
    for i, chunk in enumerate(claimed):
        assert all(owners[pid] == f"replica-{i}" for pid in chunk)
    assert claim_events == ROWS  # one event per claim, in the claim's own transaction


def test_guarded_transition_refuses_wrong_status_or_owner(repo: Repository, engine: Engine) -> None:
    (post_id,) = _seed(engine, _account(repo), 1)
    # Wrong expected status: nothing changes, no event.
    assert not repo.transition(post_id, expected=PostStatus.READY, to=PostStatus.PUBLISHING, owner=None, kind="x")
    (claimed,) = repo.claim_for_prepare(owner="me", ahead_s=0, lease_s=60, batch=10)
    assert claimed.id == post_id and claimed.lease_owner == "me"
    # Right status, another owner: refused.
    assert not repo.transition(post_id, expected=PostStatus.PREPARING, to=PostStatus.READY, owner="other",
                               kind="prepared")
    assert not repo.update_owned(post_id, owner="other", status=PostStatus.PREPARING, values={"attempts": 9})
    assert repo.require_post(post_id).status is PostStatus.PREPARING
    # Ours: accepted, lease released, event written with the change.
    assert repo.transition(post_id, expected=PostStatus.PREPARING, to=PostStatus.READY, owner="me",
                           kind="prepared", message="media ready")
    post = repo.require_post(post_id)
    assert post.status is PostStatus.READY and post.lease_owner is None and post.lease_until is None
    last = repo.events(post_id)[-1]
    assert (last.kind, last.from_status, last.to_status, last.message) == ("prepared", "preparing", "ready",
                                                                          "media ready")
    # The same transition again finds nothing to change.
    assert not repo.transition(post_id, expected=PostStatus.PREPARING, to=PostStatus.READY, owner="me", kind="x")
    assert [e.kind for e in repo.events(post_id)] == ["claimed", "prepared"]


def test_fail_missed_only_fails_posts_late_beyond_the_limit(repo: Repository, engine: Engine) -> None:
    account = _account(repo)
    day = timedelta(hours=24)
    late_scheduled, late_ready, late_publishing, late_leased, recent = (
        _seed(engine, account, 1, ago=day + timedelta(minutes=5))[-1],
        _seed(engine, account, 1, ago=day + timedelta(minutes=5))[-1],
        _seed(engine, account, 1, ago=day * 2)[-1],
        _seed(engine, account, 1, ago=day * 2)[-1],
        _seed(engine, account, 1, ago=day - timedelta(minutes=5))[-1],
    )
    _set(engine, late_ready, status="ready")
    _set(engine, late_publishing, status="publishing", lease_owner="gone",
         lease_until=datetime.now(UTC) - timedelta(hours=1))
    # Someone is working on this one right now (a live lease): leave it to them.
    _set(engine, late_leased, status="preparing", lease_owner="busy",
         lease_until=datetime.now(UTC) + timedelta(minutes=5))

    failed = repo.fail_missed(max_lateness_s=day.total_seconds())
    assert sorted(failed) == sorted([late_scheduled, late_ready])
    for pid in failed:
        post = repo.require_post(pid)
        assert post.status is PostStatus.FAILED
        assert post.last_error and post.last_error.startswith("missed")
        assert repo.events(pid)[-1].kind == "missed"
    assert repo.require_post(late_publishing).status is PostStatus.PUBLISHING  # may be live: reconciled instead
    assert repo.require_post(late_leased).status is PostStatus.PREPARING
    assert repo.require_post(recent).status is PostStatus.SCHEDULED
    assert repo.fail_missed(max_lateness_s=day.total_seconds()) == []


def test_leases_are_written_in_database_time_renewed_and_expire(repo: Repository, engine: Engine) -> None:
    (post_id,) = _seed(engine, _account(repo), 1)
    (claimed,) = repo.claim_for_prepare(owner="a", ahead_s=0, lease_s=1.0, batch=1)
    with engine.connect() as conn:
        now = conn.execute(select(db_now())).scalar_one()
    assert claimed.lease_until is not None
    assert timedelta(seconds=0.5) < claimed.lease_until - now <= timedelta(seconds=1.0)

    # While the lease holds, no one else can take the post.
    assert repo.claim_for_prepare(owner="b", ahead_s=0, lease_s=60, batch=1) == []
    # Only the holder renews it.
    assert repo.renew_leases([post_id], owner="b", lease_s=60) == 0
    assert repo.renew_leases([post_id], owner="a", lease_s=60) == 1
    time.sleep(1.2)  # the original lease would have expired by now
    assert repo.claim_for_prepare(owner="b", ahead_s=0, lease_s=60, batch=1) == []

    # A lease that runs out (the holder died) lets another replica take over.
    repo.renew_leases([post_id], owner="a", lease_s=0.2)
    time.sleep(0.4)
    (taken,) = repo.claim_for_prepare(owner="b", ahead_s=0, lease_s=60, batch=1)
    assert taken.id == post_id and taken.lease_owner == "b"
    assert repo.renew_leases([post_id], owner="a", lease_s=60) == 0  # the old holder lost it


def test_lease_expiry_ignores_the_process_clock(repo: Repository, engine: Engine) -> None:
    """A lease written in the past by the database's clock is expired, whatever a replica believes."""
    (post_id,) = _seed(engine, _account(repo), 1)
    repo.claim_for_prepare(owner="a", ahead_s=0, lease_s=300, batch=1)
    with engine.begin() as conn:
        conn.execute(update(posts).where(posts.c.id == post_id).values(lease_until=db_now()))
    time.sleep(0.01)
    (taken,) = repo.claim_for_prepare(owner="b", ahead_s=0, lease_s=60, batch=1)
    assert taken.lease_owner == "b"
    with engine.connect() as conn:
        kinds = list(conn.execute(select(events.c.kind).where(events.c.post_id == post_id)).scalars())
    assert kinds == ["claimed", "claimed"]


def test_a_transition_outside_the_lifecycle_table_is_refused(repo: Repository, engine: Engine) -> None:
    from postpilot.domain.lifecycle import TransitionNotAllowed

    account = _account(repo)
    post_id = _seed(engine, account, 1)[-1]
    with pytest.raises(TransitionNotAllowed, match="scheduled -> published"):
        repo.transition(post_id, expected=PostStatus.SCHEDULED, to=PostStatus.PUBLISHED, owner=None, kind="x")
    assert repo.require_post(post_id).status is PostStatus.SCHEDULED


def test_typed_changes_set_their_columns(repo: Repository, engine: Engine) -> None:
    from postpilot.domain.changes import ContainerCreated, ContainerReady, TryLater

    account = _account(repo)
    post_id = _seed(engine, account, 1)[-1]
    _set(engine, post_id, status="ready", lease_owner="me", lease_until=datetime.now(UTC) + timedelta(minutes=5))
    assert repo.update_owned(post_id, owner="me", status=PostStatus.READY, change=ContainerCreated("17900"))
    assert repo.update_owned(post_id, owner="me", status=PostStatus.READY, change=ContainerReady())
    row = repo.require_post(post_id)
    assert row.container_id == "17900" and row.container_ready_at is not None
    # A new container forgets the old one, its FINISHED reading, and waits the delay in database time.
    later = TryLater("expired", delay_s=60, drop_container=True, container_attempts=1)
    assert repo.transition(post_id, expected=PostStatus.READY, to=PostStatus.READY, owner="me", kind="x", change=later)
    row = repo.require_post(post_id)
    assert (row.container_id, row.container_ready_at, row.container_attempts) == (None, None, 1)
    assert row.next_attempt_at is not None
    assert timedelta(seconds=50) < row.next_attempt_at - datetime.now(UTC) <= timedelta(seconds=61)
