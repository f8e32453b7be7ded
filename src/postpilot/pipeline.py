"""Runs one step (prepare, stage, publish, reconcile) for one post and turns the result into a state change.

The steps themselves (``preparation``, ``instagram.publishing``) raise our errors; here the retry decision
(``domain.retry.decide``) says what each error means for the post, and the repository applies it with a
guarded transition. Nothing escapes: a bad row or a bug marks that post and the caller carries on.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from postpilot.db.repository import Repository
from postpilot.db.rows import published_at_or_now
from postpilot.db.types import db_now_plus
from postpilot.domain import errors
from postpilot.domain.model import Account, Post, PostStatus, utcnow
from postpilot.domain.retry import Action, RetryPolicy, decide
from postpilot.instagram.client import GraphApi
from postpilot.instagram.publishing import PublishFlow, Settling, StagingFlow, Unconfirmed
from postpilot.instagram.recording import RecordingGraphClient
from postpilot.logging import get_logger
from postpilot.metrics import Metrics
from postpilot.preparation import Preparer

log = get_logger("postpilot.pipeline")


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


class GraphFactory(Protocol):
    """Builds the Graph client for an account. ``urgent``: the calls are for a post due now, so Meta's usage
    budgets near their limit do not hold them back (``instagram.usage``)."""

    def __call__(self, account: Account, *, urgent: bool = False) -> GraphApi: ...


# Runs a follow-up job (the permalink read) elsewhere, so the publish worker is free once the post is live.
FollowUp = Callable[[Callable[[], None]], None]


class Pipeline:
    def __init__(
        self,
        *,
        repo: Repository,
        preparer: Preparer,
        staging: StagingFlow,
        publishing: PublishFlow,
        graph_for: GraphFactory,
        dry_run_graph_for: Callable[[Account], RecordingGraphClient],
        metrics: Metrics,
        owner: str,
        policy: RetryPolicy | None = None,
        force_dry_run: bool = False,
    ) -> None:
        self._repo = repo
        self._preparer = preparer
        self._staging = staging
        self._publishing = publishing
        self._graph_for = graph_for
        self._dry_run_graph_for = dry_run_graph_for
        self._metrics = metrics
        self.owner = owner
        self._policy = policy or RetryPolicy()
        self._force_dry_run = force_dry_run

    # ------------------------------------------------------------------ steps
    def prepare(self, post: Post) -> StepResult:
        started = time.monotonic()
        account = self._repo.account(post.account_id)
        try:
            prepared = self._preparer.prepare(post, account)
        except Exception as exc:
            return self._after_error(post, exc, back_to=PostStatus.SCHEDULED, account=account)
        self._metrics.observe_stage("prepare", time.monotonic() - started)
        ok = self._repo.transition(
            post.id,
            expected=PostStatus.PREPARING,
            to=PostStatus.READY,
            owner=self.owner,
            kind="prepared",
            message=f"{len(prepared.media)} media item(s) ready",
            detail={"generated": prepared.generated, "cost_usd": round(prepared.spent_usd, 4)},
            values={**prepared.row_updates, "last_error": None, "next_attempt_at": None},
        )
        return StepResult(post.id, Outcome.READY if ok else Outcome.LOST)

    def stage(self, post: Post) -> StepResult:
        """Create containers ahead of time for a ``ready`` post we hold a lease on; the status stays ready."""
        started = time.monotonic()
        account = self._repo.account(post.account_id)
        try:
            if account is None:
                raise errors.InvalidInput("the account does not exist (see postpilot account list)")
            graph = self._graph(account)
            self._staging.stage(graph, post, account, owner=self.owner, status=PostStatus.READY)
            self._record_dry_run(post, graph, "stage")
        except Exception as exc:
            return self._after_stage_error(post, exc, account)
        self._metrics.observe_stage("stage", time.monotonic() - started)
        self._repo.release_lease(post.id, owner=self.owner)
        return StepResult(post.id, Outcome.STAGED)

    def publish(self, post: Post, *, follow_up: FollowUp | None = None) -> StepResult:
        """``follow_up`` takes the permalink read off this thread; without it the read happens inline."""
        return self._publish(post, reconcile=False, follow_up=follow_up)

    def reconcile(self, post: Post, *, follow_up: FollowUp | None = None) -> StepResult:
        return self._publish(post, reconcile=True, follow_up=follow_up)

    def _publish(self, post: Post, *, reconcile: bool, follow_up: FollowUp | None = None) -> StepResult:
        started = time.monotonic()
        account = self._repo.account(post.account_id)
        graph: GraphApi | None = None
        try:
            if account is None:
                raise errors.InvalidInput("the account does not exist (see postpilot account list)")
            graph = self._graph(account, urgent=True)
            flow = self._publishing.reconcile if reconcile else self._publishing.publish
            result = flow(graph, post, account, owner=self.owner)
        except Exception as exc:
            if graph is not None:
                self._record_dry_run(post, graph, "publish")
            return self._after_error(post, exc, back_to=PostStatus.READY, account=account)
        dry = isinstance(graph, RecordingGraphClient)
        permalink = result.permalink
        if dry and result.media_id and not permalink:
            # The recorded requests show the whole exchange, the permalink read included.
            permalink = self._publishing.permalink(graph, result.media_id)
        self._record_dry_run(post, graph, "publish")
        final = PostStatus.SIMULATED if dry else PostStatus.PUBLISHED
        message = "recovered: Instagram shows the post as published" if result.recovered else None
        ok = self._repo.transition(
            post.id,
            expected=PostStatus.PUBLISHING,
            to=final,
            owner=self.owner,
            kind="simulated" if dry else "published",
            message=message,
            detail={"media_id": result.media_id, "permalink": permalink},
            values={
                "ig_media_id": result.media_id,
                "permalink": permalink,
                # Set when media_publish returned; only a recovered post gets the time we learned of it.
                "published_at": published_at_or_now(),
                "last_error": None,
                "next_attempt_at": None,
            },
        )
        if not ok:
            return StepResult(post.id, Outcome.LOST)
        self._metrics.observe_stage("publish", time.monotonic() - started)
        self._metrics.observe_outcome(final.value, post.post_type)
        self._metrics.observe_lateness((utcnow() - post.scheduled_at).total_seconds())
        log.info("post_published" if not dry else "post_simulated", post_id=post.id, media_id=result.media_id)
        if result.media_id and not permalink and graph is not None and not dry:
            job = self._permalink_job(post.id, graph, result.media_id)
            if follow_up is None:
                job()
            else:
                follow_up(job)
        return StepResult(post.id, Outcome.SIMULATED if dry else Outcome.PUBLISHED)

    def fill_permalink(self, post: Post) -> None:
        """Read the permalink of a published post that has none yet (best effort; the backfill's step)."""
        account = self._repo.account(post.account_id)
        if account is None or account.dry_run or self._force_dry_run or not post.ig_media_id:
            return
        try:
            graph = self._graph(account)
        except errors.PostpilotError:
            return  # the account needs reconnecting or is throttled: a later backfill tries again
        self._permalink_job(post.id, graph, post.ig_media_id)()

    def _permalink_job(self, post_id: int, graph: GraphApi, media_id: str) -> Callable[[], None]:
        def fill() -> None:
            try:
                permalink = self._publishing.permalink(graph, media_id)
                if permalink:
                    self._repo.set_permalink(post_id, media_id=media_id, permalink=permalink)
            except Exception as exc:  # best effort: the post is live and recorded whatever happens here
                log.warning("permalink_not_recorded", post_id=post_id, error=type(exc).__name__)

        return fill

    # ------------------------------------------------------------------ helpers
    def _graph(self, account: Account, *, urgent: bool = False) -> GraphApi:
        if account.dry_run or self._force_dry_run:
            return self._dry_run_graph_for(account)
        if account.needs_reconnect:
            raise errors.NeedsReconnect(
                account.last_error
                or f"the Instagram account {account.name!r} must be reconnected: "
                f"postpilot account connect {account.name}"
            )
        until = self._repo.account_throttled_until(account.id)
        if until is not None and until > utcnow():
            raise errors.Throttled(
                "Instagram asked us to slow down for this account", retry_after_s=(until - utcnow()).total_seconds()
            )
        return self._graph_for(account, urgent=urgent)

    def _record_dry_run(self, post: Post, graph: GraphApi | None, step: str) -> None:
        if isinstance(graph, RecordingGraphClient):
            requests = [r.as_dict() for r in graph.drain()]
            if requests:
                self._repo.add_event(
                    post.id,
                    "dry_run_requests",
                    message=f"{len(requests)} Graph API request(s) not sent ({step})",
                    detail={"requests": requests},
                    actor=self.owner,
                )

    def _after_stage_error(self, post: Post, exc: Exception, account: Account | None) -> StepResult:
        self._count_error(exc)
        if isinstance(exc, errors.Conflict):
            return StepResult(post.id, Outcome.LOST)
        if isinstance(exc, errors.Permanent | errors.InvalidInput):
            return self._after_error(post, exc, back_to=PostStatus.READY, account=account, status=PostStatus.READY)
        if isinstance(exc, errors.NeedsNewContainer) and post.container_attempts + 1 >= self._policy.max_new_containers:
            # The last new container this post may have: the retry decision fails it with its reason.
            exhausted = dataclasses.replace(post, container_attempts=post.container_attempts + 1)
            return self._after_error(exhausted, exc, back_to=PostStatus.READY, account=account, status=PostStatus.READY)
        message = exc.message if isinstance(exc, errors.PostpilotError) else f"internal error: {type(exc).__name__}"
        self._side_effects(exc, account)
        values: dict[str, Any] = {"last_error": f"staging: {message}"}
        if isinstance(exc, errors.NeedsNewContainer):
            values.update(container_id=None, container_attempts=post.container_attempts + 1)
            self._repo.clear_containers(post.id)
        self._repo.update_owned(post.id, owner=self.owner, status=PostStatus.READY, values=values)
        # Staging is retried by a later poll; at the scheduled time the publish step stages inline anyway.
        self._repo.release_lease(post.id, owner=self.owner, delay_s=60.0)
        if not isinstance(exc, errors.PostpilotError):
            log.error("stage_crashed", post_id=post.id, exc_info=exc)
        return StepResult(post.id, Outcome.WAITING, message)

    def _after_error(
        self,
        post: Post,
        exc: Exception,
        *,
        back_to: PostStatus,
        account: Account | None,
        status: PostStatus | None = None,
    ) -> StepResult:
        """Apply the retry decision for ``exc`` to a post we hold."""
        current = status or (PostStatus.PREPARING if back_to is PostStatus.SCHEDULED else PostStatus.PUBLISHING)
        if isinstance(exc, errors.Conflict):
            return StepResult(post.id, Outcome.LOST)
        if status is None:
            self._count_error(exc)
        if not isinstance(exc, errors.PostpilotError):
            log.error("step_crashed", post_id=post.id, exc_info=exc)
        if isinstance(exc, Settling):
            self._repo.release_lease(post.id, owner=self.owner, delay_s=max(1.0, exc.wait_s))
            return StepResult(post.id, Outcome.WAITING, exc.message)
        if isinstance(exc, Unconfirmed):
            message = (
                f"Unconfirmed: {exc.message}. Instagram may or may not show this post. Check the account; "
                f"if it is not there, run: postpilot post retry {post.id} --force"
            )
            self._repo.transition(
                post.id,
                expected=current,
                to=PostStatus.UNCONFIRMED,
                owner=self.owner,
                kind="unconfirmed",
                message=message,
                values={"last_error": message},
            )
            self._metrics.observe_outcome("unconfirmed", post.post_type)
            return StepResult(post.id, Outcome.UNCONFIRMED, message)
        self._side_effects(exc, account)
        decision = decide(
            exc, attempts=post.attempts + 1, container_attempts=post.container_attempts, policy=self._policy
        )
        if decision.action is Action.RECONCILE:
            fresh = self._repo.post(post.id)
            if fresh is None or fresh.lease_owner != self.owner or fresh.status is not PostStatus.PUBLISHING:
                return StepResult(post.id, Outcome.LOST)
            return self._publish(fresh, reconcile=True)
        if decision.action is Action.FAIL:
            self._repo.transition(
                post.id,
                expected=current,
                to=PostStatus.FAILED,
                owner=self.owner,
                kind="failed",
                message=decision.message,
                values={"last_error": decision.message, "attempts": post.attempts + 1},
            )
            self._metrics.observe_outcome("failed", post.post_type)
            log.warning("post_failed", post_id=post.id, reason=decision.message)
            return StepResult(post.id, Outcome.FAILED, decision.message)
        values: dict[str, Any] = {"last_error": decision.message, "next_attempt_at": db_now_plus(decision.delay_s)}
        kind = "retry_scheduled"
        if decision.action is Action.RETRY:
            values["attempts"] = post.attempts + 1
        elif decision.action is Action.WAIT:
            kind = "waiting"
        elif decision.action is Action.NEW_CONTAINER:
            kind = "new_container"
            values.update(
                container_id=None,
                publish_attempted_at=None,
                container_attempts=post.container_attempts + 1,
                # Most dead containers are remade at once; a failed media download waits a little first.
                next_attempt_at=db_now_plus(decision.delay_s) if decision.delay_s > 0 else None,
            )
            self._repo.clear_containers(post.id)
        target = back_to
        if current is PostStatus.READY:
            target = PostStatus.READY
        ok = self._repo.transition(
            post.id,
            expected=current,
            to=target,
            owner=self.owner,
            kind=kind,
            message=decision.message,
            detail={"delay_s": round(decision.delay_s, 1), "error": type(exc).__name__},
            values=values,
        )
        return StepResult(post.id, Outcome.WAITING if ok else Outcome.LOST, decision.message)

    def _side_effects(self, exc: Exception, account: Account | None) -> None:
        if account is None:
            return
        if isinstance(exc, errors.NeedsReconnect):
            self._repo.mark_account_needs_reconnect(account.id, exc.message)
        elif isinstance(exc, errors.Throttled) and exc.retry_after_s and not isinstance(exc, errors.SlowingDown):
            # Meta's own refusal pauses the whole account; our own hold (SlowingDown) keeps media_publish free.
            self._repo.set_account_throttled(account.id, exc.retry_after_s, exc.message)

    def _count_error(self, exc: Exception) -> None:
        self._metrics.count_error(type(exc).__name__)
