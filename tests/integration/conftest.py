"""Fixtures shared by the integration tests: the Graph API fake with one account, and an App wired to it on
each database (``db_url`` from the root conftest runs every test on SQLite and on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postpilot.app import App
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState, make_server
from tests.integration.pipeline_helpers import IG_USER, TOKEN, add_account, make_app


@pytest.fixture
def state() -> GraphState:
    state = GraphState(image_delay_s=0.0, video_delay_s=0.2)
    state.add_account(IG_USER, TOKEN, username="brand")
    return state


@pytest.fixture
def server(state: GraphState) -> Iterator[FakeServer[GraphState]]:
    with make_server(state) as srv:
        yield srv
    # Every test ends with the fake confirming that no data request carried the token in its URL.
    assert state.token_in_url_count == 0
    assert all(not r.token_in_url for r in state.requests)


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url)
    yield application
    application.close()


@pytest.fixture
def account_id(app: App) -> int:
    return add_account(app)
