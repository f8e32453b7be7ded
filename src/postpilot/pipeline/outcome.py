"""Applying a retry decision to a post: the one place where "what an error means" (``domain.retry.decide``)
becomes a state change (``domain.changes``) through a guarded transition.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from postpilot.domain.changes import CheckingLater, Failed, MarkedUnconfirmed, StagingTrouble, TryLater
from postpilot.domain.events import EventKind
from postpilot.domain.model import Post, PostStatus, utcnow
from postpilot.domain.retry import Action, RetryDecision
from postpilot.metrics import Metrics
from postpilot.pipeline.ports import PostStore


class Outcome(enum.StrEnum):
    READY = "ready"
    STAGED = "staged"
    PUBLISHED = "published"
    SIMULATED = "simulated"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    WAITING = "waiting"  # deferred (quota, reconnect, budget, throttling, retry backoff)
    LOST = "lost"  # another actor took the post (lease lost, cancelled): not ours to touch


@dataclass(frozen=True, slots=True)
class StepResult:
    post_id: int
    outcome: Outcome
    message: str | None = None


# How a post waits after a staging problem: staging is retried by a later poll, and at the scheduled time the
# publish step stages inline anyway.
STAGE_RETRY_S = 60.0

_EVENT_OF = {
    Action.RETRY: EventKind.RETRY_SCHEDULED,
    Action.WAIT: EventKind.WAITING,
    Action.NEW_CONTAINER: EventKind.NEW_CONTAINER,
}


def unconfirmed_message(post_id: int, why: str) -> str:
    return (
        f"Unconfirmed: {why}. Instagram may or may not show this post. Check the account; "
        f"if it is not there, run: postpilot post retry {post_id} --force"
    )


def apply(
    decision: RetryDecision,
    *,
    post: Post,
    error_name: str,
    current: PostStatus,
    back_to: PostStatus,
    repo: PostStore,
    metrics: Metrics,
    owner: str,
) -> StepResult:
    """Record ``decision`` for a post we hold in ``current``. ``Action.RECONCILE`` is the caller's (it reads
    the container); every other action ends here."""
    match decision.action:
        case Action.DROP:
            return StepResult(post.id, Outcome.LOST)
        case Action.SETTLE:
            repo.release_lease(post.id, owner=owner, delay_s=decision.delay_s)
            return StepResult(post.id, Outcome.WAITING, decision.message)
        case Action.UNCONFIRM:
            message = unconfirmed_message(post.id, decision.message)
            repo.transition(
                post.id,
                expected=current,
                to=PostStatus.UNCONFIRMED,
                owner=owner,
                kind=EventKind.UNCONFIRMED,
                message=message,
                change=MarkedUnconfirmed(message),
            )
            metrics.observe_outcome("unconfirmed", post.post_type)
            return StepResult(post.id, Outcome.UNCONFIRMED, message)
        case Action.FAIL:
            repo.transition(
                post.id,
                expected=current,
                to=PostStatus.FAILED,
                owner=owner,
                kind=EventKind.FAILED,
                message=decision.message,
                change=Failed(decision.message, attempts=post.attempts + 1),
            )
            metrics.observe_outcome("failed", post.post_type)
            return StepResult(post.id, Outcome.FAILED, decision.message)
        case Action.RETRY | Action.WAIT if current is PostStatus.PUBLISHING and post.publish_attempted_at:
            # media_publish may have gone through: the post must not look ready (or scheduled) while it may be
            # live. It stays publishing, says so, and the reconcile claims it again once the lease is free.
            when = (utcnow() + timedelta(seconds=decision.delay_s)).strftime("%H:%M UTC")
            message = (
                f"being checked: an earlier publish may have gone through; looking again at {when} ({decision.message})"
            )
            repo.update_owned(post.id, owner=owner, status=PostStatus.PUBLISHING, change=CheckingLater(message))
            repo.release_lease(post.id, owner=owner, delay_s=max(1.0, decision.delay_s))
            return StepResult(post.id, Outcome.WAITING, message)
        case Action.RETRY | Action.WAIT | Action.NEW_CONTAINER:
            new_container = decision.action is Action.NEW_CONTAINER
            later = TryLater(
                decision.message,
                delay_s=decision.delay_s,
                attempts=post.attempts + 1 if decision.action is Action.RETRY else None,
                drop_container=new_container,
                container_attempts=post.container_attempts + 1 if new_container else post.container_attempts,
            )
            ok = repo.transition(
                post.id,
                expected=current,
                to=PostStatus.READY if current is PostStatus.READY else back_to,
                owner=owner,
                kind=_EVENT_OF[decision.action],
                message=decision.message,
                detail={"delay_s": round(decision.delay_s, 1), "error": error_name},
                change=later,
            )
            return StepResult(post.id, Outcome.WAITING if ok else Outcome.LOST, decision.message)
        case Action.RECONCILE:
            raise ValueError("a reconcile decision is applied by the publish step itself")
    raise ValueError(f"unknown action {decision.action}")  # pragma: no cover - the match is exhaustive


def apply_to_staging(
    message: str,
    *,
    post: Post,
    new_container: bool,
    repo: PostStore,
    owner: str,
) -> StepResult:
    """A problem while staging ahead that does not fail the post: it stays ready, says why, and staging is
    tried again by a later poll (``STAGE_RETRY_S``)."""
    repo.update_owned(
        post.id,
        owner=owner,
        status=PostStatus.READY,
        change=StagingTrouble(
            message,
            drop_container=new_container,
            container_attempts=post.container_attempts + 1 if new_container else post.container_attempts,
        ),
    )
    repo.release_lease(post.id, owner=owner, delay_s=STAGE_RETRY_S)
    return StepResult(post.id, Outcome.WAITING, message)
