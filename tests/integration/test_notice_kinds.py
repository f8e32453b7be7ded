"""Issue 14: every kind of event produces one notification, delivered once to a local webhook receiver (Apprise's
``json://``) and once to a local SMTP server (Apprise's ``mailto://``); the look-ahead checks (tokens running out,
posts at risk) queue each notice once however often they run. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from postpilot.app import App
from postpilot.domain.model import PostStatus
from postpilot.domain.notifications import NoticeKind, budget_notice
from postpilot.pipeline import Outcome
from postpilot.watch import DependencyWatch
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.fakes.smtp import Mailbox, smtp_server
from tests.fakes.webhook import WebhookState, json_url, webhook
from tests.integration.pipeline_helpers import (
    TOKEN,
    add_account,
    add_ready_post,
    make_app,
    publish_now,
    reconcile_stale,
    set_post,
)

PUBLIC = "https://media.example.test/postpilot"


@pytest.fixture
def hook() -> Iterator[FakeServer[WebhookState]]:
    with webhook() as server:
        yield server


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def app(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState], hook: FakeServer[WebhookState], mailbox: Mailbox
) -> Iterator[App]:
    urls = f"{json_url(hook, 'hook/s3cr3t-hook-token')}, {mailbox.url()}"
    application = make_app(
        db_url, tmp_path, server.url, notify_urls=urls, notify_published=True,
        public_media_url=PUBLIC, image_provider="card", media_store="local",
    )
    yield application
    application.close()


def _sql(app: App, statement: str, **params: object) -> None:
    with app.engine.begin() as conn:
        conn.execute(text(statement), params)


def _insert(app: App, account_id: int, minutes: float, **extra: object) -> int:
    return app.repo.add_post(
        {"account_id": account_id, "caption": "Soon #new", "prompt": "a lighthouse",
         "scheduled_at": datetime.now(UTC) + timedelta(minutes=minutes), **extra},
        actor="test",
    )


def _cause_every_kind(app: App, state: GraphState) -> None:
    brand = add_account(app)
    # failed: Instagram refuses the caption for good.
    failed = add_ready_post(app, brand)
    state.inject_error("create", 36004, 2207010, message="The caption is too long.")
    assert publish_now(app, failed).outcome is Outcome.FAILED
    # published: live, with its permalink (POSTPILOT_NOTIFY_PUBLISHED is on here).
    live = add_ready_post(app, brand)
    assert publish_now(app, live).outcome is Outcome.PUBLISHED
    # unconfirmed: a publish was attempted by a worker that died, and the container cannot be read.
    unsure = add_ready_post(app, brand)
    past = datetime.now(UTC) - timedelta(hours=1)
    set_post(app, unsure, status="publishing", container_id="17900000000000999", publish_attempted_at=past,
             lease_owner="dead-worker", lease_until=datetime(2020, 1, 1, tzinfo=UTC))
    state.inject_server_error("status", status=503, count=50)
    state.inject_server_error("media_read", status=503, count=50)
    assert [r.outcome for r in reconcile_stale(app)] == [Outcome.UNCONFIRMED]
    # missed: far too late to publish.
    late = app.repo.add_post({"account_id": brand, "caption": "late", "prompt": "p",
                              "scheduled_at": datetime(2025, 1, 1, 9, 0, tzinfo=UTC)}, actor="test")
    assert app.repo.fail_missed(max_lateness_s=3600) == [late]
    # approval: an account that requires it, a post prepared and waiting.
    review = add_account(app, name="review", ig_user_id="17841400000000002")
    app.repo.set_account_require_approval(review, True)
    waiting = _insert(app, review, minutes=90)
    (claimed,) = app.repo.claim_for_prepare(owner=app.owner, ahead_s=3 * 3600, lease_s=60, batch=10)
    assert claimed.id == waiting and app.pipeline.prepare(claimed).outcome is Outcome.READY
    # reconnect, and at risk: an account whose token Instagram refused, with a post due within the hour.
    gone = add_account(app, name="gone", ig_user_id="17841400000000003")
    _insert(app, gone, minutes=30)
    app.repo.mark_account_needs_reconnect(gone, "The access token has expired.")
    # token expiring: an account whose token runs out in three days.
    shop = add_account(app, name="shop", ig_user_id="17841400000000004", token=TOKEN)
    _sql(app, "UPDATE accounts SET token_expires_at = :at, token_refresh_error = 'Meta answered 500' WHERE id = :i",
         at=datetime.now(UTC) + timedelta(days=3), i=shop)
    assert app.repo.look_ahead() == 2  # shop's token, gone's post
    assert app.repo.look_ahead() == 0  # every replica, every five minutes: queued once
    # budget: what Preparer queues when the day's money is spent (its trigger: test_prepare_pipeline).
    now = datetime.now(UTC)
    assert app.repo.queue_notice(budget_notice(budget_usd=5.0, spent_usd=4.99, day=now))
    assert not app.repo.queue_notice(budget_notice(budget_usd=5.0, spent_usd=5.0, day=now))
    # dependency: the configured Graph API version ends within its warning window.
    watch = DependencyWatch(graph_version="v21.0", read_model=None, notify=app.repo.queue_notice,
                            today=lambda: date(2026, 12, 1))
    watch.check()
    watch.check()  # daily: told once while it nears


def test_every_event_kind_is_delivered_once_to_a_webhook_and_by_email(
    app: App, state: GraphState, hook: FakeServer[WebhookState], mailbox: Mailbox
) -> None:
    _cause_every_kind(app, state)
    queued = app.repo.notices()
    assert sorted(kind for kind, _, _ in queued) == sorted(k.value for k in NoticeKind)
    sender = app.notice_sender()
    while sender.deliver_pending():
        pass
    titles = sorted(title for _, title, _ in queued)
    assert sorted(hook.state.titles()) == titles
    assert sorted(mailbox.subjects()) == titles
    assert all(r == ["team@example.com"] for r in mailbox.recipients)
    assert all(done is not None for _, _, done in app.repo.notices())
    by_title = {m["Subject"]: m.get_content() for m in mailbox.messages}
    risk = next(t for t in titles if "will not go out unless you act" in t)
    assert risk.startswith("postpilot: post ") and " for gone (" in risk
    assert "Reconnect the account now: postpilot account connect gone" in by_title[risk]
    expiring = next(t for t in titles if t.startswith("postpilot: the Instagram account shop stops working on"))
    assert "The automatic refresh failed: Meta answered 500" in by_title[expiring]
    assert "postpilot: the daily image budget of $5.00 is spent" in titles
    assert "postpilot: the Graph API version v21.0 ends on 2027-01-21" in titles
    # Plain lines stay lines in the e-mail, and nothing secret is in any message.
    failed = next(t for t in titles if t.endswith(" failed"))
    assert by_title[failed].splitlines()[-1].startswith("Details: postpilot post show ")
    everything = " ".join(by_title.values()) + " ".join(str(m) for m in hook.state.received)
    assert TOKEN not in everything and "s3cr3t" not in " ".join(by_title.values())


def test_a_token_notice_is_not_repeated_until_the_token_changes(app: App) -> None:
    shop = add_account(app, name="shop")
    soon = datetime.now(UTC) + timedelta(days=2)
    _sql(app, "UPDATE accounts SET token_expires_at = :at WHERE id = :i", at=soon, i=shop)
    assert app.repo.queue_token_expiry_notices() == 1
    assert app.repo.queue_token_expiry_notices() == 0
    # A refresh that fails again brings no new notice; a new token that nears its end too brings one.
    _sql(app, "UPDATE accounts SET token_expires_at = :at WHERE id = :i", at=soon + timedelta(days=1), i=shop)
    assert app.repo.queue_token_expiry_notices() == 1
    # Far from its end, a dry-run account, or one already told to reconnect: nothing.
    _sql(app, "UPDATE accounts SET token_expires_at = :at WHERE id = :i", at=soon + timedelta(days=30), i=shop)
    dry = add_account(app, name="dry", ig_user_id="17841400000000009", dry_run=True)
    _sql(app, "UPDATE accounts SET token_expires_at = :at WHERE id = :i", at=soon, i=dry)
    assert app.repo.queue_token_expiry_notices() == 0


def test_a_post_is_at_risk_only_when_its_token_ends_before_it_within_the_hour(app: App) -> None:
    brand = add_account(app)
    inside = _insert(app, brand, minutes=40)
    _insert(app, brand, minutes=120)  # beyond the hour: looked at later
    _sql(app, "UPDATE accounts SET token_expires_at = :at WHERE id = :i",
         at=datetime.now(UTC) + timedelta(minutes=20), i=brand)
    assert app.repo.queue_posts_at_risk() == 1
    (_kind, title, _), = [n for n in app.repo.notices() if n[0] == "at_risk"]
    assert title.startswith(f"postpilot: post {inside} for brand (")
    _sql(app, "UPDATE accounts SET token_expires_at = :at WHERE id = :i",
         at=datetime.now(UTC) + timedelta(days=20), i=brand)
    other = _insert(app, brand, minutes=45)
    assert app.repo.queue_posts_at_risk() == 0
    app.repo.cancel(other)
    assert app.repo.require_post(other).status is PostStatus.CANCELLED
