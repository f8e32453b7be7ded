"""The daily look at the OpenAI model, as the daemon wires it (``App.watch`` reading ``GET /v1/models/{id}`` from
the OpenAI fake; no stubbed reader), on SQLite and PostgreSQL: a model nearing its shutdown or gone shows on
``/readyz`` and ``/status`` of the daemon's HTTP endpoint, in the ``postpilot_dependency_days_left`` metric and
in the log, and is queued as a notice; neither makes the daemon unready."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from postpilot.app import App
from postpilot.daemon import Daemon
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState
from tests.integration.pipeline_helpers import make_app

KEY = "sk-test-postpilot-0123456789"
TODAY = datetime.now(UTC).date()  # the watch's calendar is the real one


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=KEY, today=TODAY)) as server:
        yield server
    assert server.state.generated == 0  # looking at the model never pays for an image


@pytest.fixture
def running(db_url: str, tmp_path: Path, server: FakeServer[GraphState], openai_fake: OpenAIFake) -> Iterator[Any]:
    """Builds the App and its daemon for a model setting, with the daemon's HTTP endpoint listening."""
    made: list[tuple[App, Daemon]] = []

    def start(**overrides: Any) -> tuple[App, Daemon]:
        app = make_app(
            db_url,
            tmp_path,
            server.url,
            image_provider="openai",
            openai_api_key=KEY,
            openai_base_url=openai_fake.base_url,
            openai_max_retries=0,
            health_listen="127.0.0.1:0",
            **overrides,
        )
        daemon = app.daemon()
        daemon.http.start()
        made.append((app, daemon))
        return app, daemon

    yield start
    for app, daemon in made:
        daemon.http.stop()
        daemon.runner.shutdown(timeout_s=5.0)
        app.close()


def get_json(daemon: Daemon, path: str) -> tuple[int, Any]:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        response = client.get(daemon.http.url + path)
    return response.status_code, response.json()


def model_days_metric(daemon: Daemon) -> float:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        body = client.get(daemon.http.url + "/metrics").text
    found = re.search(r'^postpilot_dependency_days_left\{component="openai_model"\} (\S+)$', body, re.M)
    assert found, body
    return float(found[1])


def look(daemon: Daemon) -> list[dict[str, Any]]:
    """What the daemon does at start and once a day (its ``dependencies`` job), then one poll, so that
    ``/readyz`` has a recent one; returns the log lines the look wrote."""
    with capture_logs() as logs:
        daemon.jobs.check_dependencies()
    daemon.jobs.poll()
    return [line for line in logs if line.get("component") == "openai_model"]


def test_a_model_nearing_its_shutdown_shows_everywhere(running: Any, openai_fake: OpenAIFake) -> None:
    ends = TODAY + timedelta(days=20)
    openai_fake.state.shutdown_dates["gpt-image-2.6-sunburst"] = ends
    _, daemon = running()  # no model setting: the default, gpt-image-2.6-sunburst

    logged = look(daemon)

    assert openai_fake.state.model_reads == 1
    code, ready = get_json(daemon, "/readyz")
    assert code == 200, ready  # near its end, not unready: posts still flow
    assert ready["checks"]["openai_model"] == f"ending ({ends.isoformat()})"
    assert ready["checks"]["graph_api_version"] == "ok"

    code, status = get_json(daemon, "/status")
    assert code == 200
    [model] = [d for d in status["dependencies"] if d["component"] == "openai_model"]
    assert (model["name"], model["state"], model["ends_on"], model["days_left"]) == (
        "gpt-image-2.6-sunburst",
        "ending",
        ends.isoformat(),
        20,
    )
    assert "POSTPILOT_OPENAI_MODEL" in model["message"]
    assert status["notifications"]["waiting"] >= 1  # a person hears of it once

    assert model_days_metric(daemon) == 20.0
    assert [(line["event"], line["log_level"]) for line in logged] == [("dependency_ending", "warning")]
    assert "POSTPILOT_OPENAI_MODEL" in logged[0]["message"]


@pytest.mark.parametrize(
    ("model", "ends_on", "says"),
    [
        # Shut down on 2026-12-01 by OpenAI's deprecations page; the models endpoint answers model_not_found.
        ("gpt-image-1.5", date(2026, 12, 1), "reached its end on 2026-12-01"),
        # Gone from the models endpoint before our table knew it would end.
        ("gpt-image-2.6-flare", None, "does not know it"),
    ],
    ids=["retired", "unknown-to-openai"],
)
def test_a_gone_model_shows_everywhere(
    running: Any, openai_fake: OpenAIFake, model: str, ends_on: date | None, says: str
) -> None:
    openai_fake.state.shutdown_dates["gpt-image-2.6-flare"] = TODAY - timedelta(days=1)
    app, daemon = running(openai_model=model)

    logged = look(daemon)

    assert openai_fake.state.model_reads == 1
    code, ready = get_json(daemon, "/readyz")
    assert code == 200, ready  # posts with their own images still go out; a restart would not help
    expected = "gone" if ends_on is None else f"gone ({ends_on.isoformat()})"
    assert ready["checks"]["openai_model"] == expected

    _, status = get_json(daemon, "/status")
    [reading] = [d for d in status["dependencies"] if d["component"] == "openai_model"]
    assert (reading["name"], reading["state"]) == (model, "gone")
    assert says in reading["message"] and "POSTPILOT_OPENAI_MODEL" in reading["message"]
    assert "gpt-image-2.6-sunburst" in reading["message"]  # what to set instead

    assert model_days_metric(daemon) <= 0.0
    assert [(line["event"], line["log_level"]) for line in logged] == [("dependency_gone", "error")]
    # App.status() (postpilot status without a daemon) reads the same watch.
    assert [d["state"] for d in app.status()["dependencies"] if d["component"] == "openai_model"] == ["gone"]
