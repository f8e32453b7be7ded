"""The scheduled instant costs one round trip: a post staged ahead (container read FINISHED, quota read) is
published with ``media_publish`` alone — no status read, no quota read — and ``published_at`` is the moment
that call returned. Stale or doubtful knowledge is read again. Real pipeline, real httpx, the Graph fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from postpilot.app import App, build_app
from postpilot.domain.model import PostStatus
from postpilot.instagram.quota import PublishingQuota
from postpilot.pipeline import Outcome
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import (
    IG_USER,
    PostSpec,
    add_ready_post,
    make_app,
    only_publish,
    post,
    publish_now,
    set_post,
)


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, stage_workers=1)
    yield application
    application.close()




def stage_ahead(app: App, post_id: int) -> None:
    claimed = app.repo.claim_for_stage(owner=app.owner, ahead_s=3600, lease_s=60, batch=10)
    assert [p.id for p in claimed] == [post_id]
    assert app.pipeline.stage(claimed[0]).outcome is Outcome.STAGED


def add_upcoming(app: App, account_id: int, spec: PostSpec | None = None) -> int:
    spec = spec or PostSpec()
    when = datetime.now(UTC) + timedelta(minutes=10)
    return add_ready_post(app, account_id, PostSpec(spec.kind, spec.images, caption=spec.caption, scheduled_at=when))


def make_due(app: App, post_id: int) -> None:
    set_post(app, post_id, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))


def pool_gauges(app: App) -> dict[str, tuple[float, float]]:
    """``{pool: (posts, threads)}`` as /metrics shows them."""
    body, _ = app.metrics.render()
    values: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        if family.name in ("postpilot_pool_posts", "postpilot_pool_threads"):
            for sample in family.samples:
                values[(family.name, sample.labels["pool"])] = sample.value
    pools = {pool for _, pool in values}
    return {p: (values[("postpilot_pool_posts", p)], values[("postpilot_pool_threads", p)]) for p in pools}


def kinds_since(state: GraphState, start: int) -> list[str]:
    with state.lock:
        return [r.kind for r in state.requests[start:]]


@pytest.mark.parametrize("kind,images", [("photo", 1), ("carousel", 3)])
def test_a_staged_post_goes_live_with_media_publish_alone(
    app: App, state: GraphState, account_id: int, kind: str, images: int
) -> None:
    post_id = add_upcoming(app, account_id, PostSpec(kind, images))
    stage_ahead(app, post_id)
    staged = post(app, post_id)
    assert staged.status is PostStatus.READY and staged.container_id is not None
    assert staged.container_ready_at is not None
    assert "limit" in kinds_since(state, 0)  # the quota was read while staging

    make_due(app, post_id)
    before = len(state.requests)
    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    # media_publish, then the best-effort permalink read once the post is live: nothing before the publish.
    assert kinds_since(state, before) == ["publish", "media_read"]
    assert only_publish(state) == (staged.container_id, 1)


def test_a_stale_finished_reading_is_checked_again(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)
    make_due(app, post_id)
    set_post(app, post_id, container_ready_at=datetime.now(UTC) - timedelta(hours=2))
    before = len(state.requests)

    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED

    assert kinds_since(state, before)[:2] == ["status", "publish"]


def test_an_expired_container_trusted_as_finished_gets_a_new_one_and_publishes_once(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)
    old = post(app, post_id).container_id
    assert old is not None
    state.expire_container(old)
    make_due(app, post_id)

    first = publish_now(app, post_id)  # Instagram refuses the dead container: nothing was published
    assert first.outcome is Outcome.WAITING, first.message
    row = post(app, post_id)
    assert row.status is PostStatus.READY and row.container_id is None and row.container_ready_at is None
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert state.published_count(IG_USER) == 1
    assert post(app, post_id).container_id != old


def test_a_nearly_full_quota_is_read_again_before_publishing(app: App, state: GraphState, account_id: int) -> None:
    state.consume_quota(IG_USER, 49)  # one slot of 50 left: too close to trust a reading from earlier
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)
    make_due(app, post_id)
    before = len(state.requests)

    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED

    assert kinds_since(state, before)[:2] == ["limit", "publish"]


def test_a_quota_used_up_elsewhere_defers_the_post_and_is_read_afresh(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)  # reads 0 of 50 used
    state.consume_quota(IG_USER, 50)  # another tool spent the day's slots since
    make_due(app, post_id)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY and row.publish_attempted_at is None
    assert row.last_error is not None and "limit" in row.last_error
    assert state.published_count(IG_USER) == 0
    # Instagram's refusal replaced the remembered reading: the next try asks before calling media_publish
    # (after reading the container again: media_publish was sent once, so its FINISHED reading is gone).
    set_post(app, post_id, next_attempt_at=None)
    before = len(state.requests)
    assert publish_now(app, post_id).outcome is Outcome.WAITING
    assert kinds_since(state, before) == ["status", "limit"]


def test_published_at_is_when_media_publish_returned(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)
    make_due(app, post_id)
    state.latency["media_read"] = 0.5  # a slow permalink read after the post is live

    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED

    row = post(app, post_id)
    assert row.published_at is not None and row.permalink is not None and row.updated_at is not None
    # updated_at is when the permalink was filled in, half a second after the post went live.
    assert (row.updated_at - row.published_at).total_seconds() >= 0.4
    assert app.repo.events(post_id)[-1].kind == "published"


def test_replacing_a_container_forgets_that_the_old_one_was_ready(app: App, account_id: int) -> None:
    post_id = add_upcoming(app, account_id)
    claimed = app.repo.claim_for_stage(owner=app.owner, ahead_s=3600, lease_s=60, batch=1)
    assert [p.id for p in claimed] == [post_id]
    assert app.repo.update_owned(
        post_id,
        owner=app.owner,
        status=PostStatus.READY,
        values={"container_id": "1790000000001", "container_ready_at": datetime.now(UTC)},
    )
    assert post(app, post_id).container_ready_at is not None

    assert app.repo.update_owned(post_id, owner=app.owner, status=PostStatus.READY, values={"container_id": "17902"})

    assert post(app, post_id).container_ready_at is None


def test_publishing_never_queues_behind_staging(app: App, state: GraphState, account_id: int) -> None:
    due = add_upcoming(app, account_id)
    stage_ahead(app, due)
    make_due(app, due)
    for n in range(2):
        add_upcoming(app, account_id, PostSpec(caption=f"later {n}"))
    state.latency["create"] = 1.5  # staging is slow; the single stage thread is busy for ~3 s
    runner = app.runner()
    try:
        staging = runner.stage_upcoming()
        assert len(staging) == 2
        runner.report_load()
        assert pool_gauges(app) == {"stage": (2.0, 1.0), "publish": (0.0, 2.0), "prepare": (0.0, 1.0)}
        (publishing,) = runner.publish_due()

        assert publishing.result(timeout=10).outcome is Outcome.PUBLISHED
        assert not all(f.done() for f in staging), "the publish waited for staging to finish"
        assert [f.result(timeout=20).outcome for f in staging] == [Outcome.STAGED, Outcome.STAGED]
    finally:
        runner.shutdown(timeout_s=20)


def test_a_quota_reading_is_trusted_for_an_hour_then_read_again(app: App, state: GraphState, account_id: int) -> None:
    now = [1000.0]
    quota = PublishingQuota(clock=lambda: now[0])
    account = app.repo.account(account_id)
    assert account is not None
    graph = app.graphs.graph_for(account)

    quota.check(graph, account)
    now[0] += 3599
    quota.check(graph, account)
    assert kinds_since(state, 0) == ["limit"]

    now[0] += 2
    quota.check(graph, account)
    assert kinds_since(state, 0) == ["limit", "limit"]


def test_our_own_publishes_count_against_a_remembered_reading(app: App, state: GraphState, account_id: int) -> None:
    quota = PublishingQuota(margin=2)
    account = app.repo.account(account_id)
    assert account is not None
    graph = app.graphs.graph_for(account)
    state.consume_quota(IG_USER, 46)  # 4 of 50 left

    quota.check(graph, account)
    quota.published(account)  # 3 left by our count: still room beyond the margin
    quota.check(graph, account)
    assert kinds_since(state, 0) == ["limit"]
    quota.published(account)  # 2 left: too close, ask Instagram
    quota.check(graph, account)
    assert kinds_since(state, 0) == ["limit", "limit"]


def test_the_permalink_is_read_after_the_publish_worker_is_free(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)
    make_due(app, post_id)
    state.latency["media_read"] = 1.0
    runner = app.runner()
    try:
        (publishing,) = runner.publish_due()
        assert publishing.result(timeout=10).outcome is Outcome.PUBLISHED
        row = post(app, post_id)
        assert row.status is PostStatus.PUBLISHED and row.ig_media_id is not None
        assert row.permalink is None  # still being read by the follow-up pool
    finally:
        runner.shutdown(timeout_s=20)  # waits for the follow-ups too

    assert post(app, post_id).permalink == state.media[0].permalink


def test_a_post_claimed_while_the_runner_shuts_down_is_given_back_at_once(
    app: App, state: GraphState, account_id: int
) -> None:
    # A signal can land while a poll or a date job is between its claim and handing the post to a pool.
    due = add_ready_post(app, account_id)
    stale = add_ready_post(app, account_id, PostSpec(caption="attempted earlier"))
    set_post(
        app,
        stale,
        status="publishing",
        container_id="17900000000000999",
        publish_attempted_at=datetime.now(UTC) - timedelta(hours=1),
        lease_owner="crashed-replica",
        lease_until=datetime.now(UTC) - timedelta(minutes=1),
    )
    runner = app.runner()
    runner.shutdown(timeout_s=5)

    (publishing,) = runner.publish_due()
    (reconciling,) = runner.reconcile_stale()

    assert publishing.result().outcome is Outcome.LOST and reconciling.result().outcome is Outcome.LOST
    row = post(app, due)
    assert row.status is PostStatus.READY and row.lease_owner is None  # claimable again right away
    held = post(app, stale)
    # It may be live: it stays publishing, without a lease, for the next reconcile to look at.
    assert held.status is PostStatus.PUBLISHING and held.lease_owner is None and held.lease_until is None
    assert state.total_publish_calls() == 0
    assert [p.id for p in app.repo.claim_stale_publishing(owner="next", lease_s=60, batch=5)] == [stale]


@pytest.mark.parametrize(
    "fault",
    [
        {"code": 24, "subcode": 2207008},  # "container not found (can be temporary)": retried as transient
        {"code": 0, "http_status": 408},  # a proxy timing out after Meta applied the publish
    ],
    ids=["24-2207008", "http-408"],
)
def test_an_error_answer_to_a_publish_that_went_through_never_leads_to_a_second_call(
    app: App, state: GraphState, account_id: int, fault: dict[str, int]
) -> None:
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)
    make_due(app, post_id)
    extra = dict(fault)  # the parameter is shared between the two databases' runs
    code = extra.pop("code")
    state.inject_error("publish", code, extra.pop("subcode", None), commit=True, **extra)

    first = publish_now(app, post_id)  # Meta published, then answered with an error

    row = post(app, post_id)
    if first.outcome is not Outcome.PUBLISHED:
        assert row.container_ready_at is None  # the FINISHED reading is gone with the attempt
        set_post(app, post_id, next_attempt_at=None)
        age = datetime.now(UTC) - timedelta(hours=1)
        if row.status is PostStatus.PUBLISHING:
            set_post(app, post_id, publish_attempted_at=age, lease_until=age)
            stale = app.repo.claim_stale_publishing(owner=app.owner, lease_s=60, batch=5)
            (result,) = [app.pipeline.reconcile(p) for p in stale]
        else:
            result = publish_now(app, post_id)
        assert result.outcome is Outcome.PUBLISHED, result.message
    assert post(app, post_id).status is PostStatus.PUBLISHED
    assert only_publish(state) == (row.container_id, 1)
    assert state.published_count(IG_USER) == 1


def test_a_skipped_permalink_read_is_backfilled_later(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)
    make_due(app, post_id)
    state.inject_error("media_read", 2, http_status=500)  # the permalink read right after publishing fails
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert post(app, post_id).permalink is None

    runner = app.runner()
    try:
        assert runner.backfill_permalinks() == 0  # too fresh: its own read may still be on the way
        set_post(app, post_id, published_at=datetime.now(UTC) - timedelta(minutes=5))
        assert runner.backfill_permalinks() == 1
    finally:
        runner.shutdown(timeout_s=10)

    assert post(app, post_id).permalink == state.media[0].permalink
    assert app.runner().backfill_permalinks() == 0
    assert only_publish(state)[1] == 1


def test_a_replica_that_did_not_stage_trusts_the_shared_quota_reading(
    app: App, state: GraphState, account_id: int
) -> None:
    """Issue 12 item 13, on both databases: the reading taken while staging is in the database, so another
    replica publishing at the instant sends media_publish alone; and its publish counts in the shared reading."""
    post_id = add_upcoming(app, account_id)
    stage_ahead(app, post_id)  # replica A reads the quota while staging
    shared = app.repo.account(account_id)
    assert shared is not None and shared.quota_read_at is not None and shared.quota_usage == 0

    other = build_app(app.settings, owner="replica-b")  # a fresh process: nothing in its memory
    try:
        make_due(app, post_id)
        before = len(state.requests)
        result = publish_now(other, post_id)
        assert result.outcome is Outcome.PUBLISHED, result.message
        assert kinds_since(state, before) == ["publish", "media_read"]
    finally:
        other.close()
    after = app.repo.account(account_id)
    assert after is not None and after.quota_usage == 1  # replica B's publish counted for everyone


def test_a_shared_reading_near_the_limit_is_read_again(app: App, state: GraphState, account_id: int) -> None:
    account = app.repo.account(account_id)
    assert account is not None
    app.repo.save_quota_reading(account_id, usage=49, total=50)
    quota = PublishingQuota(store=app.repo)
    near_full = app.repo.account(account_id)
    assert near_full is not None
    quota.check(app.graphs.graph_for(near_full), near_full)
    assert kinds_since(state, 0) == ["limit"]  # too close to the limit to trust: asked Instagram
