"""``postpilot run-once``: one pass — create recurring posts' next occurrences, reconcile stale publishes, prepare
what is due or inside the prepare window, stage and publish what is due — then wait for it and report."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Protocol

from postpilot.config import Settings
from postpilot.db.alerts import APPROVAL_REMINDER_BEFORE_S
from postpilot.db.repository import Repository
from postpilot.db.series import horizon_s as series_horizon_s
from postpilot.liveness import Heartbeat
from postpilot.logging import get_logger
from postpilot.notify.sender import NoticeSender
from postpilot.pipeline.first_comment import FirstCommentFlow
from postpilot.pipeline.outcome import StepResult
from postpilot.pipeline.runner import Runner, Tally
from postpilot.tokens import TokenRefresher

log = get_logger("postpilot.once")


class OnceParts(Protocol):
    """What one pass needs; the composition root's ``App`` has it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def repo(self) -> Repository: ...

    @property
    def token_refresher(self) -> TokenRefresher: ...

    def runner(self, *, on_result: Callable[[StepResult], None] | None = None) -> Runner: ...

    def heartbeat(self, kind: str) -> Heartbeat: ...

    def notice_sender(self) -> NoticeSender: ...

    @property
    def first_comments(self) -> FirstCommentFlow: ...


def run_once(
    app: OnceParts,
    *,
    on_result: Callable[[StepResult], None] | None = None,
    on_claimed: Callable[[int], None] | None = None,
) -> Tally:
    runner = app.runner(on_result=on_result)
    settings = app.settings
    heartbeat = app.heartbeat("once")

    def drain(claim: Callable[[], list[Future[StepResult]]]) -> None:
        while True:
            futures = claim()
            if not futures:
                return
            if on_claimed:
                on_claimed(len(futures))
            wait(futures)

    heartbeat.start()
    try:
        try:
            app.token_refresher.refresh_due()  # Instagram Login tokens near their end (cron-style use)
        except Exception as exc:  # never keeps posts from going out
            log.warning("token_refresh_pass_failed", error=type(exc).__name__)
        _expand_series(app.repo, settings)  # first, so an occurrence due now is prepared in this pass
        runner.fail_missed()
        drain(lambda: runner.reconcile_stale(batch=settings.claim_batch))
        drain(lambda: runner.prepare_due(ahead_s=settings.prepare_ahead_s, batch=settings.claim_batch))
        drain(lambda: runner.publish_due(batch=settings.claim_batch))
        runner.backfill_permalinks()  # read before the follow-up pool is drained below
        _look_ahead(app.repo)
        _first_comments(app.first_comments)
    finally:
        runner.shutdown(timeout_s=settings.drain_timeout_s)
        _deliver_notices(app)
        heartbeat.stop()
    return runner.tally


def _expand_series(repo: Repository, settings: Settings) -> None:
    try:
        repo.expand_series(horizon_s=series_horizon_s(settings.prepare_ahead_s))
    except Exception as exc:  # never keeps posts already there from going out
        log.warning("series_expansion_failed", error=type(exc).__name__)


def _look_ahead(repo: Repository) -> None:
    """What a person should hear about before it goes wrong: unapproved posts due within the hour, tokens
    running out, posts at risk (cron-style use gets the same notices as the daemon)."""
    try:
        repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S)
        repo.look_ahead()
    except Exception as exc:  # never fails the pass; the next one looks again
        log.warning("look_ahead_failed", error=type(exc).__name__)


def _first_comments(flow: FirstCommentFlow) -> None:
    """First comments whose earlier try failed (the ones of posts published in this pass are posted right after
    them, as follow-ups)."""
    try:
        flow.run_due()
    except Exception as exc:  # never fails the pass
        log.warning("first_comments_failed", error=type(exc).__name__)


# A pass delivers what it caused (and what an earlier crash left) for at most this long; the rest stays queued.
NOTIFY_BUDGET_S = 30.0


def _deliver_notices(app: OnceParts) -> None:
    try:
        sender = app.notice_sender()
        deadline = time.monotonic() + NOTIFY_BUDGET_S
        while time.monotonic() < deadline and sender.deliver_pending():
            pass
    except Exception as exc:  # never fails the pass: the outbox keeps them for the next one
        log.warning("notify_pass_failed", error=type(exc).__name__)
