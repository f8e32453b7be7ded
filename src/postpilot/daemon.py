"""``postpilot run``: the long-running service: its start and drain, when each job runs, and its health.

APScheduler 3.11 is only an in-process ticker (memory job store, UTC): an interval job polls the database,
a second renews leases, and each prepared post due soon gets a one-shot date job at its exact
``scheduled_at``. What the jobs do is ``daemon_jobs.py``. All coordination between replicas is in SQL (claims
and leases), so N replicas need no leader. Signals only set an event; the main thread does the draining.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor as APThreadPool
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from postpilot.config import Settings
from postpilot.daemon_jobs import DaemonJobs
from postpilot.db import migrate
from postpilot.db.repository import Repository
from postpilot.domain.errors import ConfigError
from postpilot.domain.model import utcnow
from postpilot.instagram.usage import GraphUsage
from postpilot.liveness import Heartbeat
from postpilot.logging import get_logger
from postpilot.metrics import Metrics
from postpilot.notify.sender import NoticeSender
from postpilot.pipeline.runner import Runner
from postpilot.sdnotify import SystemdNotifier
from postpilot.sqlite_lock import SqliteLock, lock_for
from postpilot.status import status_summary
from postpilot.tokens import REFRESH_EVERY_S, TokenRefresher
from postpilot.watch import DependencyWatch
from postpilot.web import HealthReport, HealthServer

if TYPE_CHECKING:
    from postpilot.pipeline.first_comment import FirstCommentFlow
    from postpilot.review.server import PageServer

log = get_logger("postpilot.daemon")

# Every few minutes, published posts whose permalink read was skipped (crash, drain timeout) get one; for
# six hours after publishing, then they are left without (the media id is what matters).
PERMALINK_BACKFILL_S = 300.0
# The OpenAI model's shutdown date and the Graph API version's end are looked at on start and daily.
DEPENDENCY_CHECK_S = 86_400.0
# A post still waiting for approval is brought up again once, within the hour before its time
# (APPROVAL_REMINDER_BEFORE_S, ``db/alerts.py``), looked for every minute.
APPROVAL_REMINDER_EVERY_S = 60.0
# Tokens running out within days and posts at risk within the hour (``db/alerts.py``): every five minutes is
# early enough for an hour's warning and costs two small queries.
LOOK_AHEAD_EVERY_S = 300.0
# Recurring posts' occurrences are created days ahead (``db/series.py``); every five minutes (and at start)
# picks up a new or edited series soon enough, and costs one small query when nothing is due.
SERIES_EVERY_S = 300.0
# First comments that failed or were left by a crash (``pipeline/first_comment.py``); a fresh one is posted
# right after its post goes live, so this only needs to come round often enough for the retries' backoff.
FIRST_COMMENTS_EVERY_S = 30.0


class Daemon:
    """Built by ``App.daemon()`` with the parts it uses."""

    def __init__(
        self,
        *,
        settings: Settings,
        repo: Repository,
        engine: Engine,
        metrics: Metrics,
        runner: Runner,
        watch: DependencyWatch,
        tokens: TokenRefresher,
        usage: GraphUsage,
        owner: str,
        heartbeat: Heartbeat,
        notices: NoticeSender | None = None,
        start_checks: Callable[[], None] | None = None,
        notifier: SystemdNotifier | None = None,
        review: PageServer | None = None,
        comments: FirstCommentFlow | None = None,
    ) -> None:
        self.comments = comments  # first comments still to post: retries and what a crash left
        self.settings = settings
        self.repo = repo
        self.engine = engine
        self.metrics = metrics
        self.watch = watch
        self.tokens = tokens
        self.usage = usage
        self.owner = owner
        self.heartbeat_thread = heartbeat
        self._start_checks = start_checks
        self.notices = notices
        self.notifier = notifier or SystemdNotifier()
        self.stop_event = threading.Event()
        self.draining = False
        self.left_running = False  # steps still running when the drain timed out (given back)
        self.exit_code = 0
        self.started_at = time.monotonic()
        self.heartbeat = time.monotonic()
        self._signals = 0
        self.runner = runner
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": APThreadPool(4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(self.settings.poll_interval_s)),
            },
        )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        host, port = self.settings.health_host_port
        self.http = HealthServer(host=host, port=port, probe=self, metrics=metrics)
        self.review = review  # the review page, on its own listener (None unless POSTPILOT_WEB_LISTEN is set)
        self._lock: SqliteLock | None = None
        # Set once READY=1 is sent: the poll pings the watchdog only after it (systemd expects READY first).
        self._ready_sent = threading.Event()
        self.jobs = DaemonJobs(
            settings=settings,
            repo=repo,
            metrics=metrics,
            runner=runner,
            watch=watch,
            tokens=tokens,
            scheduler=self.scheduler,
            notifier=self.notifier,
            stopping=self.stop_event,
            draining=lambda: self.draining,
            ready_sent=self._ready_sent,
            comments=comments,
        )

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> int:
        self._install_signals()
        self._check_start()
        self.heartbeat_thread.start()
        if self.notices is not None:
            self.notices.start()  # its own thread: a slow channel never holds up publishing
        if self._lock is not None:
            # The file lock proves every other daemon on this file is gone: their posts are free now, not in
            # a few seconds (``db/workers.py``).
            gone = self.repo.declare_other_daemons_dead(self.owner)
            if gone:
                log.info("previous_daemons_gone", count=gone)
        self.http.start()
        if self.review is not None:
            self.review.start()
        jobs = self.jobs
        self.scheduler.add_job(
            jobs.poll, "interval", seconds=self.settings.poll_interval_s, id="poll", next_run_time=datetime.now(UTC)
        )
        self.scheduler.add_job(
            self.runner.renew_leases, "interval", seconds=max(5.0, self.settings.lease_s / 3), id="renew-leases"
        )
        self.scheduler.add_job(jobs.backfill_permalinks, "interval", seconds=PERMALINK_BACKFILL_S, id="permalinks")
        self.scheduler.add_job(jobs.remind_unapproved, "interval", seconds=APPROVAL_REMINDER_EVERY_S, id="approvals")
        if self.comments is not None:
            self.scheduler.add_job(
                jobs.first_comments,
                "interval",
                seconds=FIRST_COMMENTS_EVERY_S,
                id="first-comments",
                next_run_time=datetime.now(UTC),
            )
        self.scheduler.add_job(
            jobs.look_ahead, "interval", seconds=LOOK_AHEAD_EVERY_S, id="look-ahead", next_run_time=datetime.now(UTC)
        )
        self.scheduler.add_job(
            jobs.expand_series, "interval", seconds=SERIES_EVERY_S, id="series", next_run_time=datetime.now(UTC)
        )
        self.scheduler.add_job(
            jobs.refresh_tokens,
            "interval",
            seconds=REFRESH_EVERY_S,
            id="token-refresh",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            jobs.check_dependencies,
            "interval",
            seconds=DEPENDENCY_CHECK_S,
            id="dependencies",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()
        self.notifier.ready(status="postpilot is running")
        self._ready_sent.set()
        log.info("daemon_started", owner=self.owner, health=f"{self.http.url}", database=self._db_label())
        while not self.stop_event.wait(1.0):
            self.heartbeat = time.monotonic()
        return self._drain()

    def _check_start(self) -> None:
        self._lock = lock_for(self.settings.resolved_database_url)
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.repo.ping()
        except Exception as exc:
            raise ConfigError(f"cannot reach the database ({self._db_label()}): {type(exc).__name__}") from exc
        problem = migrate.schema_problem(migrate.current_revision(self.engine))
        if problem:
            raise ConfigError(problem)
        if self._start_checks is not None:
            self._start_checks()

    def _drain(self) -> int:
        self.draining = True
        self.notifier.stopping()
        log.info("daemon_stopping", inflight=len(self.runner.inflight_ids()))
        self.scheduler.shutdown(wait=False)
        if self.review is not None:
            self.review.stop()  # no new actions while posts are handed back
        self.notifier.extend_timeout(self.settings.drain_timeout_s + 10)
        finished = self.runner.shutdown(timeout_s=self.settings.drain_timeout_s)
        if self.notices is not None:
            self.notices.stop()  # what it had not sent stays in the outbox for the next process
        # Every post is finished or given back by now, so others may take over whatever still names us at once.
        self.heartbeat_thread.stop(retire=True)
        self.left_running = not finished
        self.http.stop()
        if self._lock:
            self._lock.release()
        log.info("daemon_stopped")
        return self.exit_code

    def _install_signals(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                os._exit(1)  # a second signal: the operator wants out now
            # Ctrl-C ends with 130 as every command does (README "Exit codes"); SIGTERM is a normal stop, 0.
            self.exit_code = 130 if signum == signal.SIGINT else 0
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        log.warning("scheduler_job_missed", job_id=event.job_id)

    # ------------------------------------------------------------------ health (HealthProbe)
    def liveness(self) -> HealthReport:
        age = time.monotonic() - self.heartbeat
        ok = age < 30
        return HealthReport(
            ok=ok,
            checks={"heartbeat_age_s": round(age, 1)},
            reason=None if ok else f"the main loop has not run for {age:.0f} s",
        )

    def readiness(self) -> HealthReport:
        # What is near or past its end is shown, but does not make the daemon unready: posts with their own
        # media still flow, and a restart would not help.
        checks: dict[str, object] = dict(self.watch.as_checks())
        if self.draining:
            return HealthReport(ok=False, checks={"draining": True}, reason="shutting down")
        try:
            self.repo.ping()
            checks["database"] = "ok"
            current = migrate.current_revision(self.engine)
            checks["schema"] = current
            if current != migrate.head_revision():
                return HealthReport(ok=False, checks=checks, reason=migrate.schema_problem(current))
        except Exception as exc:
            checks["database"] = "unreachable"
            return HealthReport(ok=False, checks=checks, reason=f"database unreachable ({type(exc).__name__})")
        limit = max(self.settings.poll_interval_s * 3, 30.0)
        last_poll_ok, last_poll_error = self.jobs.last_poll_ok, self.jobs.last_poll_error
        if last_poll_ok is None:
            age = time.monotonic() - self.started_at
            checks["last_poll_age_s"] = None
            if age > limit:
                return HealthReport(ok=False, checks=checks, reason="no successful poll yet")
            return HealthReport(ok=False, checks=checks, reason="starting: no poll yet")
        poll_age = (utcnow() - last_poll_ok).total_seconds()
        checks["last_poll_age_s"] = round(poll_age, 1)
        if poll_age > limit:
            reason = f"the last successful poll was {poll_age:.0f} s ago"
            if last_poll_error:
                reason += f" (last error: {last_poll_error})"
            return HealthReport(ok=False, checks=checks, reason=reason)
        return HealthReport(ok=True, checks=checks)

    def status(self) -> dict[str, object]:
        return status_summary(
            self.repo, watch=self.watch, usage=self.usage, last_poll=self.jobs.last_poll_ok, draining=self.draining
        )

    def _db_label(self) -> str:
        return make_url(self.settings.resolved_database_url).render_as_string(hide_password=True)
