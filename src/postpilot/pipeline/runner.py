"""Claiming work and running it on bounded thread pools; shared by ``run-once`` and the daemon.

Three pools, so that the step with a deadline never queues behind one without: ``publish``
(POSTPILOT_WORKERS) for publish and reconcile, the round trip at the scheduled instant; ``stage``
(POSTPILOT_STAGE_WORKERS) for creating containers minutes ahead; ``prepare`` (POSTPILOT_GENERATION_WORKERS)
for preparation, which is slow and costs money. A small ``follow-up`` pool reads permalinks after posts are
recorded live, so a publish thread is free for the next due post as soon as ``media_publish`` has returned.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from postpilot.config import Settings
from postpilot.domain.model import Post, PostStatus, PostType
from postpilot.logging import get_logger
from postpilot.metrics import Metrics
from postpilot.pipeline.outcome import Outcome, StepResult
from postpilot.pipeline.ports import WorkQueue
from postpilot.pipeline.steps import Pipeline

log = get_logger("postpilot.runner")


@dataclass
class Tally:
    """Outcomes of the steps run so far (for run-once's summary and exit code)."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: StepResult) -> None:
        with self._lock:
            self.counts[result.outcome.value] = self.counts.get(result.outcome.value, 0) + 1
            if result.outcome in (Outcome.FAILED, Outcome.UNCONFIRMED) and result.message:
                self.problems.append(f"post {result.post_id}: {result.message}")

    def add_missed(self, post_ids: list[int]) -> None:
        with self._lock:
            if post_ids:
                self.counts["missed"] = self.counts.get("missed", 0) + len(post_ids)
                self.problems += [
                    f"post {i}: missed: it was not published within the allowed lateness" for i in post_ids
                ]

    @property
    def failed(self) -> bool:
        return bool(self.counts.get("failed") or self.counts.get("unconfirmed") or self.counts.get("missed"))


FOLLOW_UP_THREADS = 2

# Which pool runs a post claimed in each status (ready posts are claimed for staging).
_POOL_OF = {
    PostStatus.PREPARING: "prepare",
    PostStatus.READY: "stage",
    PostStatus.PUBLISHING: "publish",
}


class Runner:
    def __init__(
        self,
        *,
        settings: Settings,
        repo: WorkQueue,
        pipeline: Pipeline,
        metrics: Metrics,
        owner: str,
        on_result: Callable[[StepResult], None] | None = None,
    ) -> None:
        self.settings = settings
        self._repo = repo
        self._pipeline = pipeline
        self._metrics = metrics
        self.owner = owner
        self.tally = Tally()
        self._on_result = on_result
        self.publish_pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="publish")
        self.stage_pool = ThreadPoolExecutor(self.settings.stage_workers, thread_name_prefix="stage")
        self.prepare_pool = ThreadPoolExecutor(self.settings.generation_workers, thread_name_prefix="prepare")
        self.follow_up_pool = ThreadPoolExecutor(FOLLOW_UP_THREADS, thread_name_prefix="follow-up")
        # Re-entrant: cancelling futures in ``shutdown`` (under this lock) runs their ``_forget`` callbacks
        # in the same thread.
        self._lock = threading.RLock()
        self._inflight: dict[int, tuple[Future[StepResult], PostStatus]] = {}

    # ------------------------------------------------------------------ capacity
    def _threads(self) -> dict[str, int]:
        s = self.settings
        return {"publish": s.workers, "stage": s.stage_workers, "prepare": s.generation_workers}

    def _busy(self) -> dict[str, int]:
        """Claimed posts not finished yet (running or queued), per pool."""
        busy = dict.fromkeys(self._threads(), 0)
        with self._lock:
            for future, status in self._inflight.values():
                if not future.done():
                    busy[_POOL_OF[status]] += 1
        return busy

    def free(self, pool: str) -> int:
        # Claim a little ahead of the pool so a finishing worker always finds the next post queued.
        return max(0, self._threads()[pool] * 2 - self._busy()[pool])

    def report_load(self) -> None:
        """Publish each pool's load as metrics (claimed and unfinished posts against its threads)."""
        busy = self._busy()
        for pool, threads in self._threads().items():
            self._metrics.set_pool_load(pool, posts=busy[pool], threads=threads)

    def inflight_ids(self) -> list[int]:
        with self._lock:
            return [pid for pid, (f, _) in self._inflight.items() if not f.done()]

    # ------------------------------------------------------------------ submitting
    def _submit(
        self, pool: ThreadPoolExecutor, post: Post, status: PostStatus, step: Callable[[Post], StepResult]
    ) -> Future[StepResult]:
        def run() -> StepResult:
            try:
                result = step(post)
            except Exception as exc:
                log.error("step_escaped", post_id=post.id, exc_info=exc)
                result = StepResult(post.id, Outcome.WAITING, "internal error")
            self.tally.add(result)
            if self._on_result:
                self._on_result(result)
            return result

        # Submitting and recording happen under the lock that ``shutdown`` holds while it takes its snapshot
        # and cancels: a post is either in the snapshot (given back if cancelled) or refused by the pool.
        with self._lock:
            try:
                future = pool.submit(run)
            except RuntimeError:
                refused = True
            else:
                refused = False
                self._inflight[post.id] = (future, status)
        if refused:
            # The pools shut down while this post was being claimed (a signal during a poll or a date job):
            # give it back now rather than leave it leased until the lease runs out.
            self._repo.unclaim(post.id, owner=self.owner, status=status)
            given_back: Future[StepResult] = Future()
            given_back.set_result(StepResult(post.id, Outcome.LOST, "given back: shutting down"))
            return given_back
        post_id = post.id
        future.add_done_callback(lambda done: self._forget(post_id, done))
        return future

    def _forget(self, post_id: int, future: Future[StepResult]) -> None:
        with self._lock:
            current = self._inflight.get(post_id)
            if current is not None and current[0] is future:
                del self._inflight[post_id]

    # ------------------------------------------------------------------ claiming
    def _count_claims(self, step: str, posts: list[Post]) -> None:
        self._metrics.count_claims(step, len(posts))
        if posts:  # POSTPILOT_LOG_LEVEL=debug: which posts each claim took
            log.debug("claimed", step=step, post_ids=[p.id for p in posts][:50], count=len(posts))

    def reconcile_stale(self, batch: int | None = None) -> list[Future[StepResult]]:
        s = self.settings
        posts = self._repo.claim_stale_publishing(owner=self.owner, lease_s=s.lease_s, batch=batch or s.claim_batch)
        self._count_claims("reconcile", posts)
        return [self._submit(self.publish_pool, p, PostStatus.PUBLISHING, self._reconcile_step) for p in posts]

    def prepare_due(self, *, ahead_s: float, batch: int | None = None) -> list[Future[StepResult]]:
        s = self.settings
        n = batch if batch is not None else min(s.claim_batch, self.free("prepare"))
        if n <= 0:
            return []
        posts = self._repo.claim_for_prepare(owner=self.owner, ahead_s=ahead_s, lease_s=s.lease_s, batch=n)
        self._count_claims("prepare", posts)
        return [self._submit(self.prepare_pool, p, PostStatus.PREPARING, self._pipeline.prepare) for p in posts]

    def stage_upcoming(self, batch: int | None = None) -> list[Future[StepResult]]:
        s = self.settings
        n = batch if batch is not None else min(s.claim_batch, self.free("stage"))
        if n <= 0:
            return []
        posts = self._repo.claim_for_stage(owner=self.owner, ahead_s=s.stage_ahead_s, lease_s=s.lease_s, batch=n)
        self._count_claims("stage", posts)
        return [self._submit(self.stage_pool, p, PostStatus.READY, self._pipeline.stage) for p in posts]

    def publish_due(self, batch: int | None = None, *, post_id: int | None = None) -> list[Future[StepResult]]:
        s = self.settings
        n = batch if batch is not None else min(s.claim_batch, self.free("publish"))
        if n <= 0:
            return []
        posts = self._repo.claim_for_publish(owner=self.owner, lease_s=s.lease_s, batch=n, post_id=post_id)
        self._count_claims("publish", posts)
        return [self._submit(self.publish_pool, p, PostStatus.PUBLISHING, self._publish_step) for p in posts]

    def _publish_step(self, post: Post) -> StepResult:
        return self._pipeline.publish(post, follow_up=self._follow_up)

    def _reconcile_step(self, post: Post) -> StepResult:
        return self._pipeline.reconcile(post, follow_up=self._follow_up)

    def _follow_up(self, job: Callable[[], None]) -> None:
        try:
            self.follow_up_pool.submit(job)
        except RuntimeError:  # shutting down: do it here rather than drop it
            job()

    def backfill_permalinks(self, *, older_than_s: float = 120.0, within_s: float = 6 * 3600.0) -> int:
        """Queue permalink reads for published posts that missed theirs; returns how many were queued."""
        posts = self._repo.missing_permalinks(older_than_s=older_than_s, within_s=within_s)
        for post in posts:
            self._follow_up(functools.partial(self._pipeline.fill_permalink, post))
        return len(posts)

    def fail_missed(self) -> int:
        ids = self._repo.fail_missed(max_lateness_s=self.settings.max_lateness_s)
        self.tally.add_missed(ids)
        for missed in self._repo.posts_by_ids(ids) if ids else []:
            # A row's post_type may be anything a marketer typed; the metric takes only the three kinds.
            kind = missed.post_type if missed.post_type in {t.value for t in PostType} else PostType.PHOTO.value
            self._metrics.observe_outcome("missed", kind)
        if ids:
            log.warning("posts_missed", post_ids=ids[:20], count=len(ids))
        return len(ids)

    def renew_leases(self) -> None:
        ids = self.inflight_ids()
        if ids:
            self._repo.renew_leases(ids, owner=self.owner, lease_s=self.settings.lease_s)

    # ------------------------------------------------------------------ stopping
    def shutdown(self, *, timeout_s: float) -> bool:
        """Stop taking work, give back posts whose work never started, wait a bounded time for the rest, and give
        back what is still running after that. True when every step ended in time."""
        # Snapshot before cancelling: a cancelled future runs its done-callback (``_forget``) at once, which
        # would drop it from ``_inflight`` and leave its post claimed until the lease ran out. Both under the
        # lock, so no submit slips in between (see ``_submit``).
        with self._lock:
            pending = [(pid, f, st) for pid, (f, st) in self._inflight.items()]
            for pool in (self.publish_pool, self.stage_pool, self.prepare_pool):
                pool.shutdown(wait=False, cancel_futures=True)
        for pid, future, status in pending:
            if future.cancelled():
                self._repo.unclaim(pid, owner=self.owner, status=status)
        done = threading.Event()

        def wait_all() -> None:
            for _pid, future, _st in pending:
                if not future.cancelled():
                    # The step records its own outcome; here we only wait for it to end.
                    with contextlib.suppress(Exception):
                        future.result()
            # Then the permalink reads the finished steps queued (each one bounded by the HTTP timeout).
            self.follow_up_pool.shutdown(wait=True)
            done.set()

        waiter = threading.Thread(target=wait_all, daemon=True)
        waiter.start()
        if done.wait(timeout_s):
            return True
        # Still running (a download that drips, a slow answer): give the posts back so another process takes
        # them over at once. The step's own later writes are refused (they are guarded by the lease owner), and
        # a post with a publish attempt on record only loses its lease and is reconciled, never re-sent blindly.
        still = [(pid, st) for pid, future, st in pending if not future.done()]
        for pid, status in still:
            try:
                self._repo.unclaim(pid, owner=self.owner, status=status)
            except Exception as exc:  # the database is away: the lease and the heartbeat age out instead
                log.warning("give_back_failed", post_id=pid, error=type(exc).__name__)
        log.warning("drain_timeout", given_back=[pid for pid, _ in still])
        return False
