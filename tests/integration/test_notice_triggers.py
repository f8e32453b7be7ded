"""Notices caused by their real triggers and channels that misbehave, on SQLite and PostgreSQL, delivered by
Apprise's own ``json://`` scheme to a local webhook receiver (nothing of postpilot's is stubbed):

- the daily image budget, spent by real generations against the OpenAI fake in a ``run-once`` pass, told once
  to a webhook by the pass itself;
- the configured OpenAI model's end, read by ``App.watch`` (the daemon's daily job) from the fake's
  ``shutdown_date``, told once while it nears and once when it has come;
- a channel answering 500 shows in ``postpilot_notifications_total{result="failed"}`` and on the daemon's
  ``/status``, and leaves both once it recovers.

No timing assertions: the bounds below only keep a broken build from hanging the run (speed is measured in
``bench/``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from postpilot.app import App
from postpilot.daemon import Daemon
from postpilot.domain.model import PostStatus
from postpilot.pipeline import Outcome
from postpilot.pipeline.once import run_once
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState
from tests.fakes.webhook import WebhookState, json_url, webhook
from tests.integration.pipeline_helpers import add_account, add_ready_post, make_app, publish_now

KEY = "sk-test-postpilot-0123456789"
MODEL = "gpt-image-2.6-sunburst"  # the default model
PUBLIC = "https://media.example.test/postpilot"
TODAY = datetime.now(UTC).date()  # App.watch reads the real calendar
HOOK_PATH = "hook/s3cr3t-hook-token"
CHANNEL = "json://127.0.0.1/…"  # how postpilot shows the webhook: never its path, which holds the token
# Only there so that a broken build fails instead of hanging the run; nothing is expected to take long.
LIVENESS_S = 60.0


@pytest.fixture
def hook() -> Iterator[FakeServer[WebhookState]]:
    with webhook() as server:
        yield server
        server.state.release()  # no handler left waiting


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=KEY, today=TODAY)) as server:
        yield server


@pytest.fixture
def build(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[Callable[..., App]]:
    """Apps on this test's database and the Graph fake; closed afterwards."""
    made: list[App] = []

    def factory(**overrides: Any) -> App:
        made.append(make_app(db_url, tmp_path, server.url, **overrides))
        return made[-1]

    yield factory
    for app in made:
        app.close()


def _openai(fake: OpenAIFake, **more: Any) -> dict[str, Any]:
    return {
        "image_provider": "openai",
        "openai_api_key": KEY,
        "openai_base_url": fake.base_url,
        "openai_max_retries": 0,
        "media_store": "local",
        "public_media_url": PUBLIC,
        **more,
    }


def _upcoming(app: App, account_id: int, prompt: str) -> int:
    """A generated photo due in 30 minutes: inside the prepare window, not yet due to publish."""
    return app.repo.add_post(
        {
            "account_id": account_id,
            "caption": "Dawn #sea",
            "prompt": prompt,
            "scheduled_at": datetime.now(UTC) + timedelta(minutes=30),
        },
        actor="test",
    )


def _fail_a_post(app: App, account_id: int, state: GraphState) -> int:
    """A failed post: its notice is queued in the same transaction (a real trigger, not a queued notice)."""
    post_id = add_ready_post(app, account_id)
    state.inject_error("create", 36004, 2207010, message="The caption is too long.")
    assert publish_now(app, post_id).outcome is Outcome.FAILED
    return post_id


def _retry_now(app: App) -> None:
    """Time travel: whatever waits out a channel's backoff is due again."""
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE notifications SET next_attempt_at = NULL WHERE done_at IS NULL"))


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIVENESS_S
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def _all_done(app: App) -> bool:
    return all(done is not None for _, _, done in app.repo.notices())


# --- the budget, spent by real generations -------------------------------------------------------------


def test_the_daily_budget_spent_by_real_generations_is_told_once_to_a_webhook(
    build: Callable[..., App], openai_fake: OpenAIFake, hook: FakeServer[WebhookState]
) -> None:
    # Against the fake a medium 1088x1088 image costs about $0.036 (its usage), and is estimated at $0.054
    # before it is asked for: $0.10 pays for two, and the third does not fit.
    app = build(**_openai(openai_fake, daily_image_budget_usd=0.10, notify_urls=json_url(hook, HOOK_PATH)))
    account = add_account(app)
    posts = [_upcoming(app, account, f"a lighthouse at dawn, take {i}") for i in range(3)]

    tally = run_once(app)  # prepares the three, then delivers what the pass queued

    assert tally.counts == {"ready": 2, "waiting": 1}
    assert openai_fake.state.generated == 2  # nothing asked for beyond the budget
    spent = app.repo.spend_today()
    rows = {p: app.repo.require_post(p) for p in posts}
    ready = [p for p, row in rows.items() if row.status is PostStatus.READY]
    (held,) = [row for row in rows.values() if row.status is PostStatus.SCHEDULED]
    paid = [m.cost_usd for p in ready for m in app.repo.media(p)]
    assert len(paid) == 2 and all(cost > 0 for cost in paid)
    assert spent == pytest.approx(sum(paid)) and spent <= 0.10
    assert held.attempts == 0 and held.next_attempt_at is not None  # waits for tomorrow, not failed
    assert held.last_error is not None
    assert held.last_error.startswith(f"the daily image budget of $0.10 is spent (${spent:.2f} today)")
    assert app.repo.media(held.id) == []

    (message,) = hook.state.received
    assert message["path"] == f"/{HOOK_PATH}"
    assert message["title"] == "postpilot: the daily image budget of $0.10 is spent"
    assert f"${spent:.2f} was spent on generated images today (UTC)" in message["message"]
    assert "raise POSTPILOT_DAILY_IMAGE_BUDGET_USD" in message["message"]
    assert KEY not in str(message)
    assert _all_done(app)

    # Another post the same day waits too, and the marketer is not told again.
    _upcoming(app, account, "a lighthouse at dusk")
    assert run_once(app).counts == {"waiting": 1}
    assert openai_fake.state.generated == 2
    assert len(hook.state.received) == 1
    assert [kind for kind, _, _ in app.repo.notices()] == ["budget"]


# --- the image model's end, read from the OpenAI fake ----------------------------------------------------


def test_the_image_models_end_read_from_openai_is_told_to_a_webhook_once_nearing_and_once_gone(
    build: Callable[..., App], openai_fake: OpenAIFake, hook: FakeServer[WebhookState]
) -> None:
    app = build(**_openai(openai_fake, notify_urls=json_url(hook, HOOK_PATH)))  # no model setting: MODEL
    sender = app.notice_sender()
    ends = TODAY + timedelta(days=20)
    openai_fake.state.shutdown_dates[MODEL] = ends  # OpenAI announces the shutdown (GET /v1/models/{id})

    app.watch.check()  # the daemon's dependencies job, at start and once a day
    app.watch.check()
    while sender.deliver_pending():
        pass

    assert openai_fake.state.model_reads == 2  # read live each time, not remembered
    (nearing,) = hook.state.received
    assert nearing["title"] == f"postpilot: the OpenAI image model {MODEL} ends on {ends.isoformat()}"
    assert f"ends on {ends.isoformat()} (in 20 days)" in nearing["message"]
    assert "set POSTPILOT_OPENAI_MODEL to one of" in nearing["message"]

    # The day has come: the models endpoint no longer knows it (model_not_found); told once more.
    openai_fake.state.shutdown_dates[MODEL] = TODAY - timedelta(days=1)
    app.watch.check()
    app.watch.check()
    while sender.deliver_pending():
        pass

    assert [m["title"] for m in hook.state.received] == [
        nearing["title"],
        f"postpilot: the OpenAI image model {MODEL} has ended",
    ]
    gone = hook.state.received[1]["message"]
    assert "reached its end" in gone and "POSTPILOT_OPENAI_MODEL" in gone
    assert [kind for kind, _, _ in app.repo.notices()] == ["dependency", "dependency"]  # the version is current
    assert _all_done(app)
    assert openai_fake.state.generated == 0  # looking at the model never pays for an image
    assert KEY not in str(hook.state.received)


# --- a failing channel in metrics and on /status --------------------------------------------------------


@pytest.fixture
def running(build: Callable[..., App]) -> Iterator[Callable[..., tuple[App, Daemon]]]:
    """An App and its daemon with the HTTP endpoint listening (its scheduler and threads not started)."""
    made: list[Daemon] = []

    def start(**overrides: Any) -> tuple[App, Daemon]:
        app = build(health_listen="127.0.0.1:0", **overrides)
        daemon = app.daemon()
        daemon.http.start()
        made.append(daemon)
        return app, daemon

    yield start
    for daemon in made:
        daemon.http.stop()
        daemon.runner.shutdown(timeout_s=5.0)


def _get(daemon: Daemon, path: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        response = client.get(daemon.http.url + path)
    assert response.status_code == 200, response.text
    return response


def _deliveries(daemon: Daemon) -> dict[str, float]:
    """``postpilot_notifications_total`` by result, for the webhook's channel, from the daemon's /metrics."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(_get(daemon, "/metrics").text):
        for sample in family.samples:
            if sample.name == "postpilot_notifications_total" and sample.labels.get("channel") == CHANNEL:
                found[sample.labels["result"]] = sample.value
    return found


def _notifications(daemon: Daemon) -> dict[str, Any]:
    status: dict[str, Any] = _get(daemon, "/status").json()
    return dict(status["notifications"])


def test_a_channel_answering_500_shows_in_metrics_and_status_until_it_recovers(
    running: Callable[..., tuple[App, Daemon]], state: GraphState, hook: FakeServer[WebhookState]
) -> None:
    app, daemon = running(notify_urls=json_url(hook, HOOK_PATH))
    assert daemon.notices is not None
    post_id = _fail_a_post(app, add_account(app), state)
    assert _deliveries(daemon) == {}  # nothing tried yet

    hook.state.fail_next = 1  # the chat service has a bad minute
    assert daemon.notices.deliver_pending() == 1

    assert hook.state.received == []
    assert _deliveries(daemon) == {"failed": 1.0}
    report = _notifications(daemon)
    assert report == {
        "waiting": 1,
        "failing_channels": [
            {"channel": CHANNEL, "messages": 1, "last_error": f"{CHANNEL} did not accept the message"}
        ],
    }
    assert "s3cr3t" not in _get(daemon, "/status").text + _get(daemon, "/metrics").text

    _retry_now(app)  # its backoff has passed; the service answers again
    assert daemon.notices.deliver_pending() == 1

    assert [m["title"] for m in hook.state.received] == [t for _, t, _ in app.repo.notices(post_id=post_id)]
    assert _deliveries(daemon) == {"failed": 1.0, "sent": 1.0}
    # /status is computed at most once a second: wait for a fresh one.
    _until(lambda: _notifications(daemon) == {"waiting": 0, "failing_channels": []}, "/status shows it recovered")
    assert daemon.notices.deliver_pending() == 0
    assert len(hook.state.received) == 1
