"""Issue 14, approval: a post that needs approval is prepared, then waits; nothing is staged or published until
a person approves it; reject cancels it with the reason; regenerate makes new images and asks again; an edit
withdraws the approval. On SQLite and PostgreSQL, with the real prepare step and the Graph fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from postpilot.app import App
from postpilot.db.alerts import APPROVAL_REMINDER_BEFORE_S
from postpilot.domain.model import PostStatus
from postpilot.pipeline import Outcome
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import event_kinds, make_app, post

PUBLIC = "https://media.example.test/postpilot"


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, public_media_url=PUBLIC, image_provider="card",
                           media_store="local")
    yield application
    application.close()


def _sql(app: App, statement: str, **params: object) -> None:
    with app.engine.begin() as conn:
        conn.execute(text(statement), params)


def _insert(app: App, account_id: int, **extra: object) -> int:
    """With plain SQL, as a marketer would (requires_approval left to its account unless given)."""
    columns = {"account_id": account_id, "caption": "Needs a look #new", "prompt": "a lighthouse at dawn",
               "scheduled_at": datetime.now(UTC) + timedelta(minutes=10), **extra}
    names = ", ".join(columns)
    values = ", ".join(f":{k}" for k in columns)
    with app.engine.begin() as conn:
        return int(conn.execute(text(f"INSERT INTO scheduled_posts ({names}) VALUES ({values}) RETURNING id"),
                                columns).scalar_one())


def _prepare(app: App) -> None:
    for claimed in app.repo.claim_for_prepare(owner=app.owner, ahead_s=3600, lease_s=60, batch=10):
        assert app.pipeline.prepare(claimed).outcome is Outcome.READY


def _due_now(app: App, post_id: int) -> None:
    _sql(app, "UPDATE scheduled_posts SET scheduled_at = :t WHERE id = :i",
         t=datetime.now(UTC) - timedelta(seconds=1), i=post_id)


def _publish(app: App) -> list[Outcome]:
    claimed = app.repo.claim_for_publish(owner=app.owner, lease_s=60, batch=10)
    return [app.pipeline.publish(p).outcome for p in claimed]


def test_a_post_for_an_account_that_requires_approval_waits_and_then_goes_out(
    app: App, state: GraphState, account_id: int
) -> None:
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id)
    _prepare(app)
    waiting = post(app, post_id)
    assert waiting.status is PostStatus.READY
    expected = f"waiting for approval: run postpilot post approve {post_id} (or post reject {post_id})"
    assert waiting.last_error == expected
    assert "awaiting_approval" in event_kinds(app, post_id)
    assert [k for k, _t, _d in app.repo.notices(post_id=post_id)] == ["approval"]
    # Nothing is staged ahead, and at its time nothing is published.
    assert app.repo.claim_for_stage(owner=app.owner, ahead_s=3600, lease_s=60, batch=10) == []
    _due_now(app, post_id)
    assert _publish(app) == []
    assert state.total_publish_calls() == 0

    approved = app.repo.approve(post_id, actor="cli:maria")
    assert approved.approved_by == "cli:maria" and approved.approved_at is not None and approved.last_error is None
    assert _publish(app) == [Outcome.PUBLISHED]
    assert "approved" in event_kinds(app, post_id)


def test_a_single_post_can_ask_for_approval_itself(app: App, state: GraphState, account_id: int) -> None:
    own = _insert(app, account_id, requires_approval=True)
    free = _insert(app, account_id)
    _prepare(app)
    for post_id in (own, free):
        _due_now(app, post_id)
    assert _publish(app) == [Outcome.PUBLISHED]
    assert post(app, own).status is PostStatus.READY and post(app, free).status is PostStatus.PUBLISHED


def test_reject_cancels_with_the_reason(app: App, state: GraphState, account_id: int) -> None:
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id)
    _prepare(app)
    rejected = app.repo.reject(post_id, actor="cli:maria", reason="wrong product in the picture")
    assert rejected.status is PostStatus.CANCELLED
    assert rejected.last_error == "rejected by cli:maria: wrong product in the picture"
    _due_now(app, post_id)
    assert _publish(app) == [] and state.total_publish_calls() == 0


def test_regenerate_makes_new_images_and_asks_again(app: App, state: GraphState, account_id: int) -> None:
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id)
    _prepare(app)
    (old,) = app.repo.media(post_id)
    app.repo.approve(post_id, actor="cli:maria")
    again = app.repo.regenerate(post_id, actor="cli:maria", prompt="a lighthouse at night")
    assert again.status is PostStatus.SCHEDULED and again.approved_at is None and again.image_url is None
    _prepare(app)
    (new,) = app.repo.media(post_id)
    assert new.prompt == "a lighthouse at night" and new.checksum != old.checksum and new.stored_url != old.stored_url
    assert post(app, post_id).last_error is not None  # waiting for approval again
    _due_now(app, post_id)
    assert _publish(app) == []


def test_an_edit_after_approval_withdraws_it(app: App, state: GraphState, account_id: int) -> None:
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id)
    _prepare(app)
    app.repo.approve(post_id, actor="cli:maria")
    _sql(app, "UPDATE scheduled_posts SET caption = 'Changed after approval' WHERE id = :i", i=post_id)
    _due_now(app, post_id)
    assert _publish(app) == [Outcome.WAITING]  # the edit is seen before media_publish
    reopened = post(app, post_id)
    assert reopened.status is PostStatus.SCHEDULED and reopened.approved_at is None
    _prepare(app)
    assert _publish(app) == []  # approved content is not what would go out: a person looks again
    assert state.total_publish_calls() == 0


def test_a_first_comment_changed_after_approval_waits_for_a_person_again(
    app: App, state: GraphState, account_id: int
) -> None:
    """The first comment is not prepared (no image or container depends on it), but it was approved: a new
    one written with SQL after the approval is never posted unseen."""
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id, first_comment="#lighthouse")
    _prepare(app)
    app.repo.approve(post_id, actor="cli:maria")
    _sql(app, "UPDATE scheduled_posts SET first_comment = '#NOT REVIEWED' WHERE id = :i", i=post_id)
    _due_now(app, post_id)
    assert _publish(app) == [Outcome.WAITING]
    held = post(app, post_id)
    assert held.status is PostStatus.READY and held.approved_at is None and held.approved_by is None
    assert held.last_error == (f"edited after approval (first_comment): waiting for approval again: run postpilot "
                               f"post approve {post_id} (or post reject {post_id})")
    assert [k for k, _t, _d in app.repo.notices(post_id=post_id)] == ["approval", "approval"]
    assert _publish(app) == [] and state.total_publish_calls() == 0
    app.repo.approve(post_id, actor="cli:maria")  # she has seen it now
    assert _publish(app) == [Outcome.PUBLISHED]
    live = post(app, post_id)
    (media,) = [m for m in state.media if m.id == live.ig_media_id]
    assert [c["text"] for c in media.comments] == ["#NOT REVIEWED"]  # what she approved the second time


def test_a_caption_changed_between_approval_and_preparation_is_seen(
    app: App, state: GraphState, account_id: int
) -> None:
    """Approved while still scheduled, edited before it was prepared: preparation takes the new caption as
    its own, and only the approval's record shows it is not what the person approved."""
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id)
    app.repo.approve(post_id, actor="cli:maria")
    _sql(app, "UPDATE scheduled_posts SET caption = 'Not what Maria saw' WHERE id = :i", i=post_id)
    _prepare(app)
    assert app.repo.claim_for_stage(owner=app.owner, ahead_s=3600, lease_s=60, batch=10) != []
    held = post(app, post_id)  # claimed for staging ahead; the check runs before a container is made
    staged = [app.pipeline.stage(p).outcome for p in [held]]
    assert staged == [Outcome.WAITING]
    again = post(app, post_id)
    assert again.approved_at is None and again.last_error and again.last_error.startswith(
        "edited after approval (caption)")
    _due_now(app, post_id)
    assert _publish(app) == [] and state.total_publish_calls() == 0


def test_an_approval_with_nothing_changed_goes_out(app: App, state: GraphState, account_id: int) -> None:
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id, first_comment="#same")
    _prepare(app)
    app.repo.approve(post_id, actor="cli:maria")
    _sql(app, "UPDATE scheduled_posts SET first_comment = '#same', caption = caption WHERE id = :i", i=post_id)
    _due_now(app, post_id)
    assert _publish(app) == [Outcome.PUBLISHED]


def test_a_post_never_approved_ends_missed_with_a_plain_reason(app: App, account_id: int) -> None:
    app.repo.set_account_require_approval(account_id, True)
    post_id = _insert(app, account_id)
    _prepare(app)
    _sql(app, "UPDATE scheduled_posts SET scheduled_at = :t WHERE id = :i",
         t=datetime.now(UTC) - timedelta(hours=25), i=post_id)
    assert app.repo.fail_missed(max_lateness_s=24 * 3600) == [post_id]
    missed = post(app, post_id)
    assert missed.status is PostStatus.FAILED
    assert missed.last_error == (
        "missed: it was not published within the allowed lateness (last problem: waiting for approval: run "
        f"postpilot post approve {post_id} (or post reject {post_id}))"
    )


def test_an_unapproved_post_is_brought_up_again_shortly_before_its_time(app: App, account_id: int) -> None:
    app.repo.set_account_require_approval(account_id, True)
    soon = _insert(app, account_id)  # due in 10 minutes
    later = _insert(app, account_id, scheduled_at=datetime.now(UTC) + timedelta(hours=5))
    for claimed in app.repo.claim_to_prepare_now(owner=app.owner, lease_s=60, post_ids=[soon, later]):
        app.pipeline.prepare(claimed)
    # Prepared ten minutes before its time, it was just told: not twice in the same minute.
    assert app.repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S) == 0
    with app.engine.begin() as conn:  # the first notice went out 20 minutes ago
        conn.execute(text("UPDATE post_events SET at = :at WHERE post_id = :p AND kind = 'awaiting_approval'"),
                     {"at": datetime.now(UTC) - timedelta(minutes=20), "p": soon})
    assert app.repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S) == 1
    assert app.repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S) == 0  # once
    titles = [t for _k, t, _d in app.repo.notices(post_id=soon)]
    assert titles[0].endswith("is ready and waits for approval")
    assert titles[1].endswith("is due soon and still not approved")
    later_titles = [t for _k, t, _d in app.repo.notices(post_id=later)]
    assert len(later_titles) == 1 and later_titles[0].endswith("is ready and waits for approval")  # not due yet
    app.repo.approve(soon, actor="cli:maria")
    assert app.repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S) == 0


def test_the_reminder_comes_in_the_quarter_hour_before_not_with_the_first_notice(app: App, account_id: int) -> None:
    """With the default prepare window (an hour), the first notice comes an hour ahead and the reminder only
    once the post is due within 15 minutes."""
    app.repo.set_account_require_approval(account_id, True)
    hour = _insert(app, account_id, scheduled_at=datetime.now(UTC) + timedelta(minutes=55))
    for claimed in app.repo.claim_to_prepare_now(owner=app.owner, lease_s=60, post_ids=[hour]):
        app.pipeline.prepare(claimed)
    assert app.repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S) == 0
    with app.engine.begin() as conn:  # 45 minutes later: due in 10 minutes
        conn.execute(text("UPDATE post_events SET at = :at WHERE post_id = :p"),
                     {"at": datetime.now(UTC) - timedelta(minutes=45), "p": hour})
        conn.execute(text("UPDATE scheduled_posts SET scheduled_at = :t WHERE id = :p"),
                     {"t": datetime.now(UTC) + timedelta(minutes=10), "p": hour})
    assert app.repo.remind_unapproved(within_s=APPROVAL_REMINDER_BEFORE_S) == 1
    assert [t.rsplit(" is ", 1)[1] for _k, t, _d in app.repo.notices(post_id=hour)] == [
        "ready and waits for approval", "due soon and still not approved"]
