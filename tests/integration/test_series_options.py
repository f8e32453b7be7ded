"""A recurring series carries every option a single post has (people tags, collaborators, location, reel
options, trial reels, first comment), whether written with plain SQL or the CLI; each occurrence goes out with
them through the real pipeline against the Graph fake. And ``'false'`` means false on SQLite as on PostgreSQL.
On both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from postpilot.app import App
from postpilot.cli import cli
from postpilot.db.models import SeriesRow
from postpilot.domain.model import CONTENT_FIELDS
from postpilot.domain.series_rules import TEMPLATE_FIELDS
from postpilot.pipeline import Outcome
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.fakes.graph.records import FakeContainer
from tests.integration.pipeline_helpers import make_app, publish_now, set_post

PUBLIC = "https://media.example.test/postpilot"


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, public_media_url=PUBLIC, image_provider="card",
                           media_store="local")
    yield application
    application.close()


def _sql(app: App, statement: str, **params: Any) -> int | None:
    """Runs ``statement``; the id it returns, if it has ``RETURNING id`` (read before the commit, as SQLite needs)."""
    with app.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return int(result.scalar_one()) if result.returns_rows else None


def _soon_series(app: App, account_id: int, columns: str, values: str, **params: Any) -> int:
    """A daily series written with plain SQL whose first occurrence is 20 minutes from now, once."""
    soon = datetime.now(UTC) + timedelta(minutes=20)
    result = _sql(
        app,
        f"INSERT INTO post_series (account_id, freq, local_time, time_zone, starts_on, max_count, {columns}) "
        f"VALUES (:a, 'daily', :t, 'UTC', :d, 1, {values}) RETURNING id",
        a=account_id, t=soon.strftime("%H:%M"), d=soon.date(), **params,
    )
    assert result is not None
    return result


def _go_live(app: App, series_id: int) -> tuple[int, Outcome]:
    app.repo.expand_series(series_id=series_id, horizon_s=86_400.0)
    ((_at, post),) = app.repo.series_posts(series_id)
    claimed = app.repo.claim_to_prepare_now(owner=app.owner, lease_s=60, post_ids=[post.id])
    assert app.pipeline.prepare(claimed[0]).outcome is Outcome.READY, app.repo.require_post(post.id).last_error
    set_post(app, post.id, scheduled_at=datetime.now(UTC) - timedelta(seconds=30))
    return post.id, publish_now(app, post.id).outcome


def _containers(state: GraphState, **match: Any) -> list[FakeContainer]:
    return [c for c in state.containers.values() if all(getattr(c, k) == v for k, v in match.items())]


def test_the_template_is_every_content_column_and_the_table_has_them_all() -> None:
    assert set(CONTENT_FIELDS) <= set(TEMPLATE_FIELDS)
    assert set(TEMPLATE_FIELDS) <= set(SeriesRow.__table__.columns.keys())


def test_a_sql_reel_series_goes_out_with_its_options(app: App, state: GraphState, account_id: int) -> None:
    series_id = _soon_series(
        app, account_id,
        "post_type, caption, video_url, share_to_feed, thumb_offset, audio_name, trial_params, user_tags, "
        "collaborators",
        "'reel', 'Behind the scenes', 'https://cdn.example.test/bts.mp4', 'false', 1500, 'Bakery sounds', "
        """'{"graduation_strategy": "MANUAL"}', '[{"username": "baker.jo"}]', '["partner_shop"]'""",
    )
    _post_id, outcome = _go_live(app, series_id)
    assert outcome is Outcome.PUBLISHED
    (reel,) = _containers(state, media_type="REELS")
    assert reel.share_to_feed is False and reel.thumb_offset == 1500 and reel.audio_name == "Bakery sounds"
    assert reel.trial_params == {"graduation_strategy": "MANUAL"}
    assert reel.user_tags == [{"username": "baker.jo"}] and reel.collaborators == ["partner_shop"]


def test_a_photo_series_tags_people_and_posts_its_first_comment(
    app: App, state: GraphState, account_id: int
) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=20)
    series_id = app.repo.add_series({
        "account_id": account_id, "caption": "Weekly special", "prompt": "fresh bread", "freq": "daily",
        "local_time": soon.strftime("%H:%M"), "time_zone": "UTC", "starts_on": soon.date(), "max_count": 1,
        "user_tags": [{"username": "friend", "x": 0.25, "y": 0.5}], "collaborators": ["partner_shop"],
        "location_id": "110843418940484", "first_comment": "#bakery",
    })
    post_id, outcome = _go_live(app, series_id)
    assert outcome is Outcome.PUBLISHED
    (photo,) = _containers(state, media_type="IMAGE")
    assert photo.user_tags == [{"username": "friend", "x": 0.25, "y": 0.5}]
    assert photo.collaborators == ["partner_shop"] and photo.location_id == "110843418940484"
    live = app.repo.require_post(post_id)
    (media,) = [m for m in state.media if m.id == live.ig_media_id]
    assert [c["text"] for c in media.comments] == ["#bakery"]


def test_editing_the_options_changes_the_occurrences_not_yet_prepared(app: App, account_id: int) -> None:
    later = datetime.now(UTC) + timedelta(days=3)
    series_id = app.repo.add_series({
        "account_id": account_id, "post_type": "reel", "video_url": "https://cdn.example.test/v.mp4",
        "freq": "daily", "local_time": "10:00", "time_zone": "UTC", "starts_on": later.date(), "max_count": 2,
        "collaborators": ["old_friend"],
    })
    app.repo.expand_series(series_id=series_id, horizon_s=14 * 86_400.0)
    app.repo.edit_series(series_id, {"collaborators": ["new_friend"], "share_to_feed": False}, actor="test",
                         horizon_s=14 * 86_400.0)
    posts = [p for _at, p in app.repo.series_posts(series_id)]
    assert len(posts) == 2
    assert all(p.collaborators == ["new_friend"] and p.share_to_feed is False for p in posts)


def test_a_series_with_a_broken_option_says_which_and_is_not_expanded(app: App, account_id: int) -> None:
    series_id = _soon_series(app, account_id, "prompt, collaborators", "'bread', '[\"a\", \"b\", \"c\", \"d\"]'")
    assert app.repo.expand_series(series_id=series_id, horizon_s=86_400.0) == []
    held = app.repo.require_series(series_id)
    assert held.last_error and "collaborators" in held.last_error and "3" in held.last_error


# --------------------------------------------------------------------------- true and false on both databases
@pytest.mark.parametrize("word", ["false", "FALSE", "f", "no", "off", "0"])
def test_false_in_words_is_false_on_both_databases(app: App, account_id: int, word: str) -> None:
    post_id = _sql(
        app,
        "INSERT INTO scheduled_posts (account_id, post_type, video_url, scheduled_at, share_to_feed, "
        "requires_approval) VALUES (:a, 'reel', 'https://cdn.example.test/v.mp4', :t, :w, :w) RETURNING id",
        a=account_id, t=datetime.now(UTC) + timedelta(days=1), w=word,
    )
    assert post_id is not None
    post = app.repo.require_post(post_id)
    assert post.share_to_feed is False and post.requires_approval is False
    _sql(app, "UPDATE scheduled_posts SET allow_duplicate = 'yes', share_to_feed = 'true' WHERE id = :i", i=post_id)
    post = app.repo.require_post(post_id)
    assert post.allow_duplicate is True and post.share_to_feed is True


def test_a_word_that_is_not_a_boolean_is_refused_on_both_databases(app: App, account_id: int) -> None:
    with pytest.raises(DBAPIError) as info:
        _sql(app, "INSERT INTO scheduled_posts (account_id, post_type, video_url, scheduled_at, share_to_feed) "
                  "VALUES (:a, 'reel', 'https://cdn.example.test/v.mp4', :t, 'maybe')",
             a=account_id, t=datetime.now(UTC) + timedelta(days=1))
    message = str(info.value.orig)
    assert "share_to_feed must be true or false" in message or "invalid input syntax for type boolean" in message


def test_a_series_takes_true_and_false_in_words_on_both_databases(app: App, account_id: int) -> None:
    series_id = _soon_series(app, account_id, "prompt, is_active, requires_approval",
                             "'bread', 'true', 'no'")
    found = app.repo.require_series(series_id)
    assert found.is_active is True and found.template["requires_approval"] in (False, 0)


# --------------------------------------------------------------------------- the CLI
def test_series_add_takes_the_post_options_and_shows_them(app: App, account_id: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPILOT_DATABASE_URL", app.settings.database_url)
    monkeypatch.setenv("POSTPILOT_LOG_LEVEL", "warning")
    start = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    runner = CliRunner()
    result = runner.invoke(cli, ["series", "add", "--account", "brand", "--every", "week", "--at", "09:00",
                                 "--from", start, "--prompt", "bread", "--tag", "friend@0.5,0.5",
                                 "--collaborator", "partner_shop", "--location-id", "42",
                                 "--first-comment", "#bakery"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(cli, ["series", "show", "1"]).output
    assert '        user_tags: [{"username": "friend", "x": 0.5, "y": 0.5}]' in shown
    assert '    collaborators: ["partner_shop"]' in shown and "      location_id: 42" in shown
    wrong = runner.invoke(cli, ["series", "edit", "1", "--thumb-offset", "100"])
    assert wrong.exit_code == 3 and "thumb_offset is only for a reel" in wrong.output
    wrong = runner.invoke(cli, ["series", "edit", "1", "--tag", "friend@2,0.5"])
    assert wrong.exit_code == 3 and "user_tags item 1 x must be a number from 0.0 to 1.0" in wrong.output
    edited = runner.invoke(cli, ["series", "edit", "1", "--collaborator", "studio"])
    assert edited.exit_code == 0, edited.output
    assert json.loads(shown.split("collaborators: ")[1].splitlines()[0]) == ["partner_shop"]
    assert '    collaborators: ["studio"]' in runner.invoke(cli, ["series", "show", "1"]).output
