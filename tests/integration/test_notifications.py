"""Issue 14, notifications: the outbox is written with the state change, delivered by Apprise to a local webhook
receiver, at least once across failures and crashes and once per channel across replicas; on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from postpilot.app import App, build_app
from postpilot.domain.model import PostStatus
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.fakes.webhook import WebhookState, json_url, webhook
from tests.integration.pipeline_helpers import add_ready_post, make_app, publish_now


@pytest.fixture
def hook() -> Iterator[FakeServer[WebhookState]]:
    with webhook() as server:
        yield server


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState], hook: FakeServer[WebhookState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, notify_urls=json_url(hook, "hook/s3cr3t-hook-token"))
    yield application
    application.close()


def _fail_a_post(app: App, account_id: int, state: GraphState) -> int:
    post_id = add_ready_post(app, account_id)
    state.inject_error("create", 36004, 2207010, message="The caption is too long.")
    result = publish_now(app, post_id)
    assert app.repo.require_post(post_id).status is PostStatus.FAILED, result
    return post_id


def test_a_failed_post_is_told_once_in_plain_words(
    app: App, state: GraphState, account_id: int, hook: FakeServer[WebhookState]
) -> None:
    post_id = _fail_a_post(app, account_id, state)
    sender = app.notice_sender()
    assert sender.deliver_pending() == 1
    assert sender.deliver_pending() == 0  # nothing is sent twice
    (message,) = hook.state.received
    assert message["title"].startswith(f"postpilot: post {post_id} for brand (")
    assert message["title"].endswith(" UTC) failed")
    assert "Why:" in message["message"] and f"postpilot post retry {post_id}" in message["message"]
    assert f"Details: postpilot post show {post_id}" in message["message"]
    assert app.repo.notices(post_id=post_id)[0][2] is not None  # done


def test_a_channel_that_fails_and_recovers_gets_the_message_once(
    app: App, state: GraphState, account_id: int, hook: FakeServer[WebhookState]
) -> None:
    _fail_a_post(app, account_id, state)
    hook.state.fail_next = 1
    sender = app.notice_sender()
    sender.deliver_pending()
    assert hook.state.received == []
    status = app.status()["notifications"]
    assert status["waiting"] == 1
    (failing,) = status["failing_channels"]
    assert failing["channel"] == "json://127.0.0.1/…"  # never the token
    assert "s3cr3t" not in str(app.status())
    assert sender.deliver_pending() == 0  # backing off: not tried again at once
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE notifications SET next_attempt_at = NULL"))
    assert sender.deliver_pending() == 1
    assert len(hook.state.received) == 1
    assert app.status()["notifications"] == {"waiting": 0, "failing_channels": []}


def test_the_outbox_survives_a_process_that_died_before_sending(
    app: App, state: GraphState, account_id: int, hook: FakeServer[WebhookState]
) -> None:
    """The notification was committed with the status change; the process that made it never sent it (it
    died). The next process delivers it."""
    post_id = _fail_a_post(app, account_id, state)
    app.close()
    later = build_app(app.settings, owner="next-process")
    try:
        assert later.notice_sender().deliver_pending() == 1
    finally:
        later.close()
    assert [m["title"] for m in hook.state.received] == [hook.state.received[0]["title"]]
    assert f"post {post_id}" in hook.state.received[0]["title"]


def test_three_replicas_deliver_each_notification_once(
    app: App, state: GraphState, account_id: int, hook: FakeServer[WebhookState]
) -> None:
    for _ in range(6):
        _fail_a_post(app, account_id, state)
    replicas = [build_app(app.settings, owner=f"replica-{i}") for i in range(3)]
    start = threading.Barrier(3)

    def drain(replica: App) -> None:
        sender = replica.notice_sender()
        start.wait()
        while sender.deliver_pending(batch=2):
            pass

    try:
        threads = [threading.Thread(target=drain, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for r in replicas:
            r.close()
    titles = hook.state.titles()
    assert len(titles) == 6 and len(set(titles)) == 6, titles


def test_missed_posts_and_accounts_to_reconnect_are_told(
    app: App, account_id: int, hook: FakeServer[WebhookState]
) -> None:
    post_id = app.repo.add_post({"account_id": account_id, "caption": "late", "prompt": "p",
                                 "scheduled_at": datetime(2025, 1, 1, 9, 0, tzinfo=UTC)}, actor="test")
    assert app.repo.fail_missed(max_lateness_s=3600) == [post_id]
    app.repo.mark_account_needs_reconnect(account_id, "The token expired.")
    app.repo.mark_account_needs_reconnect(account_id, "The token expired.")  # told once, not per post
    app.notice_sender().deliver_pending()
    titles = hook.state.titles()
    assert titles[0] == f"postpilot: post {post_id} for brand (2025-01-01 09:00 UTC) was missed"
    assert titles[1:] == ["postpilot: the Instagram account brand must be reconnected"]


def test_an_accounts_own_channel_gets_only_the_events_it_asked_for(
    app: App, state: GraphState, account_id: int, hook: FakeServer[WebhookState]
) -> None:
    app.repo.add_account_channel(account_id, url_encrypted=app.cipher.encrypt(json_url(hook, "brand-team")),
                                 channel="brand-team", events="published")
    post_id = add_ready_post(app, account_id)
    publish_now(app, post_id)
    _fail_a_post(app, account_id, state)
    app.notice_sender().deliver_pending()
    by_path = {(m["path"], m["title"].rsplit(" ", 1)[-1]) for m in hook.state.received}
    # The global channel gets the failure (not the live post: POSTPILOT_NOTIFY_PUBLISHED is off); the
    # account's channel gets only the live post.
    assert by_path == {("/hook/s3cr3t-hook-token", "failed"), ("/brand-team", "live")}, by_path


def test_messages_show_times_in_the_accounts_time_zone(
    app: App, state: GraphState, account_id: int, hook: FakeServer[WebhookState]
) -> None:
    app.repo.set_account_time_zone(account_id, "Europe/Paris")
    post_id = app.repo.add_post({"account_id": account_id, "caption": "late", "prompt": "p",
                                 "scheduled_at": datetime(2025, 1, 1, 9, 0, tzinfo=UTC)}, actor="test")
    app.repo.fail_missed(max_lateness_s=3600)
    app.notice_sender().deliver_pending()
    assert hook.state.titles() == [f"postpilot: post {post_id} for brand (2025-01-01 10:00 Europe/Paris) was missed"]


def test_messages_link_to_the_review_page_when_it_has_an_address(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState], hook: FakeServer[WebhookState], state: GraphState
) -> None:
    application = make_app(db_url, tmp_path, server.url, notify_urls=json_url(hook, "hook"),
                           web_public_url="https://postpilot.example.com/")
    try:
        from tests.integration.pipeline_helpers import add_account

        account_id = add_account(application)
        post_id = _fail_a_post(application, account_id, state)
        application.notice_sender().deliver_pending()
    finally:
        application.close()
    (message,) = hook.state.received
    assert message["message"].endswith(f"Review page: https://postpilot.example.com/posts/{post_id}")
    with pytest.raises(ValueError, match="must be the page's address"):
        make_app(db_url, tmp_path, server.url, web_public_url="postpilot.example.com")


def test_the_daemon_and_its_sender_start_without_a_secret_key(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState], hook: FakeServer[WebhookState]
) -> None:
    """The embedded defaults have no POSTPILOT_SECRET_KEY until an account is connected: the notification
    sender (and so ``postpilot run``) must not need one to start."""
    application = make_app(db_url, tmp_path, server.url, notify_urls=json_url(hook, "hook"), secret_key=None)
    try:
        sender = application.notice_sender()
        assert sender.deliver_pending() == 0
        daemon = application.daemon()
        assert daemon.notices is not None
    finally:
        application.close()
