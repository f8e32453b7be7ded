"""Meta's real contracts through the whole pipeline, on SQLite and PostgreSQL, against the Graph API fake: a
transient 2207052 at container creation, container ERROR classified by its subcode, status reads paced as
Meta recommends, and the usage headers read on every answer so postpilot slows down before Meta refuses."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from postpilot.app import App
from postpilot.domain import errors
from postpilot.domain.model import PostStatus
from postpilot.pipeline import Outcome
from postpilot.pipeline.stage import StagingFlow, StagingPolicy
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import (
    IG_USER,
    PostSpec,
    add_ready_post,
    only_publish,
    post,
    publish_now,
    set_post,
)


def creates(state: GraphState) -> int:
    return sum(1 for r in state.requests if r.kind == "create")


def status_reads(state: GraphState) -> int:
    return sum(1 for r in state.requests if r.kind == "status")


def due_again(app: App, post_id: int) -> None:
    set_post(app, post_id, next_attempt_at=None)


# --- 9004 / 2207052: media could not be fetched --------------------------------------------------------------


def test_a_passing_media_fetch_failure_is_tried_again_and_publishes_once(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_media_fetch_failure(count=1)

    first = publish_now(app, post_id)

    assert first.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY and row.container_attempts == 1
    assert row.last_error is not None and "could not download the media" in row.last_error
    assert row.next_attempt_at is not None
    assert timedelta(seconds=45) < row.next_attempt_at - datetime.now(UTC) <= timedelta(seconds=60)
    assert state.publish_calls == {}  # nothing was live: nothing to reconcile

    due_again(app, post_id)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    _, calls = only_publish(state)
    assert calls == 1
    assert creates(state) == 2


def test_a_media_fetch_failure_that_persists_fails_the_post_after_a_bounded_number_of_tries(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_media_fetch_failure(count=50)

    outcomes = []
    for _ in range(10):
        outcomes.append(publish_now(app, post_id).outcome)
        if outcomes[-1] is Outcome.FAILED:
            break
        due_again(app, post_id)

    assert outcomes[-1] is Outcome.FAILED
    assert creates(state) == app.settings.max_attempts - 1 == 4  # three new containers after the first try
    row = post(app, post_id)
    assert row.status is PostStatus.FAILED
    assert row.last_error is not None
    assert "after 3 tries" in row.last_error and "make sure the URL is public" in row.last_error
    assert state.publish_calls == {}


def test_staging_ahead_gives_up_on_an_unfetchable_image_after_three_tries(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id, PostSpec(scheduled_at=datetime.now(UTC) + timedelta(minutes=10)))
    state.inject_media_fetch_failure(count=50)

    results = []
    for _ in range(3):
        claimed = app.repo.claim_for_stage(owner=app.owner, ahead_s=3600, lease_s=60, batch=1)
        assert [p.id for p in claimed] == [post_id]
        results.append(app.pipeline.stage(claimed[0]).outcome)
        set_post(app, post_id, lease_owner=None, lease_until=None, next_attempt_at=None)

    assert results == [Outcome.WAITING, Outcome.WAITING, Outcome.FAILED]
    row = post(app, post_id)
    assert row.status is PostStatus.FAILED
    assert row.last_error is not None and "make sure the URL is public" in row.last_error
    assert creates(state) == 3


# --- container ERROR by subcode -------------------------------------------------------------------------------


def test_a_container_error_for_bad_video_fails_at_once_without_new_containers(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id, PostSpec(kind="reel"))
    state.script_containers("ERROR", error_subcode=2207026)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.FAILED
    row = post(app, post_id)
    assert row.last_error is not None
    assert "MP4 or MOV" in row.last_error and "2207026" in row.last_error
    assert creates(state) == 1  # not one of the account's 400 daily containers more
    assert state.publish_calls == {}


def test_a_container_error_for_a_server_fault_gets_a_new_container(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id)
    state.script_containers("ERROR", error_subcode=2207001)

    first = publish_now(app, post_id)
    assert first.outcome is Outcome.WAITING
    assert post(app, post_id).container_attempts == 1

    due_again(app, post_id)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert creates(state) == 2
    _, calls = only_publish(state)
    assert calls == 1


# --- reading containers at Meta's pace -------------------------------------------------------------------------


def test_container_reads_are_paced_once_a_minute_after_a_quick_first_look(
    app: App, state: GraphState, account_id: int
) -> None:
    account = app.repo.require_account("brand")
    graph = app.graphs.graph_for(account)
    state.image_delay_s = 60.0  # this image takes a minute to process
    container = graph.create_image_container(IG_USER, image_url="https://media.example.test/a.jpg")
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        state.advance(seconds)  # the fake's clock moves as we wait

    flow = StagingFlow(repo=app.repo, policy=StagingPolicy(poll_s=60.0), sleep=sleep)
    flow.wait_finished(graph, container, reel=False)

    assert slept == [0.0, 5.0, 60.0]  # read at 0 s, 5 s and 65 s: three reads, not thirty-five
    assert status_reads(state) == 3


def test_a_reel_still_processing_after_five_minutes_is_left_for_a_later_pass(
    app: App, state: GraphState, account_id: int
) -> None:
    account = app.repo.require_account("brand")
    graph = app.graphs.graph_for(account)
    state.video_delay_s = 900.0
    container = graph.create_reel_container(IG_USER, video_url="https://media.example.test/r.mp4")
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        state.advance(seconds)

    flow = StagingFlow(repo=app.repo, policy=StagingPolicy(poll_s=60.0, reel_wait_s=0.5), sleep=sleep)
    with pytest.raises(errors.Transient, match="still processing"):
        flow.wait_finished(graph, container, reel=True)
    assert slept == [30.0]
    assert status_reads(state) == 1


# --- usage headers ------------------------------------------------------------------------------------------


def test_staging_ahead_holds_back_near_the_accounts_limit_but_publishing_goes_out(
    app: App, state: GraphState, account_id: int
) -> None:
    state.account_call_budget = 100
    post_id = add_ready_post(app, account_id)
    # 89 calls already made this hour: the next answer says 90 %.
    state.account_call_times[IG_USER] = deque([state.now()] * 89)
    account = app.repo.require_account("brand")
    ahead = app.graphs.graph_for(account)
    ahead.create_image_container(IG_USER, image_url="https://media.example.test/x.jpg")  # answer: 90 %

    requests_before = len(state.requests)
    with pytest.raises(errors.SlowingDown, match="near their limit"):
        ahead.create_image_container(IG_USER, image_url="https://media.example.test/y.jpg")
    assert len(state.requests) == requests_before  # held here: nothing was sent
    body = app.metrics.render()[0].decode()
    assert 'postpilot_graph_usage_percent{scope="business_use_case"} 90.0' in body
    assert "postpilot_graph_calls_held_total 1.0" in body

    # The due post is urgent: it is staged and published in the one call left, and the account is not
    # marked throttled by our own hold.
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert app.repo.account_throttled_until(account_id) is None
    _, calls = only_publish(state)
    assert calls == 1


def test_the_fake_refuses_at_the_limit_and_the_post_waits(app: App, state: GraphState, account_id: int) -> None:
    state.account_call_budget = 10
    state.account_call_times[IG_USER] = deque([state.now()] * 10)
    post_id = add_ready_post(app, account_id)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.last_error is not None and "rate limit" in row.last_error
    until = app.repo.account_throttled_until(account_id)
    assert until is not None and until > datetime.now(UTC) + timedelta(minutes=30)
    assert state.publish_calls == {}
