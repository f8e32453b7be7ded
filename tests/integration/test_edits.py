"""Issue 13: what the marketer wrote is what goes out. Edits made with plain SQL after preparation, at each
stage (ready before staging, ready after staging, right before publishing, while preparing, while publishing),
on SQLite and PostgreSQL, against the Graph fake, with the real prepare step (offline card renderer, local store).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from postpilot.app import App, build_app
from postpilot.domain.model import PostStatus
from postpilot.pipeline import Outcome
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import IG_USER, add_account, event_kinds, make_app, post, publish_now

PUBLIC = "https://media.example.test/postpilot"


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, public_media_url=PUBLIC, image_provider="card",
                           media_store="local")
    yield application
    application.close()


def _add(app: App, account_id: int, *, minutes: float = 10, **values: object) -> int:
    fields = {"account_id": account_id, "post_type": "photo", "caption": "Old caption #v1",
              "prompt": "a lighthouse at dawn", "scheduled_at": datetime.now(UTC) + timedelta(minutes=minutes),
              **values}
    return app.repo.add_post(fields, actor="test")


def _sql(app: App, statement: str, **params: object) -> None:
    with app.engine.begin() as conn:
        conn.execute(text(statement), params)


def _prepare(app: App) -> None:
    s = app.settings
    for claimed in app.repo.claim_for_prepare(owner=app.owner, ahead_s=s.prepare_ahead_s, lease_s=60, batch=10):
        assert app.pipeline.prepare(claimed).outcome is Outcome.READY


def _stage(app: App) -> list[Outcome]:
    claimed = app.repo.claim_for_stage(owner=app.owner, ahead_s=3600, lease_s=60, batch=10)
    return [app.pipeline.stage(p).outcome for p in claimed]


def _make_due(app: App, post_id: int) -> None:
    _sql(app, "UPDATE scheduled_posts SET scheduled_at = :at WHERE id = :id",
         at=datetime.now(UTC) - timedelta(seconds=1), id=post_id)


def _published_caption(state: GraphState) -> str:
    (media,) = state.media
    return media.caption


def test_a_caption_edited_after_staging_is_the_caption_published(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id)
    _prepare(app)
    image_before = post(app, post_id).image_url
    media_before = [m.id for m in app.repo.media(post_id)]
    assert _stage(app) == [Outcome.STAGED]
    old_container = post(app, post_id).container_id
    assert old_container is not None

    _sql(app, "UPDATE scheduled_posts SET caption = 'New caption #v2' WHERE id = :id", id=post_id)
    _make_due(app, post_id)
    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING and "edited after preparation (caption)" in (result.message or "")
    reopened = post(app, post_id)
    assert reopened.status is PostStatus.SCHEDULED and reopened.container_id is None
    _prepare(app)  # instant: the image is kept
    assert [m.id for m in app.repo.media(post_id)] == media_before and post(app, post_id).image_url == image_before
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert _published_caption(state) == "New caption #v2"
    assert old_container not in state.publish_calls  # the stale container was never published
    assert "edited" in event_kinds(app, post_id)


def test_a_staged_post_moved_to_another_account_goes_out_there_with_a_new_container(
    app: App, state: GraphState, account_id: int
) -> None:
    """A container belongs to the Instagram account it was made for: the post is staged again on the new
    one, its images kept, and the old account gets nothing."""
    other_ig, other_token = "17841400000000777", "EAAother-token-0123456789abcdef"
    state.add_account(other_ig, other_token, username="second")
    other = add_account(app, name="second", ig_user_id=other_ig, token=other_token)
    post_id = _add(app, account_id)
    _prepare(app)
    media_before = [m.id for m in app.repo.media(post_id)]
    assert _stage(app) == [Outcome.STAGED]
    old_container = post(app, post_id).container_id

    _sql(app, "UPDATE scheduled_posts SET account_id = :a WHERE id = :id", a=other, id=post_id)
    _make_due(app, post_id)
    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING and "edited after preparation (account_id)" in (result.message or "")
    _prepare(app)
    assert [m.id for m in app.repo.media(post_id)] == media_before  # the images are kept
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert state.published_count(other_ig) == 1 and state.published_count(IG_USER) == 0
    assert old_container not in state.publish_calls


def test_a_new_time_written_after_staging_re_times_the_post(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id)
    _prepare(app)
    assert _stage(app) == [Outcome.STAGED]
    later = datetime.now(UTC) + timedelta(hours=3)
    _sql(app, "UPDATE scheduled_posts SET scheduled_at = :t WHERE id = :id", t=later, id=post_id)
    # Not due at its old minute any more: nothing to publish now.
    assert app.repo.claim_for_publish(owner=app.owner, lease_s=60, batch=10) == []
    _sql(app, "UPDATE scheduled_posts SET scheduled_at = :t WHERE id = :id",
         t=datetime.now(UTC) - timedelta(seconds=1), id=post_id)  # its new minute comes
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert state.published_count(IG_USER) == 1


def test_a_carousel_given_one_more_image_keeps_the_others(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id, post_type="carousel", image_count=3)
    _prepare(app)
    before = sorted(m.id for m in app.repo.media(post_id))
    assert len(before) == 3
    _sql(app, "UPDATE scheduled_posts SET image_count = 4 WHERE id = :id", id=post_id)
    _make_due(app, post_id)
    assert publish_now(app, post_id).outcome is Outcome.WAITING
    _prepare(app)
    after = sorted(m.id for m in app.repo.media(post_id))
    assert len(after) == 4 and set(before) <= set(after)  # three kept, one made
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    (parent,) = [c for c in state.containers.values() if c.media_type == "CAROUSEL"]
    assert len(parent.children) == 4


def test_a_carousel_turned_into_a_photo_goes_out_as_a_photo(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id, post_type="carousel", image_count=2)
    _prepare(app)
    _sql(app, "UPDATE scheduled_posts SET post_type = 'photo', image_count = NULL, media_urls = NULL WHERE id = :id",
         id=post_id)
    _make_due(app, post_id)
    assert publish_now(app, post_id).outcome is Outcome.WAITING
    _prepare(app)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert [c.media_type for c in state.containers.values() if c.id in state.publish_calls] == ["IMAGE"]


def test_a_prompt_edited_after_preparation_makes_a_new_image_and_alt_text(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id)
    _prepare(app)
    before = post(app, post_id)
    (old_media,) = app.repo.media(post_id)
    assert before.alt_text == "a lighthouse at dawn"  # filled from the prompt

    _sql(app, "UPDATE scheduled_posts SET prompt = 'a red bicycle in the rain' WHERE id = :id", id=post_id)
    assert _stage(app) == [Outcome.WAITING]  # seen before any container was made
    _prepare(app)

    after = post(app, post_id)
    (new_media,) = app.repo.media(post_id)
    assert new_media.prompt == "a red bicycle in the rain" and new_media.checksum != old_media.checksum
    assert after.alt_text == "a red bicycle in the rain"
    assert after.image_url == new_media.stored_url
    assert _stage(app) == [Outcome.STAGED]
    container = state.containers[post(app, post_id).container_id or ""]
    assert container.alt_text == "a red bicycle in the rain" and container.image_url == new_media.stored_url


def test_an_edit_during_preparation_is_caught_before_staging(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id)
    (claimed,) = app.repo.claim_for_prepare(owner=app.owner, ahead_s=3600, lease_s=60, batch=10)
    _sql(app, "UPDATE scheduled_posts SET caption = 'Written while preparing' WHERE id = :id", id=post_id)
    assert app.pipeline.prepare(claimed).outcome is Outcome.READY  # prepared from the row as claimed

    assert _stage(app) == [Outcome.WAITING]
    _prepare(app)
    assert _stage(app) == [Outcome.STAGED]
    assert state.containers[post(app, post_id).container_id or ""].caption == "Written while preparing"


def test_a_marketers_own_image_url_written_during_preparation_is_kept_and_used(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id)
    (claimed,) = app.repo.claim_for_prepare(owner=app.owner, ahead_s=3600, lease_s=60, batch=10)
    own = f"{PUBLIC}/marketers-own.jpg"
    _sql(app, "UPDATE scheduled_posts SET image_url = :u WHERE id = :id", u=own, id=post_id)
    app.pipeline.prepare(claimed)
    assert post(app, post_id).image_url == own  # the fill never overwrites what the marketer wrote


def test_an_alt_text_edit_on_a_carousel_keeps_the_images_and_remakes_the_children(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id, post_type="carousel", image_count=3)
    _prepare(app)
    assert _stage(app) == [Outcome.STAGED]
    kept = sorted(m.id for m in app.repo.media(post_id))

    _sql(app, "UPDATE scheduled_posts SET alt_text = 'Three views of the lighthouse' WHERE id = :id", id=post_id)
    _make_due(app, post_id)
    assert publish_now(app, post_id).outcome is Outcome.WAITING
    _prepare(app)
    assert sorted(m.id for m in app.repo.media(post_id)) == kept
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    parent = state.containers[post(app, post_id).container_id or ""]
    assert [state.containers[c].alt_text for c in parent.children] == ["Three views of the lighthouse"] * 3


def test_a_change_of_aspect_remakes_every_image(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id)
    _prepare(app)
    (square,) = app.repo.media(post_id)
    _sql(app, "UPDATE scheduled_posts SET aspect = 'portrait' WHERE id = :id", id=post_id)
    assert _stage(app) == [Outcome.WAITING]
    _prepare(app)
    (portrait,) = app.repo.media(post_id)
    assert (portrait.width, portrait.height) == (1080, 1350) and portrait.stored_url != square.stored_url


def test_an_edit_while_media_publish_is_under_way_is_reported_not_lost(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id)
    _prepare(app)
    assert _stage(app) == [Outcome.STAGED]
    _make_due(app, post_id)
    state.latency["publish"] = 0.5  # under the 1 s publish timeout
    results: list[Outcome] = []
    worker = threading.Thread(target=lambda: results.append(publish_now(app, post_id).outcome))
    worker.start()
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not any(r.kind == "publish" for r in list(state.requests)) and datetime.now(UTC) < deadline:
        pass
    _sql(app, "UPDATE scheduled_posts SET caption = 'Too late' WHERE id = :id", id=post_id)
    worker.join(10)

    assert results == [Outcome.PUBLISHED]
    assert _published_caption(state) == "Old caption #v1"
    late = [e for e in app.repo.events(post_id) if e.kind == "edited_too_late"]
    assert late and "edited while it was being published (caption)" in (late[0].message or "")


def test_a_post_prepared_before_edits_were_tracked_publishes_as_before(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id)
    _prepare(app)
    _sql(app, "UPDATE scheduled_posts SET prepared_content = NULL WHERE id = :id", id=post_id)
    _make_due(app, post_id)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED


def test_a_live_post_with_file_images_is_refused_before_instagram_and_a_retry_uses_the_public_url(
    app: App, state: GraphState, account_id: int
) -> None:
    """Issue 13: the local store without POSTPILOT_PUBLIC_MEDIA_URL gives file:// URLs, which Instagram cannot
    fetch. The post fails before any Graph API call, saying what to do; after the setting is made, a retry
    publishes the same image from its public address (nothing is generated again)."""
    private = build_app(app.settings.model_copy(update={"public_media_url": None}), owner="test-worker")
    try:
        post_id = _add(private, account_id)
        _prepare(private)
        (item,) = private.repo.media(post_id)
        assert item.stored_url and item.stored_url.startswith("file:")
        before = len(state.requests)
        assert _stage(private) == [Outcome.FAILED]
        failed = post(private, post_id)
        assert failed.status is PostStatus.FAILED
        assert "which Instagram cannot download: serve the media directory publicly" in (failed.last_error or "")
        assert len(state.requests) == before  # not one call reached the Graph API
    finally:
        private.close()

    # The same settings with POSTPILOT_PUBLIC_MEDIA_URL, as after a restart.
    app.repo.retry(post_id)
    _prepare(app)
    (again,) = app.repo.media(post_id)
    assert again.id == item.id and again.checksum == item.checksum  # the same image, not a new one
    assert again.stored_url == f"{PUBLIC}/post-{post_id}-0.jpg"
    ready = post(app, post_id)
    assert ready.status is PostStatus.READY and ready.image_url == again.stored_url
    assert _stage(app) == [Outcome.STAGED]
    assert state.containers[post(app, post_id).container_id or ""].image_url == again.stored_url
