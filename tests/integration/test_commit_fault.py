"""The database refuses to record a live post (disk full, the server away for a moment): media_publish went
through, the write of its media id failed. The post must never look ``ready`` while it is live; it stays
``publishing`` ("being checked") and the reconcile records it, with media_publish called once. The fault is the
database's own (a trigger refusing the write), on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from postpilot.app import App
from postpilot.domain.model import PostStatus
from postpilot.pipeline import Outcome
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import (
    IG_USER,
    add_ready_post,
    age_publish_attempt,
    post,
    publish_now,
    reconcile_stale,
)

REFUSAL = "could not write: No space left on device"


def _refuse_media_ids(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER test_disk_full BEFORE UPDATE OF ig_media_id ON scheduled_posts "
                    f"WHEN NEW.ig_media_id IS NOT NULL BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.ig_media_id IS NOT NULL THEN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'disk_full'; "
                    "END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER test_disk_full BEFORE UPDATE ON scheduled_posts FOR EACH ROW "
                    "EXECUTE FUNCTION test_disk_full()"
                )
            )


def _allow_media_ids(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER test_disk_full"))
        else:
            conn.execute(text("DROP TRIGGER test_disk_full ON scheduled_posts"))
            conn.execute(text("DROP FUNCTION test_disk_full()"))


@pytest.fixture
def refusing(app: App) -> Iterator[App]:
    _refuse_media_ids(app.engine)
    yield app
    with contextlib.suppress(Exception):  # the test may have lifted it already
        _allow_media_ids(app.engine)


def test_a_live_post_the_database_would_not_record_stays_publishing_and_is_reconciled_once(
    refusing: App, state: GraphState, account_id: int
) -> None:
    app = refusing
    post_id = add_ready_post(app, account_id)

    result = publish_now(app, post_id)

    assert state.published_count(IG_USER) == 1  # it is live on Instagram
    assert result.outcome is Outcome.WAITING, result.message
    held = post(app, post_id)
    assert held.status is PostStatus.PUBLISHING  # never "ready" while it may be live
    assert held.last_error is not None and held.last_error.startswith("being checked:")
    assert held.publish_attempted_at is not None and held.ig_media_id is None

    _allow_media_ids(app.engine)  # the disk has room again
    age_publish_attempt(app, post_id)
    (reconciled,) = reconcile_stale(app)
    assert reconciled.outcome is Outcome.PUBLISHED, reconciled.message
    live = post(app, post_id)
    assert live.status is PostStatus.PUBLISHED and live.ig_media_id == state.media[0].id
    assert state.total_publish_calls() == 1  # media_publish was never sent again
