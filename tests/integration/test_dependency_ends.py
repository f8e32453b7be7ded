"""What postpilot depends on that has an announced end (the OpenAI model, the Graph API version), Meta's usage
headers, and the container read schedule: pure tables, plus the model lifecycle read over the wire from the
OpenAI fake."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from itertools import islice
from pathlib import Path

import httpx
import pytest

from postpilot.domain.errors import ProviderBlocked
from postpilot.domain.sunset import SunsetState
from postpilot.instagram.usage import GraphUsage, parse_app_usage, parse_business_usage
from postpilot.instagram.versions import GRAPH_VERSIONS, version_sunset
from postpilot.media.openai_lifecycle import ModelLifecycle, read_model_lifecycle
from postpilot.media.openai_models import CURRENT_MODELS, DEFAULT_MODEL, is_known_current, retirement
from postpilot.metrics import Metrics
from postpilot.pipeline.stage import read_delays
from postpilot.watch import DependencyWatch, model_sunset
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState

TODAY = date(2026, 12, 1)
KEY = "sk-test-postpilot-0123456789"

# --- the model table ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "gone_on"),
    [
        ("gpt-image-1.5", date(2026, 12, 1)),
        ("gpt-image-1.5-2025-12-16", date(2026, 12, 1)),
        ("gpt-image-1-mini", date(2026, 12, 1)),
        ("chatgpt-image-latest", date(2026, 12, 1)),
        ("gpt-image-1", date(2026, 10, 23)),
        ("dall-e-3", date(2026, 5, 12)),
        ("gpt-image-2.6-sunburst", None),
        ("gpt-image-2.6-flare", None),
        ("gpt-image-2", None),
    ],
)
def test_retirements_as_of_today(model: str, gone_on: date | None) -> None:
    found = retirement(model, TODAY)
    assert (found.shutdown if found else None) == gone_on
    if found:
        assert found.replacement == "gpt-image-2.6-sunburst or gpt-image-2.6-flare"


def test_the_models_shut_down_today_still_worked_yesterday() -> None:
    assert retirement("gpt-image-1.5", date(2026, 11, 30)) is None


def test_the_default_model_is_current() -> None:
    assert DEFAULT_MODEL in CURRENT_MODELS
    assert is_known_current("gpt-image-2.5-flare-2026-09-08")
    assert not is_known_current("gpt-image-1.5")


# --- judging ends ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "available", "shutdown", "state", "says"),
    [
        ("gpt-image-2.6-sunburst", True, None, SunsetState.OK, "is current"),
        ("gpt-image-2.6-sunburst", True, date(2027, 6, 1), SunsetState.OK, "ends on 2027-06-01"),
        ("gpt-image-2.6-sunburst", True, date(2026, 12, 31), SunsetState.ENDING, "(in 30 days)"),
        ("gpt-image-2.6-flare", True, date(2026, 12, 2), SunsetState.ENDING, "(in 1 day)"),
        ("gpt-image-2.6-flare", False, None, SunsetState.GONE, "does not know it"),
        ("gpt-image-1.5", False, None, SunsetState.GONE, "reached its end on 2026-12-01"),
    ],
)
def test_model_sunset(model: str, available: bool, shutdown: date | None, state: SunsetState, says: str) -> None:
    reading = model_sunset(model, available=available, shutdown_date=shutdown, today=TODAY)
    assert reading.state is state
    assert says in reading.message
    if state is not SunsetState.OK:
        assert "POSTPILOT_OPENAI_MODEL" in reading.message


@pytest.mark.parametrize(
    ("version", "today", "state", "says"),
    [
        ("v25.0", TODAY, SunsetState.OK, "ends on 2028-07-29"),
        ("v25.0", date(2028, 6, 1), SunsetState.ENDING, "in 58 days"),
        ("v21.0", TODAY, SunsetState.ENDING, "ends on 2027-01-21 (in 51 days)"),
        ("v20.0", TODAY, SunsetState.GONE, "reached its end on 2026-09-24"),
        ("v27.0", TODAY, SunsetState.OK, "is current"),
        ("v30.0", TODAY, SunsetState.OK, "newer than the versions"),
        ("v19.0", TODAY, SunsetState.GONE, "does not support it"),
    ],
)
def test_graph_version_sunset(version: str, today: date, state: SunsetState, says: str) -> None:
    reading = version_sunset(version, today)
    assert reading.state is state
    assert says in reading.message
    if state in (SunsetState.ENDING, SunsetState.GONE):
        assert "POSTPILOT_GRAPH_VERSION" in reading.message


def test_every_listed_version_is_named_like_meta_names_them() -> None:
    assert all(v.startswith("v") and v.endswith(".0") for v in GRAPH_VERSIONS)


def test_the_watch_reports_to_metrics_status_and_readiness() -> None:
    metrics = Metrics()
    watch = DependencyWatch(
        graph_version="v21.0",
        read_model=lambda: ("gpt-image-2.6-sunburst", True, date(2026, 12, 20)),
        metrics=metrics,
        today=lambda: TODAY,
    )

    readings = watch.check()

    assert [r.state for r in readings] == [SunsetState.ENDING, SunsetState.ENDING]
    assert watch.as_checks() == {"graph_api_version": "ending (2027-01-21)", "openai_model": "ending (2026-12-20)"}
    status = watch.as_status()
    assert status[1]["days_left"] == 19 and status[1]["name"] == "gpt-image-2.6-sunburst"
    body = metrics.render()[0].decode()
    assert 'postpilot_dependency_days_left{component="openai_model"} 19.0' in body
    assert 'postpilot_dependency_days_left{component="graph_api_version"} 51.0' in body


def test_the_watch_without_openai_reports_the_version_only() -> None:
    metrics = Metrics()
    watch = DependencyWatch(graph_version="v25.0", read_model=None, metrics=metrics, today=lambda: TODAY)
    assert [r.component for r in watch.check()] == ["graph_api_version"]
    assert 'postpilot_dependency_days_left{component="graph_api_version"} 606.0' in metrics.render()[0].decode()


def test_an_unreadable_model_is_unknown_not_a_crash() -> None:
    def broken() -> tuple[str, bool, date | None]:
        raise ProviderBlocked("the OpenAI API key was rejected (HTTP 401): set a valid OPENAI_API_KEY")

    watch = DependencyWatch(graph_version="v25.0", read_model=broken, today=lambda: TODAY)
    model = watch.check()[1]
    assert model.state is SunsetState.UNKNOWN
    assert "OPENAI_API_KEY" in model.message


# --- the lifecycle over the wire ---------------------------------------------------------------------------


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=KEY)) as server:
        yield server


def _lifecycle(fake: OpenAIFake, model: str = DEFAULT_MODEL, key: str = KEY) -> ModelLifecycle:
    with httpx.Client() as http:
        return read_model_lifecycle(http, api_key=key, model=model, base_url=fake.base_url)


def test_model_lifecycle_reads_the_shutdown_date(openai_fake: OpenAIFake) -> None:
    openai_fake.state.shutdown_dates["gpt-image-2.6-flare"] = date(2026, 12, 20)
    found = _lifecycle(openai_fake, "gpt-image-2.6-flare")
    assert (found.model, found.available, found.shutdown_date) == ("gpt-image-2.6-flare", True, date(2026, 12, 20))
    assert openai_fake.state.model_reads == 1
    assert openai_fake.state.generated == 0


def test_model_lifecycle_of_a_current_model_has_no_date(openai_fake: OpenAIFake) -> None:
    found = _lifecycle(openai_fake)
    assert (found.model, found.available, found.shutdown_date) == (DEFAULT_MODEL, True, None)


def test_model_lifecycle_of_a_shut_down_model(openai_fake: OpenAIFake) -> None:
    found = _lifecycle(openai_fake, "gpt-image-1.5")
    assert not found.available
    reading = model_sunset(found.model, available=found.available, shutdown_date=found.shutdown_date, today=TODAY)
    assert reading.state is SunsetState.GONE


def test_model_lifecycle_with_a_wrong_key_raises_our_error(openai_fake: OpenAIFake) -> None:
    with pytest.raises(ProviderBlocked, match="OPENAI_API_KEY") as info:
        _lifecycle(openai_fake, key="sk-wrong-0000000000")
    assert "sk-wrong" not in info.value.message


def test_reading_the_model_does_not_load_the_openai_sdk(openai_fake: OpenAIFake) -> None:
    """The daemon reads the model at start; the SDK (about 20 MB) waits for the first image."""
    code = (
        "import sys, httpx\n"
        "from postpilot.media.openai_lifecycle import read_model_lifecycle\n"
        f"found = read_model_lifecycle(httpx.Client(), api_key={KEY!r}, model={DEFAULT_MODEL!r}, "
        f"base_url={openai_fake.base_url!r})\n"
        "assert found.available, found\n"
        "assert 'openai' not in sys.modules, 'the SDK was loaded'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- Meta's usage headers ----------------------------------------------------------------------------------


def _headers(app: int | None = None, account: int | None = None, regain: int = 0) -> dict[str, str]:
    headers: dict[str, str] = {}
    if app is not None:
        headers["X-App-Usage"] = json.dumps({"call_count": app, "total_cputime": 1, "total_time": 1})
    if account is not None:
        entry = {"type": "instagram", "call_count": account, "total_cputime": 2, "total_time": 3}
        headers["X-Business-Use-Case-Usage"] = json.dumps(
            {"1784": [{**entry, "estimated_time_to_regain_access": regain}]}
        )
    return headers


def test_usage_headers_parse() -> None:
    assert parse_app_usage(_headers(app=28)) == {"call_count": 28.0, "total_cputime": 1.0, "total_time": 1.0}
    assert parse_business_usage(_headers(account=9, regain=3)) == {
        "1784": ({"call_count": 9.0, "total_cputime": 2.0, "total_time": 3.0}, 180.0)
    }
    assert parse_app_usage({"X-App-Usage": "not json"}) is None
    assert parse_business_usage({}) == {}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("headers", "urgent_wait", "other_wait"),
    [
        (_headers(app=50, account=60), 0.0, 0.0),
        (_headers(app=90), 0.0, 300.0),  # near the app's limit: only media_publish goes out
        (_headers(account=95), 0.0, 300.0),
        (_headers(account=100), 600.0, 600.0),  # full: nothing goes out
        (_headers(account=40, regain=4), 240.0, 240.0),  # Meta states a wait: nothing until it has passed
    ],
)
def test_calls_hold_off_near_a_limit(headers: dict[str, str], urgent_wait: float, other_wait: float) -> None:
    clock = Clock()
    seen: list[tuple[str, str, str, float]] = []
    usage = GraphUsage(clock=clock, on_reading=lambda *a: seen.append(a))

    usage.observe(headers, account="shop")

    assert usage.hold_off_s(account="shop", urgent=True) == urgent_wait
    assert usage.hold_off_s(account="shop", urgent=False) == other_wait
    assert usage.hold_off_s(account="other", urgent=False) == (other_wait if "X-App-Usage" in headers else 0.0)
    assert seen  # every figure goes to the metrics
    clock.now += 3601  # readings are of rolling hours: an hour later they say nothing
    assert usage.hold_off_s(account="shop", urgent=False) == 0.0


def test_a_held_call_waits_less_as_time_passes() -> None:
    clock = Clock()
    usage = GraphUsage(clock=clock)
    usage.observe(_headers(account=92), account="shop")
    clock.now += 100
    assert usage.hold_off_s(account="shop", urgent=False) == pytest.approx(200.0)
    assert usage.snapshot() == {"app_percent": None, "accounts": {"shop": 92.0}}


# --- the container read schedule ---------------------------------------------------------------------------


def test_reads_follow_metas_once_a_minute_with_a_quick_first_look() -> None:
    assert list(islice(read_delays(poll_s=60.0, reel=False), 5)) == [0.0, 5.0, 60.0, 60.0, 60.0]
    assert list(islice(read_delays(poll_s=60.0, reel=True), 4)) == [30.0, 60.0, 60.0, 60.0]
    # A faster setting (tests) is never slowed down by the first looks.
    assert list(islice(read_delays(poll_s=0.05, reel=True), 2)) == [0.05, 0.05]


def test_metric_for_an_unannounced_end_is_infinite() -> None:
    metrics = Metrics()
    metrics.set_dependency_days("openai_model", math.inf)
    assert 'postpilot_dependency_days_left{component="openai_model"} +Inf' in metrics.render()[0].decode()


def test_with_a_key_and_no_model_setting_images_are_generated(
    openai_fake: OpenAIFake, db_url: str, tmp_path: Path
) -> None:
    """On both databases: with an OpenAI key and no POSTPILOT_OPENAI_MODEL, a post going through the prepare
    step gets an image generated with the current default model."""
    from postpilot.app import build_app
    from postpilot.config import Settings
    from postpilot.domain.model import PostStatus
    from tests.integration.prepare_helpers import add_account, add_post, prepare_due

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=db_url,
        state_dir=tmp_path,
        openai_api_key=KEY,
        openai_base_url=openai_fake.base_url,
        media_store="local",
        duplicate_window_s=0.0,
    )
    app = build_app(settings)
    try:
        post_id = add_post(app, add_account(app), prompt="a lighthouse at dawn")
        [result] = prepare_due(app)
        prepared = app.repo.require_post(post_id)
    finally:
        app.close()
    assert result.post_id == post_id
    assert prepared.status is PostStatus.READY and prepared.attempts == 0
    assert DEFAULT_MODEL == "gpt-image-2.6-sunburst"
    assert [body["model"] for body in openai_fake.state.bodies] == [DEFAULT_MODEL]
    assert openai_fake.state.generated == 1
