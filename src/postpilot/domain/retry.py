"""The retry decision: pure data in, a decision out. No I/O; tested as a table (tests/unit/test_retry.py).

Every error a step can raise maps to one ``Action``; ``pipeline.outcome`` applies it to the post with a short
match. The order of the checks below is the policy: "may be live" errors first (they must never be retried
blindly), then the ones that wait without spending attempts, then failures, then backoff.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass

from postpilot.domain import errors


class Action(enum.StrEnum):
    RETRY = "retry"  # try again after delay_s; counts as an attempt
    WAIT = "wait"  # hold the post without spending an attempt (quota, reconnect, budget, throttling)
    FAIL = "fail"  # give up: last_error says why
    NEW_CONTAINER = "new_container"  # make fresh Graph API containers, then carry on
    RECONCILE = "reconcile"  # the outcome is unknown: read the container before anything else
    SETTLE = "settle"  # a publish may still be in flight at Meta: give the post back, look again after delay_s
    UNCONFIRM = "unconfirm"  # it cannot be told whether the post is live: a human decides
    DROP = "drop"  # the post is no longer ours (taken over, cancelled): record nothing


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 15.0
    max_delay_s: float = 3600.0
    jitter: float = 0.25  # ± fraction of the delay, so replicas do not retry in lockstep
    wait_delay_s: float = 600.0  # re-check a waiting post this often when nothing says better
    max_new_containers: int = 3


@dataclass(frozen=True, slots=True)
class RetryDecision:
    action: Action
    delay_s: float
    message: str


def backoff_s(attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: base · 2^(attempt-1), capped, ± jitter."""
    raw = min(policy.max_delay_s, policy.base_delay_s * float(2 ** max(0, attempt - 1)))
    return float(max(0.0, raw * (1 + policy.jitter * (2 * rand() - 1))))


def decide(
    error: BaseException,
    *,
    attempts: int,
    container_attempts: int = 0,
    policy: RetryPolicy | None = None,
    rand: Callable[[], float] = random.random,
) -> RetryDecision:
    """What to do after ``error`` on a post that has already used ``attempts`` attempts (this one included)."""
    policy = policy or RetryPolicy()
    if isinstance(error, errors.Conflict):
        return RetryDecision(Action.DROP, 0.0, error.message)
    if isinstance(error, errors.OutcomeUnknown):
        return RetryDecision(Action.RECONCILE, 0.0, error.message)
    if isinstance(error, errors.Settling):
        return RetryDecision(Action.SETTLE, max(1.0, error.wait_s), error.message)
    if isinstance(error, errors.Unconfirmed):
        return RetryDecision(Action.UNCONFIRM, 0.0, error.message)
    if isinstance(error, errors.NeedsNewContainer):
        if container_attempts >= policy.max_new_containers:
            return RetryDecision(
                Action.FAIL,
                0.0,
                f"Instagram could not process the media after {container_attempts} tries: {error.message}",
            )
        return RetryDecision(Action.NEW_CONTAINER, error.retry_after_s or 0.0, error.message)
    if isinstance(error, errors.Waiting):
        delay = error.retry_after_s if error.retry_after_s is not None else policy.wait_delay_s
        return RetryDecision(Action.WAIT, delay, error.message)
    if isinstance(error, errors.Throttled):
        delay = error.retry_after_s if error.retry_after_s is not None else policy.wait_delay_s
        return RetryDecision(Action.WAIT, delay, f"rate limited; waiting: {error.message}")
    if isinstance(error, errors.Permanent | errors.InvalidInput):
        return RetryDecision(Action.FAIL, 0.0, error.message)
    message = error.message if isinstance(error, errors.PostpilotError) else f"internal error: {type(error).__name__}"
    if attempts >= policy.max_attempts:
        return RetryDecision(Action.FAIL, 0.0, f"gave up after {attempts} attempts: {message}")
    delay = backoff_s(attempts, policy, rand)
    if isinstance(error, errors.Transient) and error.retry_after_s is not None:
        delay = max(delay, error.retry_after_s)
    return RetryDecision(Action.RETRY, delay, message)
