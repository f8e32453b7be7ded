"""Notices caused by their real triggers and channels that misbehave, on SQLite and PostgreSQL, delivered by
Apprise's own ``json://`` and ``mailto://`` schemes to local receivers (nothing of postpilot's is stubbed):

- the daily image budget, spent by real generations against the OpenAI fake in a ``run-once`` pass, told once
  to a webhook by the pass itself;
- the configured OpenAI model's end, read by ``App.watch`` (the daemon's daily job) from the fake's
  ``shutdown_date``, told once while it nears and once when it has come;
- a channel answering 500 shows in ``postpilot_notifications_total{result="failed"}`` and on the daemon's
  ``/status``, and leaves both once it recovers;
- a channel that hangs: a post is published through the real pipeline against the Graph fake while the sender
  is blocked on it, and the notice is delivered (or retried) once the receiver lets go; a receiver that never
  finishes its answer is given up at the sender's timeout, and the notice retried, not lost.

No timing assertions: the bounds below only keep a broken build from hanging the run (speed is measured in
``bench/``). Ordering is shown by what the receivers and the database say at each point.
"""

from __future__ import annotations

import contextlib
import socket
import threading
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
from postpilot.notify.channels import AppriseSender, DeliveryError
from postpilot.notify.sender import LEASE_S, NoticeSender
from postpilot.pipeline import Outcome
from postpilot.pipeline.once import run_once
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState
from tests.fakes.webhook import WebhookState, json_url, webhook
from tests.integration.pipeline_helpers import add_account, add_ready_post, make_app, only_publish, publish_now

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


# --- a channel that hangs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("released_by", ["answering", "dropping"])
def test_a_hanging_channel_never_holds_up_publishing_and_its_notice_is_not_lost(
    build: Callable[..., App], state: GraphState, hook: FakeServer[WebhookState], released_by: str
) -> None:
    app = build(notify_urls=json_url(hook, HOOK_PATH))
    account = add_account(app)
    failed = _fail_a_post(app, account, state)
    hook.state.hang = True  # accepts the connection, reads the message, says nothing
    hook.state.drop_on_release = released_by == "dropping"
    sender = app.notice_sender()  # as the daemon wires it: Apprise, the configured channel, the metrics
    sender.start()  # the daemon's notification thread
    try:
        assert hook.state.held.wait(LIVENESS_S), "the sender never tried the channel"

        # While the sender waits on the receiver, a due post goes out through the real pipeline.
        live = add_ready_post(app, account)
        assert publish_now(app, live).outcome is Outcome.PUBLISHED
        assert app.repo.require_post(live).status is PostStatus.PUBLISHED
        container, calls = only_publish(state)
        assert calls == 1 and container

        # ...and the sender was still blocked then: the receiver holds the message, nothing is recorded yet.
        assert hook.state.holding == 1 and hook.state.received == []
        assert app.status()["notifications"] == {"waiting": 1, "failing_channels": []}

        hook.state.release()
        if released_by == "answering":
            _until(lambda: _all_done(app), "the notice is delivered once the receiver answers")
        else:
            # The message did not arrive: it is kept, shown as failing, and tried again after its backoff.
            _until(lambda: bool(app.status()["notifications"]["failing_channels"]), "the failure is recorded")
            assert app.status()["notifications"]["waiting"] == 1
            assert hook.state.received == []
            _retry_now(app)
            _until(lambda: _all_done(app), "the notice is delivered on its retry")
    finally:
        sender.stop()
    (message,) = hook.state.received
    assert message["title"].startswith(f"postpilot: post {failed} for brand (") and message["title"].endswith("failed")
    assert app.status()["notifications"] == {"waiting": 0, "failing_channels": []}


class _TricklingSMTP:
    """An SMTP server that greets with a multi-line banner it never finishes (``220-`` lines, one every so
    often), so that no socket read timeout fires; released, it hangs up."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.connected = threading.Event()
        self.released = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._listener.accept()
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        self.connected.set()
        with conn, contextlib.suppress(OSError):
            while not self.released.wait(0.2):
                conn.sendall(b"220-postpilot-test still starting\r\n")

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=postpilot@example.com&to=team@example.com"

    def close(self) -> None:
        self.released.set()
        self._listener.close()


@pytest.mark.parametrize("scheme", ["json", "mailto"])
def test_a_receiver_that_never_finishes_its_answer_is_given_up_at_the_timeout(
    hook: FakeServer[WebhookState], scheme: str
) -> None:
    """Apprise bounds each socket read (postpilot sets it), not a whole delivery: a receiver that keeps
    sending a little and never finishes would hold the sender for ever. ``AppriseSender`` bounds the whole."""
    trickler = _TricklingSMTP()
    hook.state.hang = hook.state.trickle = True
    url = json_url(hook, HOOK_PATH) if scheme == "json" else trickler.url()
    outcome: list[BaseException | None] = []

    def send() -> None:
        try:
            AppriseSender(timeout_s=0.5).send(url, title="postpilot: test", body="a line")
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    try:
        worker = threading.Thread(target=send, daemon=True)
        worker.start()
        worker.join(LIVENESS_S)
        assert not worker.is_alive(), "the send is still blocked on a receiver that never finishes its answer"
        (error,) = outcome
        assert isinstance(error, DeliveryError)
        assert str(error).startswith(f"{scheme}://127.0.0.1/… did not answer within 0.5 s")
        assert "s3cr3t" not in str(error)
        # The receiver was reached and is still sending: the sender gave up, the receiver did not.
        assert (hook.state.holding == 1) if scheme == "json" else trickler.connected.is_set()
    finally:
        trickler.close()
        hook.state.release()


def test_notices_given_up_at_the_timeout_are_retried_and_delivered_once(
    build: Callable[..., App], state: GraphState, hook: FakeServer[WebhookState]
) -> None:
    app = build(notify_urls=json_url(hook, HOOK_PATH))
    account = add_account(app)
    failed = [_fail_a_post(app, account, state) for _ in range(2)]
    hook.state.hang = hook.state.trickle = True
    # The app's sender with a short timeout (the app's own is 15 s a read, 30 s a message).
    sender = NoticeSender(
        store=app.repo,
        transport=AppriseSender(timeout_s=0.5),
        owner=app.owner,
        global_urls=app.settings.notify_url_list,
        published_too=False,
        decrypt=app.cipher.decrypt,
        on_result=app.metrics.notification_result,
    )
    passes: list[int] = []
    worker = threading.Thread(target=lambda: passes.append(sender.deliver_pending()), daemon=True)
    worker.start()
    worker.join(LIVENESS_S)
    assert not worker.is_alive(), "the sender is still blocked on a receiver that never finishes its answer"
    assert passes == [2]

    # The first message was given up at the timeout; the second was not sent into the same hole: a channel
    # that failed is not tried again in the same pass. One connection reached the receiver.
    assert hook.state.holding == 1 and hook.state.received == []
    with app.engine.connect() as conn:
        errors = (
            conn.execute(text("SELECT last_error FROM notification_deliveries ORDER BY notification_id"))
            .scalars()
            .all()
        )
    assert errors == [f"{CHANNEL} did not answer within 0.5 s"]
    status = app.status()["notifications"]
    assert status["waiting"] == 2  # both kept for a retry, not lost
    assert [(c["channel"], c["messages"]) for c in status["failing_channels"]] == [(CHANNEL, 1)]

    hook.state.release()  # the receiver hangs up on the held message and answers what comes next

    def delivered() -> bool:
        sender.deliver_pending()
        _retry_now(app)
        return _all_done(app)

    _until(delivered, "the notices are delivered once the receiver answers again")
    titles = sorted(t for p in failed for _, t, _ in app.repo.notices(post_id=p))
    assert sorted(hook.state.titles()) == titles and len(titles) == 2
    assert app.status()["notifications"] == {"waiting": 0, "failing_channels": []}


def test_a_hanging_mail_server_does_not_keep_the_webhook_from_its_message(
    build: Callable[..., App], state: GraphState, hook: FakeServer[WebhookState]
) -> None:
    """Two channels: the mail server never finishes its greeting; the webhook still gets the notice in the
    same pass, and the mail channel is kept for a retry."""
    trickler = _TricklingSMTP()
    try:
        app = build(notify_urls=f"{trickler.url()}, {json_url(hook, HOOK_PATH)}")
        _fail_a_post(app, add_account(app), state)
        sender = NoticeSender(
            store=app.repo,
            transport=AppriseSender(timeout_s=0.5),
            owner=app.owner,
            global_urls=app.settings.notify_url_list,
            published_too=False,
            decrypt=app.cipher.decrypt,
        )
        worker = threading.Thread(target=sender.deliver_pending, daemon=True)
        worker.start()
        worker.join(LIVENESS_S)
        assert not worker.is_alive(), "the sender is still blocked on a mail server that never finishes its greeting"
        assert trickler.connected.is_set()
        assert len(hook.state.received) == 1  # the webhook has it
        report = app.status()["notifications"]
        assert report["waiting"] == 1
        assert [c["channel"] for c in report["failing_channels"]] == ["mailto://127.0.0.1/…"]
    finally:
        trickler.close()


def test_a_long_pass_hands_back_what_is_left_before_its_claim_runs_out(
    build: Callable[..., App], state: GraphState, hook: FakeServer[WebhookState]
) -> None:
    """Half the claim's lease gone (a slow channel): the notices not yet looked at go back at once, so no
    other replica claims one this sender might still be sending; they are delivered by the next pass."""
    app = build(notify_urls=json_url(hook, HOOK_PATH))
    account = add_account(app)
    failed = [_fail_a_post(app, account, state) for _ in range(3)]
    sender = NoticeSender(store=app.repo, transport=AppriseSender(timeout_s=5.0), owner=app.owner,
                          global_urls=app.settings.notify_url_list, published_too=False, decrypt=app.cipher.decrypt)
    ticks = iter([0.0, 0.0, LEASE_S])  # the clock: at the start, before the first, and before the second notice
    assert sender.deliver_pending(clock=lambda: next(ticks, LEASE_S)) == 3
    assert len(hook.state.received) == 1
    with app.engine.connect() as conn:
        leased = conn.execute(text("SELECT count(*) FROM notifications WHERE lease_owner IS NOT NULL")).scalar_one()
    assert leased == 0  # handed back, not left leased to a sender that moved on
    assert sender.deliver_pending() == 2
    titles = sorted(t for p in failed for _, t, _ in app.repo.notices(post_id=p))
    assert sorted(hook.state.titles()) == titles and len(titles) == 3
