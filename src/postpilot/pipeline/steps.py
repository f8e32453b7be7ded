"""Runs one step (prepare, stage, publish, reconcile) for one post and turns the result into a state change.

The flows (``prepare``, ``stage``, ``publish``) raise our errors; the retry decision (``domain.retry.decide``)
says what each error means for the post, and ``outcome`` applies it with a guarded transition. Nothing
escapes: a bad row or a bug marks that post and the caller carries on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from postpilot.domain import errors
from postpilot.domain.changes import Published
from postpilot.domain.duplicates import held_message
from postpilot.domain.events import EventKind
from postpilot.domain.model import Account, Post, PostStatus, needs_approval, utcnow
from postpilot.domain.retry import Action, RetryPolicy, decide
from postpilot.logging import get_logger
from postpilot.metrics import Metrics
from postpilot.pipeline import outcome
from postpilot.pipeline.edits import EditGuard
from postpilot.pipeline.first_comment import FirstCommentFlow
from postpilot.pipeline.outcome import Outcome, StepResult
from postpilot.pipeline.ports import GraphFactory, GraphSession, PipelineStore
from postpilot.pipeline.prepare import Preparer
from postpilot.pipeline.publish import PublishFlow
from postpilot.pipeline.stage import StagingFlow

log = get_logger("postpilot.pipeline")

# Runs a follow-up job (the permalink read) elsewhere, so the publish worker is free once the post is live.
FollowUp = Callable[[Callable[[], None]], None]


class Pipeline:
    def __init__(
        self,
        *,
        repo: PipelineStore,
        preparer: Preparer,
        staging: StagingFlow,
        publishing: PublishFlow,
        graphs: GraphFactory,
        metrics: Metrics,
        owner: str,
        policy: RetryPolicy | None = None,
        force_dry_run: bool = False,
        comments: FirstCommentFlow | None = None,
        duplicate_window_s: float = 0.0,
    ) -> None:
        self._repo = repo
        self._edits = EditGuard(repo=repo, owner=owner)
        self._preparer = preparer
        self._staging = staging
        self._publishing = publishing
        self._graphs = graphs
        self._metrics = metrics
        self.owner = owner
        self._policy = policy or RetryPolicy()
        self._force_dry_run = force_dry_run
        self._comments = comments
        self._duplicate_window_s = duplicate_window_s

    # ------------------------------------------------------------------ steps
    def prepare(self, post: Post) -> StepResult:
        started = time.monotonic()
        account = self._repo.account(post.account_id)
        try:
            self._hold_if_duplicate(post, account)
            prepared = self._preparer.prepare(post, account)
        except Exception as exc:
            return self._after_error(post, exc, back_to=PostStatus.SCHEDULED, account=account)
        self._metrics.observe_stage("prepare", time.monotonic() - started)
        ok = self._repo.transition(
            post.id,
            expected=PostStatus.PREPARING,
            to=PostStatus.READY,
            owner=self.owner,
            kind=EventKind.PREPARED,
            message=f"{len(prepared.media)} media item(s) ready",
            detail={"generated": prepared.generated, "cost_usd": round(prepared.spent_usd, 4)},
            change=prepared.filled,
        )
        if ok and needs_approval(post, account):
            # Prepared as usual, then it waits: no container, no publish until a person approves it.
            self._repo.await_approval(post.id, owner=self.owner)
        return StepResult(post.id, Outcome.READY if ok else Outcome.LOST)

    def _hold_if_duplicate(self, post: Post, account: Account | None) -> None:
        """Before any money is spent: a post repeating a recent one of the account is held for a person."""
        if account is None or not account.duplicate_guard or post.allow_duplicate or self._duplicate_window_s <= 0:
            return
        other = self._repo.find_duplicate(post, window_s=self._duplicate_window_s)
        if other is not None:
            when = other.published_at or other.scheduled_at
            raise errors.DuplicateHeld(held_message(post, other, window_s=self._duplicate_window_s, when=when))

    def stage(self, post: Post) -> StepResult:
        """Create containers ahead of time for a ``ready`` post we hold a lease on; the status stays ready."""
        started = time.monotonic()
        account = self._repo.account(post.account_id)
        try:
            if account is None:
                raise errors.InvalidInput("the account does not exist (see postpilot account list)")
            reopened = self._edits.reopen_if_edited(post, expected=PostStatus.READY)
            if reopened is not None:
                return reopened
            graph = self._session(account)
            self._refuse_unreachable_media(post, graph)
            try:
                self._staging.stage(graph.api, post, account, owner=self.owner, status=PostStatus.READY)
            finally:
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
        graph: GraphSession | None = None
        try:
            if account is None:
                raise errors.InvalidInput("the account does not exist (see postpilot account list)")
            if not reconcile and post.publish_attempted_at is None:
                reopened = self._edits.reopen_if_edited(post, expected=PostStatus.PUBLISHING)
                if reopened is not None:
                    return reopened
            graph = self._session(account, urgent=True)
            if post.container_id is None and post.publish_attempted_at is None:
                self._refuse_unreachable_media(post, graph)
            flow = self._publishing.reconcile if reconcile else self._publishing.publish
            result = flow(graph.api, post, account, owner=self.owner)
        except Exception as exc:
            if graph is not None:
                self._record_dry_run(post, graph, "publish")
            return self._after_error(self._as_recorded(post), exc, back_to=PostStatus.READY, account=account)
        dry = graph.dry_run
        permalink = result.permalink
        if dry and result.media_id and not permalink:
            # The recorded requests show the whole exchange, the permalink read included.
            permalink = self._publishing.permalink(graph.api, result.media_id)
        self._record_dry_run(post, graph, "publish")
        final = PostStatus.SIMULATED if dry else PostStatus.PUBLISHED
        message = "recovered: Instagram shows the post as published" if result.recovered else None
        ok = self._repo.transition(
            post.id,
            expected=PostStatus.PUBLISHING,
            to=final,
            owner=self.owner,
            kind=EventKind.SIMULATED if dry else EventKind.PUBLISHED,
            message=message,
            detail={"media_id": result.media_id, "permalink": permalink},
            change=Published(result.media_id, permalink),
        )
        if not ok:
            return StepResult(post.id, Outcome.LOST)
        if not reconcile:
            self._edits.report_late_edit(post)
        self._metrics.observe_stage("publish", time.monotonic() - started)
        self._metrics.observe_outcome(final.value, post.post_type)
        self._metrics.observe_lateness((utcnow() - post.scheduled_at).total_seconds())
        log.info("post_published" if not dry else "post_simulated", post_id=post.id, media_id=result.media_id)
        jobs = []
        if result.media_id and not permalink and not dry:
            jobs.append(self._permalink_job(post.id, graph, result.media_id))
        if self._comments is not None and (post.first_comment or "").strip():
            jobs.append(self._first_comment_job(post.id))
        for job in jobs:
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
            graph = self._session(account)
        except errors.PostpilotError:
            return  # the account needs reconnecting or is throttled: a later backfill tries again
        self._permalink_job(post.id, graph, post.ig_media_id)()

    def _permalink_job(self, post_id: int, graph: GraphSession, media_id: str) -> Callable[[], None]:
        def fill() -> None:
            try:
                permalink = self._publishing.permalink(graph.api, media_id)
                if permalink:
                    self._repo.set_permalink(post_id, media_id=media_id, permalink=permalink)
            except Exception as exc:  # best effort: the post is live and recorded whatever happens here
                log.warning("permalink_not_recorded", post_id=post_id, error=type(exc).__name__)

        return fill

    def _first_comment_job(self, post_id: int) -> Callable[[], None]:
        comments = self._comments
        assert comments is not None

        def post() -> None:
            try:
                comments.run_due(post_id=post_id)
            except Exception as exc:  # the daemon's first-comment job picks it up later
                log.warning("first_comment_deferred", post_id=post_id, error=type(exc).__name__)

        return post

    def _refuse_unreachable_media(self, post: Post, graph: GraphSession) -> None:
        """A ``file://`` image (the local store without POSTPILOT_PUBLIC_MEDIA_URL) cannot be downloaded by
        Instagram: refuse it before any Graph API call, with what to do, instead of letting Meta say it."""
        if graph.dry_run:
            return
        local = [m for m in self._repo.media(post.id) if (m.stored_url or "").startswith("file:")]
        if local:
            raise errors.Permanent(
                "the images are stored on this machine only (file://…), which Instagram cannot download: serve "
                "the media directory publicly and set POSTPILOT_PUBLIC_MEDIA_URL (or use Cloudinary), restart, "
                f"then run postpilot post retry {post.id}"
            )

    # ------------------------------------------------------------------ helpers
    def _session(self, account: Account, *, urgent: bool = False) -> GraphSession:
        if not (account.dry_run or self._force_dry_run):
            if account.needs_reconnect:
                raise errors.NeedsReconnect(
                    account.last_error
                    or f"the Instagram account {account.name!r} must be reconnected: "
                    f"postpilot account connect {account.name}"
                )
            until = self._repo.account_throttled_until(account.id)
            if until is not None and until > utcnow():
                raise errors.Throttled(
                    "Instagram asked us to slow down for this account",
                    retry_after_s=(until - utcnow()).total_seconds(),
                )
        return self._graphs(account, urgent=urgent)

    def _record_dry_run(self, post: Post, graph: GraphSession, step: str) -> None:
        requests = graph.recorded()
        if requests:
            self._repo.add_event(
                post.id,
                EventKind.DRY_RUN_REQUESTS,
                message=f"{len(requests)} Graph API request(s) not sent ({step})",
                detail={"requests": requests},
                actor=self.owner,
            )

    def _after_stage_error(self, post: Post, exc: Exception, account: Account | None) -> StepResult:
        self._count_error(exc)
        new_container = isinstance(exc, errors.NeedsNewContainer)
        # Staging ahead spends no attempts; a dead container counts towards the post's new-container limit.
        decision = decide(
            exc,
            attempts=0,
            container_attempts=post.container_attempts + 1 if new_container else post.container_attempts,
            policy=self._policy,
        )
        if decision.action is Action.DROP:
            return StepResult(post.id, Outcome.LOST)
        if decision.action is Action.FAIL:
            return self._after_error(post, exc, back_to=PostStatus.READY, account=account, status=PostStatus.READY)
        self._side_effects(exc, account)
        if not isinstance(exc, errors.PostpilotError):
            log.error("stage_crashed", post_id=post.id, exc_info=exc)
        message = exc.message if isinstance(exc, errors.PostpilotError) else f"internal error: {type(exc).__name__}"
        return outcome.apply_to_staging(
            message, post=post, new_container=new_container, repo=self._repo, owner=self.owner
        )

    def _as_recorded(self, post: Post) -> Post:
        """The post as the database has it after a failed publish step. The step may have recorded its
        attempt after the claim was read (``publish_attempted_at``), and the outcome must know that
        media_publish may have gone out: a post that may be live never goes back to ``ready``. When the
        database cannot be read either (it is what failed), the attempt is assumed: the post stays
        ``publishing`` and the reconcile finds out, which never publishes twice."""
        try:
            fresh = self._repo.post(post.id)
        except Exception as exc:
            log.warning("post_not_reread", post_id=post.id, error=type(exc).__name__)
            return replace(post, publish_attempted_at=post.publish_attempted_at or utcnow())
        return fresh if fresh is not None else post

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
        if status is None and not isinstance(exc, errors.Conflict):
            self._count_error(exc)
        if not isinstance(exc, errors.PostpilotError):
            log.error("step_crashed", post_id=post.id, exc_info=exc)
        container_attempts = post.container_attempts
        if status is PostStatus.READY and isinstance(exc, errors.NeedsNewContainer):
            container_attempts += 1  # staging ahead: this dead container counts
        decision = decide(exc, attempts=post.attempts + 1, container_attempts=container_attempts, policy=self._policy)
        if decision.action not in (Action.DROP, Action.SETTLE, Action.UNCONFIRM):
            self._side_effects(exc, account)
        if decision.action is Action.RECONCILE:
            fresh = self._repo.post(post.id)
            if fresh is None or fresh.lease_owner != self.owner or fresh.status is not PostStatus.PUBLISHING:
                return StepResult(post.id, Outcome.LOST)
            return self._publish(fresh, reconcile=True)
        result = outcome.apply(
            decision,
            post=post,
            error_name=type(exc).__name__,
            current=current,
            back_to=back_to,
            repo=self._repo,
            metrics=self._metrics,
            owner=self.owner,
        )
        if result.outcome is Outcome.FAILED:
            log.warning("post_failed", post_id=post.id, reason=decision.message)
        return result

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
