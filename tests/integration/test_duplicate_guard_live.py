"""The duplicate guard end to end: a repeat a person allowed is published through the real pipeline against
the Graph fake, once, with the caption it was written with; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postpilot.app import App
from postpilot.domain.model import PostStatus
from postpilot.pipeline import Outcome
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import make_app, publish_now, set_post

PUBLIC = "https://media.example.test/postpilot"


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, public_media_url=PUBLIC, image_provider="card",
                           media_store="local", duplicate_window_s=3 * 86400.0)
    yield application
    application.close()


def _prepare(app: App, post_id: int) -> Outcome:
    claimed = app.repo.claim_to_prepare_now(owner=app.owner, lease_s=60, post_ids=[post_id])
    assert claimed, app.repo.require_post(post_id)
    return app.pipeline.prepare(claimed[0]).outcome


def test_an_allowed_repeat_goes_live_once(app: App, state: GraphState, account_id: int) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=10)
    first = app.repo.add_post({"account_id": account_id, "caption": "Sale today!", "prompt": "a sale sign",
                               "scheduled_at": soon}, actor="test")
    again = app.repo.add_post({"account_id": account_id, "caption": "sale  TODAY!", "prompt": "a sale sign",
                               "scheduled_at": soon + timedelta(hours=2)}, actor="test")
    assert _prepare(app, first) is Outcome.READY
    assert _prepare(app, again) is Outcome.FAILED  # held: same caption and prompt within three days
    app.repo.retry(again, allow_duplicate=True)
    assert _prepare(app, again) is Outcome.READY
    for post_id in (first, again):
        set_post(app, post_id, scheduled_at=datetime.now(UTC) - timedelta(seconds=30))
        assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    live = [app.repo.require_post(p) for p in (first, again)]
    assert [p.status for p in live] == [PostStatus.PUBLISHED, PostStatus.PUBLISHED]
    assert live[1].allow_duplicate is True
    captions = sorted(c.caption or "" for c in state.containers.values() if c.media_type == "IMAGE")
    assert captions == ["Sale today!", "sale  TODAY!"]  # each as written
    assert state.total_publish_calls() == 2
