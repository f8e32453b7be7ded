"""Meta's app-wide budget (``X-App-Usage``) through the pipeline, on SQLite and PostgreSQL, against the Graph API
fake, whose usage headers climb with every call: near the limit postpilot holds back the calls that can wait
(staging ahead) for every account of the app, before Meta refuses, while a post due now still goes out; the
figures and the held calls show in the metrics and on ``/status``."""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, datetime, timedelta

from postpilot.app import App
from postpilot.domain.model import PostStatus
from postpilot.pipeline import Outcome, StepResult
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import (
    IG_USER,
    PostSpec,
    add_account,
    add_ready_post,
    only_publish,
    post,
    publish_now,
)

SHOP_IG = "17841400000000002"
SHOP_TOKEN = "tok-Shop4Kd8Pw2Rn6Tz1Vx3By5Mq7"
SLOW_AT = 90.0  # instagram.usage.SLOW_AT_PERCENT


def metric(app: App, name: str, labels: str = "") -> float:
    body = app.metrics.render()[0].decode()
    found = re.search(rf"^postpilot_{name}{re.escape(labels)} (\S+)$", body, re.M)
    assert found, f"{name}{labels} not in the metrics"
    return float(found[1])


def app_percent(app: App) -> float:
    return metric(app, "graph_usage_percent", '{scope="app"}')


def stage_ahead(app: App, post_id: int) -> StepResult:
    """Claim one ready post for staging ahead (as the poll's stage_upcoming does) and stage it here."""
    claimed = app.repo.claim_for_stage(owner=app.owner, ahead_s=3600, lease_s=60, batch=5)
    assert [p.id for p in claimed] == [post_id]
    return app.pipeline.stage(claimed[0])


def later(minutes: int = 10) -> PostSpec:
    return PostSpec(scheduled_at=datetime.now(UTC) + timedelta(minutes=minutes))


def test_near_the_apps_limit_staging_waits_for_every_account_and_a_due_post_still_goes_out(
    app: App, state: GraphState, account_id: int
) -> None:
    state.add_account(SHOP_IG, SHOP_TOKEN, username="shop")
    shop_id = add_account(app, name="shop", ig_user_id=SHOP_IG, token=SHOP_TOKEN)
    # The app's hourly budget is 100 calls, and other work of the app made 80 of them this hour.
    state.app_call_budget = 100
    state.app_call_times = deque([state.now()] * 80)

    # Staging ahead climbs the app's figure call by call, as Meta reports it on every answer ...
    readings: list[float] = []
    held: tuple[int, StepResult] | None = None
    for _ in range(15):
        post_id = add_ready_post(app, account_id, later())
        result = stage_ahead(app, post_id)
        readings.append(app_percent(app))
        if result.outcome is Outcome.WAITING:
            held = (post_id, result)
            break
        assert result.outcome is Outcome.STAGED
    # ... until an answer says 90 %: the next call that can wait is held, before Meta refuses anything.
    assert held is not None, f"staging never slowed down; app usage read {readings}"
    assert len(readings) >= 3 and readings == sorted(readings) and readings[0] < readings[-1]
    assert readings[-1] >= SLOW_AT > readings[-2]
    assert state.usage_percent(None)[0] < 100  # Meta never had to refuse a call

    held_id, _ = held
    sent_before = len(state.requests)
    another = add_ready_post(app, account_id, later())
    assert stage_ahead(app, another).outcome is Outcome.WAITING
    assert len(state.requests) == sent_before  # held here: nothing was sent
    row = post(app, held_id)
    assert row.status is PostStatus.READY and row.attempts == 0 and row.container_attempts == 0
    assert row.last_error is not None and "near their limit" in row.last_error
    # A later poll looks again (the staging retry delay); at its minute the post is published anyway.
    assert row.lease_until is not None and row.lease_until > datetime.now(UTC)
    assert app.repo.account_throttled_until(account_id) is None  # our own hold, not Meta's refusal

    # The budget is the app's: the other account's staging waits too, though it has made no call yet.
    shop_later = add_ready_post(app, shop_id, later())
    sent_before = len(state.requests)
    assert stage_ahead(app, shop_later).outcome is Outcome.WAITING
    assert len(state.requests) == sent_before

    assert app_percent(app) >= SLOW_AT
    assert metric(app, "graph_usage_percent", '{scope="business_use_case"}') < SLOW_AT  # no account is busy
    assert metric(app, "graph_calls_held_total") >= 2.0
    usage = app.status()["graph_usage"]
    assert usage["app_percent"] is not None and usage["app_percent"] >= SLOW_AT

    # A post due now is urgent: it is staged and published in the calls left before 100 %.
    due_now = add_ready_post(app, shop_id)
    assert publish_now(app, due_now).outcome is Outcome.PUBLISHED
    container, calls = only_publish(state)
    assert calls == 1 and state.containers[container].ig_user_id == SHOP_IG
    assert app.repo.account_throttled_until(shop_id) is None
    assert post(app, held_id).status is PostStatus.READY  # still waiting for the budget to drain


def test_the_app_figure_falls_back_as_the_rolling_hour_drains(app: App, state: GraphState, account_id: int) -> None:
    """The fake's figures are of a rolling hour: an hour after the calls, the next answer reports them gone."""
    state.app_call_budget = 100
    state.app_call_times = deque([state.now()] * 85)
    assert stage_ahead(app, add_ready_post(app, account_id, later())).outcome is Outcome.STAGED
    busy = app_percent(app)
    assert busy >= 85.0

    state.advance(3601)
    assert stage_ahead(app, add_ready_post(app, account_id, later())).outcome is Outcome.STAGED
    assert app_percent(app) < 10.0
    assert IG_USER in state.accounts
