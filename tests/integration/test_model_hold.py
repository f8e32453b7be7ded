"""A post whose image is to be generated with a model OpenAI no longer serves, through the prepare step on SQLite
and PostgreSQL against the OpenAI fake: the post waits (it does not fail), no attempt is used, and its
``last_error`` names the setting to change; once the setting is changed, the same post is prepared."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from postpilot.app import App
from postpilot.domain.model import PostStatus
from postpilot.media.openai_models import DEFAULT_MODEL
from postpilot.pipeline import Outcome
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState
from tests.integration.prepare_helpers import (
    OPENAI_KEY,
    PROMPT,
    add_account,
    add_post,
    make_app,
    make_due_again,
    post,
    prepare_due,
)


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=OPENAI_KEY)) as server:
        yield server


@pytest.fixture
def new_app(db_url: str, tmp_path: Path, openai_fake: OpenAIFake) -> Iterator[Any]:
    """Apps generating with the OpenAI fake into the local store, on this test's database; closed afterwards."""
    apps: list[App] = []

    def factory(**overrides: Any) -> App:
        values: dict[str, Any] = {
            "image_provider": "openai",
            "openai_api_key": OPENAI_KEY,
            "openai_base_url": openai_fake.base_url,
            "openai_max_retries": 0,
            "media_store": "local",
            **overrides,
        }
        app = make_app(db_url, tmp_path, **values)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.mark.parametrize(
    ("model", "requests_sent", "says"),
    [
        # Our table knows it was shut down on 2026-12-01: refused before a request is paid for.
        ("gpt-image-1.5", 0, "shut down the image model 'gpt-image-1.5'"),
        # OpenAI shut it down before our table knew: the fake answers model_not_found.
        ("gpt-image-2.6-flare", 1, "does not offer the image model 'gpt-image-2.6-flare'"),
    ],
    ids=["known-retired", "model-not-found"],
)
def test_a_post_with_a_retired_model_waits_without_using_an_attempt(
    new_app: Any, openai_fake: OpenAIFake, model: str, requests_sent: int, says: str
) -> None:
    openai_fake.state.shutdown_dates["gpt-image-2.6-flare"] = date(2026, 11, 30)
    app = new_app(openai_model=model)
    post_id = add_post(app, add_account(app), prompt=PROMPT)

    results = prepare_due(app)

    assert [r.outcome for r in results] == [Outcome.WAITING]
    held = post(app, post_id)
    assert held.status is PostStatus.SCHEDULED  # waiting, not failed
    assert held.attempts == 0
    assert held.last_error is not None
    assert "POSTPILOT_OPENAI_MODEL" in held.last_error and says in held.last_error
    assert "gpt-image-2.6-sunburst" in held.last_error  # what to set it to
    # Looked at again in a quarter of an hour, not hammered.
    assert held.next_attempt_at is not None
    assert held.next_attempt_at - datetime.now(UTC) > timedelta(minutes=10)
    assert openai_fake.state.request_count == requests_sent
    if requests_sent:
        assert [r.status for r in openai_fake.state.requests] == [404]
    assert openai_fake.state.generated == 0
    assert app.repo.spend_today() == 0.0  # nothing reserved for an image that was never asked for

    # Coming round again changes nothing: still waiting, still no attempt used.
    make_due_again(app, post_id)
    assert [r.outcome for r in prepare_due(app)] == [Outcome.WAITING]
    again = post(app, post_id)
    assert (again.status, again.attempts) == (PostStatus.SCHEDULED, 0)


def test_the_held_post_is_prepared_once_the_model_setting_is_changed(new_app: Any, openai_fake: OpenAIFake) -> None:
    held_app = new_app(openai_model="gpt-image-1.5")
    post_id = add_post(held_app, add_account(held_app), prompt=PROMPT)
    assert [r.outcome for r in prepare_due(held_app)] == [Outcome.WAITING]

    # The operator removes POSTPILOT_OPENAI_MODEL (the default is current) and restarts.
    fixed_app = new_app()
    make_due_again(fixed_app, post_id)
    assert [r.outcome for r in prepare_due(fixed_app)] == [Outcome.READY]

    ready = post(fixed_app, post_id)
    assert ready.status is PostStatus.READY
    assert ready.attempts == 0
    assert [b["model"] for b in openai_fake.state.bodies] == [DEFAULT_MODEL]
    assert openai_fake.state.generated == 1
