"""What the daemon runs on its scheduler (``daemon.py`` says when).

The poll reconciles, prepares, stages and publishes what is due, and gives each prepared post due soon a date job
at its exact ``scheduled_at``. The other jobs are passes beside it; each is best effort: a failure is logged and
the next run tries again. Once draining has begun no job starts new work (the dependency check excepted: it
touches no post).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.base import BaseScheduler

from postpilot.config import Settings
from postpilot.db.alerts import APPROVAL_REMINDER_BEFORE_S
from postpilot.db.repository import Repository
from postpilot.db.series import horizon_s as series_horizon_s
from postpilot.domain.model import utcnow
from postpilot.logging import get_logger
from postpilot.metrics import Metrics
from postpilot.pipeline.runner import Runner
from postpilot.sdnotify import SystemdNotifier
from postpilot.tokens import TokenRefresher
from postpilot.watch import DependencyWatch

if TYPE_CHECKING:
    from postpilot.pipeline.first_comment import FirstCommentFlow

# The daemon's logger: the jobs' events are the daemon's, wherever the code sits.
log = get_logger("postpilot.daemon")


class DaemonJobs:
    """The jobs, and what the poll last saw (``last_poll_ok``, ``last_poll_error``: readiness and /status)."""

    def __init__(
        self,
        *,
        settings: Settings,
        repo: Repository,
        metrics: Metrics,
        runner: Runner,
        watch: DependencyWatch,
        tokens: TokenRefresher,
        scheduler: BaseScheduler,
        notifier: SystemdNotifier,
        stopping: threading.Event,
        draining: Callable[[], bool],
        ready_sent: threading.Event,
        comments: FirstCommentFlow | None = None,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.metrics = metrics
        self.runner = runner
        self.watch = watch
        self.tokens = tokens
        self.scheduler = scheduler  # the poll adds the date jobs to it
        self.notifier = notifier
        self.stopping = stopping
        self.draining = draining
        # The first poll can finish before the daemon announces READY=1; systemd expects READY first.
        self.ready_sent = ready_sent
        self.comments = comments
        self.last_poll_ok: datetime | None = None
        self.last_poll_error: str | None = None
        self._scheduled: dict[int, datetime] = {}

    # ------------------------------------------------------------------ the poll
    def poll(self) -> None:
        if self.draining() or self.stopping.is_set():
            return
        started = time.monotonic()
        try:
            self.runner.fail_missed()
            self.runner.reconcile_stale()
            self.runner.prepare_due(ahead_s=self.settings.prepare_ahead_s)
            self.runner.stage_upcoming()
            self.runner.publish_due()
            self._schedule_precise_jobs()
            self._update_backlog()
            self.runner.report_load()
        except Exception as exc:
            self.last_poll_error = type(exc).__name__
            log.warning("poll_failed", error=str(exc)[:300])
            self.metrics.count_error(type(exc).__name__)
            return
        self.last_poll_ok = utcnow()
        self.last_poll_error = None
        self.metrics.poll_succeeded(self.last_poll_ok, time.monotonic() - started)
        log.debug(
            "poll_done", ms=round((time.monotonic() - started) * 1000, 1), inflight=len(self.runner.inflight_ids())
        )
        if self.ready_sent.is_set():
            self.notifier.watchdog()

    def _schedule_precise_jobs(self) -> None:
        """Publishing waits for no poll: a date job fires at each upcoming post's exact instant."""
        horizon = max(self.settings.poll_interval_s * 3, 10.0)
        now = utcnow()
        self._scheduled = {pid: at for pid, at in self._scheduled.items() if at > now}
        for post_id, at in self.repo.upcoming_ready(within_s=horizon):
            if self._scheduled.get(post_id) == at:
                continue
            self.scheduler.add_job(
                self._publish_one,
                "date",
                run_date=at,
                args=[post_id],
                id=f"publish-{post_id}",
                replace_existing=True,
                misfire_grace_time=int(self.settings.max_lateness_s),
            )
            self._scheduled[post_id] = at

    def _publish_one(self, post_id: int) -> None:
        if self.draining():
            return
        try:
            self.runner.publish_due(batch=1, post_id=post_id)
        except Exception as exc:
            log.warning("precise_publish_failed", post_id=post_id, error=type(exc).__name__)

    def _update_backlog(self) -> None:
        due, oldest = self.repo.overdue()
        age = (utcnow() - oldest).total_seconds() if oldest else None
        self.metrics.set_backlog(due, age)

    # ------------------------------------------------------------------ the passes beside it
    def backfill_permalinks(self) -> None:
        if self.draining():
            return
        try:
            self.runner.backfill_permalinks()
        except Exception as exc:  # best effort; the next run tries again
            log.warning("permalink_backfill_failed", error=type(exc).__name__)

    def remind_unapproved(self) -> None:
        if self.draining():
            return
        try:
            self.repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S)
        except Exception as exc:  # best effort: the next minute tries again
            log.warning("approval_reminder_failed", error=type(exc).__name__)

    def first_comments(self) -> None:
        if self.draining() or self.comments is None:
            return
        try:
            self.comments.run_due()
        except Exception as exc:  # best effort: half a minute later it looks again
            log.warning("first_comments_failed", error=type(exc).__name__)

    def look_ahead(self) -> None:
        if self.draining():
            return
        try:
            self.repo.look_ahead()
        except Exception as exc:  # best effort: five minutes later it looks again
            log.warning("look_ahead_failed", error=type(exc).__name__)

    def expand_series(self) -> None:
        if self.draining():
            return
        try:
            self.repo.expand_series(horizon_s=series_horizon_s(self.settings.prepare_ahead_s))
        except Exception as exc:  # best effort: occurrences exist days ahead, five minutes later it tries again
            log.warning("series_expansion_failed", error=type(exc).__name__)

    def refresh_tokens(self) -> None:
        if self.draining():
            return
        try:
            self.tokens.refresh_due()
        except Exception as exc:  # e.g. the database is away: the next hour tries again
            log.warning("token_refresh_pass_failed", error=type(exc).__name__)

    def check_dependencies(self) -> None:
        try:
            self.watch.check()
        except Exception as exc:  # a look at the calendar never stops the daemon; tomorrow's run tries again
            log.warning("dependency_check_failed", error=type(exc).__name__)
