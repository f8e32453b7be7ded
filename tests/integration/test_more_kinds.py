"""Issue 16 through the real pipeline against the Graph API fake (which checks the parameters as Meta documents
them): stories, people tags, collaborators, location, reel options, trial reels, carousels mixing images and
videos, the first comment, and the duplicate guard; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text

from postpilot.app import App
from postpilot.domain.errors import InvalidInput, Permanent
from postpilot.domain.model import PostStatus
from postpilot.domain.publish_options import UserTag
from postpilot.instagram.graph_api import ContainerExtras
from postpilot.pipeline import Outcome
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.fakes.graph.records import FakeContainer
from tests.integration.pipeline_helpers import IG_USER, add_account, make_app, publish_now, set_post
from tests.integration.prepare_helpers import MediaHost

PUBLIC = "https://media.example.test/postpilot"


@pytest.fixture
def media_host() -> Iterator[MediaHost]:
    with MediaHost() as host:
        yield host


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, public_media_url=PUBLIC, image_provider="card",
                           media_store="local", fetch_allow_networks="127.0.0.0/8",
                           duplicate_window_s=3 * 86400.0)
    yield application
    application.close()


def _add(app: App, account_id: int, **values: Any) -> int:
    row = {"account_id": account_id, "caption": "", "scheduled_at": datetime.now(UTC) + timedelta(minutes=10),
           **values}
    return app.repo.add_post(row, actor="test")


def _prepare(app: App, post_id: int) -> Outcome:
    claimed = app.repo.claim_to_prepare_now(owner=app.owner, lease_s=60, post_ids=[post_id])
    assert claimed, app.repo.require_post(post_id)
    return app.pipeline.prepare(claimed[0]).outcome


def _go_live(app: App, post_id: int) -> Outcome:
    assert _prepare(app, post_id) is Outcome.READY, app.repo.require_post(post_id).last_error
    set_post(app, post_id, scheduled_at=datetime.now(UTC) - timedelta(seconds=30))
    return publish_now(app, post_id).outcome


def _containers(state: GraphState, **match: Any) -> list[FakeContainer]:
    return [c for c in state.containers.values() if all(getattr(c, k) == v for k, v in match.items())]


# ------------------------------------------------------------------------------------------------ stories
def test_a_generated_story_is_published_9_by_16_with_people_mentioned(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id, post_type="story", prompt="croissants fresh from the oven",
                   user_tags=[{"username": "ourshop"}, {"username": "baker.jo", "x": 0.3, "y": 0.7}])
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    (story,) = _containers(state, media_type="STORIES")
    assert story.caption == "" and story.image_url and story.image_url.startswith(PUBLIC)
    assert story.user_tags == [{"username": "ourshop"}, {"username": "baker.jo", "x": 0.3, "y": 0.7}]
    (item,) = app.repo.media(post_id)
    assert (item.width, item.height) == (1080, 1920)
    path = Path(app.settings.state_dir) / "media" / item.stored_url.rsplit("/", 1)[-1]  # type: ignore[union-attr]
    with Image.open(path) as image:
        assert image.size == (1080, 1920)
    assert state.media[-1].media_product_type == "STORY"


def test_a_video_story_goes_out_as_its_video(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id, post_type="story", video_url="https://cdn.example.test/clip.mp4")
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    (story,) = _containers(state, media_type="STORIES")
    assert story.video_url == "https://cdn.example.test/clip.mp4" and story.image_url is None


@pytest.mark.parametrize(("values", "message"), [
    ({"caption": "Hello"}, "a story has no caption on Instagram"),
    ({"first_comment": "#tags"}, "first_comment is not possible on a story"),
    ({"collaborators": ["partner"]}, "collaborators are not supported on stories"),
    ({"location_id": "1234"}, "location_id is not supported on stories"),
])
def test_a_story_refuses_what_stories_do_not_take(
    app: App, state: GraphState, account_id: int, values: dict[str, Any], message: str
) -> None:
    post_id = _add(app, account_id, post_type="story", prompt="p", **values)
    assert _prepare(app, post_id) is Outcome.FAILED
    assert message in (app.repo.require_post(post_id).last_error or "")
    assert state.containers == {}


def test_the_fake_refuses_a_caption_on_a_story_as_meta_does(app: App, account_id: int) -> None:
    account = app.repo.account(account_id)
    assert account is not None
    graph = app.graphs.graph_for(account)
    with pytest.raises(Permanent):
        graph._create(IG_USER, {"media_type": "STORIES", "image_url": f"{PUBLIC}/s.jpg", "caption": "no"})


# ------------------------------------------------------------------------------------------------ tags etc.
def test_a_photo_with_people_collaborators_and_a_location(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id, caption="Launch day", prompt="a shop front",
                   user_tags=[{"username": "friend", "x": 0.25, "y": 0.5}], collaborators=["partner_shop", "studio"],
                   location_id="110843418940484")
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    (photo,) = _containers(state, media_type="IMAGE")
    assert photo.caption == "Launch day" and photo.alt_text == "a shop front"
    assert photo.user_tags == [{"username": "friend", "x": 0.25, "y": 0.5}]
    assert photo.collaborators == ["partner_shop", "studio"] and photo.location_id == "110843418940484"


def test_a_carousel_mixes_images_and_videos_with_tags_on_their_slides(
    app: App, state: GraphState, account_id: int, media_host: MediaHost
) -> None:
    slides = [{"url": f"{media_host.url}/good-1.png", "alt_text": "the counter"},
              "https://cdn.example.test/making-of.mp4",
              f"{media_host.url}/good-2.png"]
    post_id = _add(app, account_id, post_type="carousel", caption="Three looks", media_urls=slides,
                   alt_text="our shop", user_tags=[{"username": "friend", "x": 0.5, "y": 0.5, "item": 3}],
                   collaborators=["partner_shop"], location_id="42")
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    (parent,) = _containers(state, media_type="CAROUSEL")
    children = [state.containers[c] for c in parent.children]
    assert [c.media_type for c in children] == ["IMAGE", "VIDEO", "IMAGE"]  # in the order given
    assert children[1].video_url == "https://cdn.example.test/making-of.mp4"
    assert [c.alt_text for c in children] == ["the counter", None, "our shop"]
    assert [c.user_tags for c in children] == [[], [], [{"username": "friend", "x": 0.5, "y": 0.5}]]
    assert all(c.collaborators == [] and c.location_id is None for c in children)  # never on a child
    assert parent.collaborators == ["partner_shop"] and parent.location_id == "42" and parent.caption == "Three looks"


def test_a_reel_with_its_options_and_as_a_trial(app: App, state: GraphState, account_id: int) -> None:
    post_id = _add(app, account_id, post_type="reel", caption="Behind the scenes",
                   video_url="https://cdn.example.test/bts.mp4", share_to_feed=False, thumb_offset=1500,
                   audio_name="Bakery sounds", trial_params={"graduation_strategy": "SS_PERFORMANCE"},
                   user_tags=[{"username": "baker.jo"}], collaborators=["partner_shop"])
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    (reel,) = _containers(state, media_type="REELS")
    assert reel.share_to_feed is False and reel.thumb_offset == 1500 and reel.audio_name == "Bakery sounds"
    assert reel.trial_params == {"graduation_strategy": "SS_PERFORMANCE"}
    assert reel.user_tags == [{"username": "baker.jo"}] and reel.collaborators == ["partner_shop"]


def test_the_fake_refuses_collaborators_on_a_child_and_more_than_20_tags(app: App, account_id: int) -> None:
    account = app.repo.account(account_id)
    assert account is not None
    graph = app.graphs.graph_for(account)
    with pytest.raises(Permanent, match=r"(?i)invalid parameter|collaborators"):
        graph._create(IG_USER, {"image_url": f"{PUBLIC}/a.jpg", "is_carousel_item": "true",
                                "collaborators": json.dumps(["partner"])})
    many = [UserTag(username=f"user{i}", x=0.1, y=0.1) for i in range(21)]
    with pytest.raises(Permanent):
        graph.create_image_container(IG_USER, image_url=f"{PUBLIC}/a.jpg", extras=ContainerExtras(user_tags=many))


@pytest.mark.parametrize(("values", "message"), [
    ({"user_tags": [{"username": f"u{i}", "x": 0.1, "y": 0.1} for i in range(21)]},
     "user_tags has 21 people; Instagram allows at most 20"),
    ({"user_tags": [{"username": "@friend", "x": 0.1, "y": 0.1}]}, "write the username without the @"),
    ({"user_tags": [{"username": "friend", "x": 1.5, "y": 0.1}]}, "user_tags item 1 x must be a number from 0.0"),
    ({"user_tags": [{"username": "friend"}]}, "user_tags item 1 x must be a number from 0.0 to 1.0"),
    ({"user_tags": "friend"}, "user_tags must be a JSON array of people"),
    ({"collaborators": ["a", "b", "c", "d"]}, "collaborators has 4 usernames; Instagram allows at most 3"),
    ({"location_id": "near the harbour"}, "location_id must be the numeric id of a Facebook Page"),
    ({"share_to_feed": True}, "share_to_feed is only for a reel"),
    ({"trial_params": {"graduation_strategy": "MANUAL"}}, "trial_params is only for a reel"),
    ({"first_comment": "x" * 2201}, "first_comment is 2201 characters long; Instagram allows at most 2200"),
])
def test_every_option_a_marketer_can_get_wrong_says_which_and_why(
    app: App, account_id: int, values: dict[str, Any], message: str
) -> None:
    post_id = _add(app, account_id, prompt="p", **values)
    assert _prepare(app, post_id) is Outcome.FAILED
    assert message in (app.repo.require_post(post_id).last_error or "")


def test_the_new_columns_are_optional_for_plain_sql_and_take_json(app: App, state: GraphState,
                                                                 account_id: int) -> None:
    with app.engine.begin() as conn:
        plain = conn.execute(text("INSERT INTO scheduled_posts (account_id, caption, prompt, scheduled_at) "
                                  "VALUES (:a, 'old style', 'p', :t) RETURNING id"),
                             {"a": account_id, "t": datetime.now(UTC) + timedelta(minutes=5)}).scalar_one()
    row = app.repo.require_post(int(plain))
    assert (row.user_tags, row.first_comment, row.allow_duplicate, row.first_comment_attempts) == (None, None, False, 0)
    with pytest.raises(InvalidInput, match="reel tags people by username only"):
        from postpilot.domain import validation
        validation.check(validation.PostDraft(post_type="reel", video_url="https://x.test/v.mp4",
                                              user_tags=[{"username": "a", "x": 0.1, "y": 0.2}],
                                              scheduled_at=datetime.now(UTC)))


# ------------------------------------------------------------------------------------------------ first comment
def test_the_first_comment_is_posted_right_after_the_post_is_live(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id, caption="Fresh bread", prompt="bread", first_comment="#bakery #bread")
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    live = app.repo.require_post(post_id)
    (media,) = [m for m in state.media if m.id == live.ig_media_id]
    assert [c["text"] for c in media.comments] == ["#bakery #bread"]
    assert live.first_comment_id == media.comments[0]["id"] and live.first_comment_error is None
    assert "first_comment" in [e.kind for e in app.repo.events(post_id)]
    assert app.first_comments.run_due() == 0 and state.comments_created == 1  # never twice


def test_a_failing_first_comment_is_retried_on_its_own_and_never_fails_the_post(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id, prompt="bread", first_comment="#bakery")
    state.inject_server_error("comment", status=503, count=1)
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    waiting = app.repo.require_post(post_id)
    assert waiting.status is PostStatus.PUBLISHED and waiting.first_comment_id is None
    assert waiting.first_comment_error and waiting.first_comment_attempts == 1
    assert app.first_comments.run_due() == 0  # backing off: not yet
    set_post(app, post_id, first_comment_next_at=None)
    assert app.first_comments.run_due() == 1
    assert app.repo.require_post(post_id).first_comment_id and state.comments_created == 1
    kinds = [e.kind for e in app.repo.events(post_id)]
    assert kinds.count("first_comment_failed") == 1 and kinds[-1] == "first_comment"


def test_a_comment_whose_answer_was_lost_is_found_not_posted_again(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = _add(app, account_id, prompt="bread", first_comment="#bakery")
    state.inject_drop("comment", commit=True)  # Instagram made it; the answer never came back
    assert _go_live(app, post_id) is Outcome.PUBLISHED
    assert app.repo.require_post(post_id).first_comment_id is None
    set_post(app, post_id, first_comment_next_at=None)
    assert app.first_comments.run_due() == 1
    assert state.comments_created == 1
    assert "already on the post" in (app.repo.events(post_id)[-1].message or "")


def test_a_comment_without_the_permission_is_refused_and_given_up_in_plain_words(
    app: App, state: GraphState, server: FakeServer[GraphState]
) -> None:
    token = "tok-no-comments-" + "x" * 8
    state.add_account("17841400000000055", token, scopes=("instagram_basic", "instagram_content_publish",
                                                           "pages_read_engagement"))
    account_id = add_account(app, name="quiet", ig_user_id="17841400000000055", token=token)
    post_id = _add(app, account_id, prompt="bread", first_comment="#bakery")
    assert _go_live(app, post_id) is Outcome.PUBLISHED  # the post is live whatever the comment does
    after = app.repo.require_post(post_id)
    assert after.status is PostStatus.PUBLISHED and after.first_comment_id is None
    assert "permission" in (after.first_comment_error or "") and "given up" in (after.first_comment_error or "")
    assert state.comments_created == 0


# ------------------------------------------------------------------------------------------------ duplicates
def test_a_repeated_post_is_held_until_a_person_allows_it(
    app: App, state: GraphState, account_id: int, media_host: MediaHost
) -> None:
    first = _add(app, account_id, caption="Sale  today!", image_url=f"{media_host.url}/good-1.png")
    again = _add(app, account_id, caption="sale today!", image_url=f"{media_host.url}/good-1.png",
                 scheduled_at=datetime.now(UTC) + timedelta(minutes=40))
    other = _add(app, account_id, caption="Sale today!", image_url=f"{media_host.url}/good-2.png")
    assert _prepare(app, again) is Outcome.FAILED
    held = app.repo.require_post(again)
    assert held.last_error is not None and held.last_error.startswith(f"held as a duplicate: its caption and media "
                                                                     f"match post {first}")
    assert f"postpilot post retry {again} --allow-duplicate" in held.last_error
    assert _prepare(app, other) is Outcome.READY  # other media: not a repeat
    app.repo.retry(again, allow_duplicate=True)
    assert _prepare(app, again) is Outcome.READY


def test_the_guard_can_be_turned_off_per_account(app: App, state: GraphState, account_id: int) -> None:
    _add(app, account_id, caption="Same", prompt="a lighthouse")
    again = _add(app, account_id, caption="Same", prompt="a lighthouse")
    app.repo.set_account_duplicate_guard(account_id, False)
    assert _prepare(app, again) is Outcome.READY


def test_the_preview_shows_the_story_and_first_comment_requests(app: App, account_id: int) -> None:
    story = _add(app, account_id, post_type="story", prompt="croissants", user_tags=[{"username": "ourshop"}])
    photo = _add(app, account_id, caption="Bread", prompt="bread", first_comment="#bakery",
                 collaborators=["partner_shop"])
    for post_id in (story, photo):
        assert _prepare(app, post_id) is Outcome.READY
    shown = app.preview(story)
    create = shown.requests[0]
    assert create.form["media_type"] == "STORIES" and "caption" not in create.form
    assert json.loads(create.form["user_tags"]) == [{"username": "ourshop"}]
    steps = [(r.method, r.path.rsplit("/", 1)[-1]) for r in app.preview(photo).requests]
    assert steps[-2:] == [("GET", "comments"), ("POST", "comments")]
    assert app.preview(photo).requests[-1].form == {"message": "#bakery"}
    assert json.loads(app.preview(photo).requests[0].form["collaborators"]) == ["partner_shop"]
