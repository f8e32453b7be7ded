"""``domain.retry.decide`` as a table: every error class, what it means for the post."""

from __future__ import annotations

import pytest

from postpilot.domain import errors
from postpilot.domain.retry import Action, RetryPolicy, backoff_s, decide

POLICY = RetryPolicy(max_attempts=5, base_delay_s=10.0, max_delay_s=100.0, jitter=0.0, wait_delay_s=600.0)


def half() -> float:
    return 0.5  # no jitter either way


@pytest.mark.parametrize(
    ("error", "attempts", "containers", "action", "delay", "says"),
    [
        (errors.Conflict("taken over"), 1, 0, Action.DROP, 0.0, "taken over"),
        (errors.OutcomeUnknown("maybe live"), 1, 0, Action.RECONCILE, 0.0, "maybe live"),
        (errors.OutcomeUnknown("maybe live"), 99, 0, Action.RECONCILE, 0.0, "maybe live"),  # never gives up
        (errors.Settling(42.0), 1, 0, Action.SETTLE, 42.0, "confirm an earlier publish"),
        (errors.Settling(0.1), 1, 0, Action.SETTLE, 1.0, "confirm"),  # at least a second
        (errors.Unconfirmed("cannot read the container"), 1, 0, Action.UNCONFIRM, 0.0, "cannot read"),
        (errors.NeedsNewContainer("expired"), 1, 0, Action.NEW_CONTAINER, 0.0, "expired"),
        (errors.NeedsNewContainer("expired"), 1, 2, Action.NEW_CONTAINER, 0.0, "expired"),
        (errors.NeedsNewContainer("expired"), 1, 3, Action.FAIL, 0.0, "after 3 tries: expired"),
        (errors.MediaFetchFailed("not fetched", retry_after_s=60), 1, 0, Action.NEW_CONTAINER, 60.0, "not fetched"),
        (errors.MediaFetchFailed("not fetched", retry_after_s=60), 1, 3, Action.FAIL, 0.0, "after 3 tries"),
        (errors.QuotaExhausted("full", retry_after_s=30), 5, 0, Action.WAIT, 30.0, "full"),
        (errors.QuotaExhausted("full"), 5, 0, Action.WAIT, 600.0, "full"),
        (errors.NeedsReconnect("reconnect"), 9, 0, Action.WAIT, 600.0, "reconnect"),
        (errors.ProviderBlocked("no credit", retry_after_s=900), 1, 0, Action.WAIT, 900.0, "no credit"),
        (errors.Throttled("slow down", retry_after_s=120), 1, 0, Action.WAIT, 120.0, "rate limited; waiting"),
        (errors.SlowingDown("near the limit", retry_after_s=300), 1, 0, Action.WAIT, 300.0, "near the limit"),
        (errors.Throttled("slow down"), 1, 0, Action.WAIT, 600.0, "slow down"),
        (errors.Permanent("bad"), 1, 0, Action.FAIL, 0.0, "bad"),
        (errors.BadMedia("too big"), 1, 0, Action.FAIL, 0.0, "too big"),
        (errors.ContentRejected("unsafe"), 1, 0, Action.FAIL, 0.0, "unsafe"),
        (errors.InvalidInput("no image"), 1, 0, Action.FAIL, 0.0, "no image"),
        (errors.Transient("blip"), 1, 0, Action.RETRY, 10.0, "blip"),
        (errors.Transient("blip"), 3, 0, Action.RETRY, 40.0, "blip"),
        (errors.Transient("blip"), 4, 0, Action.RETRY, 80.0, "blip"),
        (errors.Transient("blip", retry_after_s=500), 1, 0, Action.RETRY, 500.0, "blip"),
        (errors.Transient("blip"), 5, 0, Action.FAIL, 0.0, "gave up after 5 attempts: blip"),
        (ValueError("boom"), 1, 0, Action.RETRY, 10.0, "internal error: ValueError"),
        (ValueError("boom"), 5, 0, Action.FAIL, 0.0, "gave up after 5 attempts: internal error: ValueError"),
    ],
)
def test_decide(
    error: BaseException, attempts: int, containers: int, action: Action, delay: float, says: str
) -> None:
    decision = decide(error, attempts=attempts, container_attempts=containers, policy=POLICY, rand=half)
    assert decision.action is action
    assert decision.delay_s == pytest.approx(delay)
    assert says in decision.message


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay_s=15.0, max_delay_s=3600.0, jitter=0.25)
    assert backoff_s(1, policy, lambda: 0.5) == 15.0
    assert backoff_s(20, policy, lambda: 0.5) == 3600.0
    assert backoff_s(1, policy, lambda: 0.0) == pytest.approx(11.25)
    assert backoff_s(1, policy, lambda: 1.0) == pytest.approx(18.75)


def test_every_action_is_reachable() -> None:
    reached = {
        decide(e, attempts=a, container_attempts=c, policy=POLICY).action
        for e, a, c in [
            (errors.Conflict(), 1, 0),
            (errors.OutcomeUnknown(), 1, 0),
            (errors.Settling(5), 1, 0),
            (errors.Unconfirmed(), 1, 0),
            (errors.NeedsNewContainer(), 1, 0),
            (errors.Waiting(), 1, 0),
            (errors.Permanent(), 1, 0),
            (errors.Transient(), 1, 0),
        ]
    }
    assert reached == set(Action)
