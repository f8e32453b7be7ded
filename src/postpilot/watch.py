"""The daily look at what postpilot depends on and that has an announced end: the configured OpenAI image model
(read live from ``GET /v1/models/{id}``, whose ``shutdown_date`` OpenAI's deprecations page documents) and the
configured Graph API version (``instagram.versions``, Meta's published end dates).

The daemon runs ``DependencyWatch.check`` at start and once a day; ``doctor`` runs it once. Each reading goes
to the log (a warning when the end is near, an error when it has come), to ``/status`` and the ``/readyz``
checks, and to the ``postpilot_dependency_days_left`` metric.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

from postpilot.domain.errors import PostpilotError
from postpilot.domain.notifications import Notice, dependency_notice
from postpilot.domain.sunset import SunsetReading, SunsetState, judge, unknown
from postpilot.instagram.versions import version_sunset
from postpilot.logging import get_logger
from postpilot.media.openai_models import CURRENT_MODELS, retirement
from postpilot.metrics import Metrics

log = get_logger("postpilot.watch")

MODEL_WARN_DAYS = 30
MODEL_COMPONENT = "openai_model"


def _today() -> date:
    return datetime.now(UTC).date()


def model_sunset(
    model: str,
    *,
    available: bool,
    shutdown_date: date | None,
    today: date,
) -> SunsetReading:
    """How the configured OpenAI model stands, from our table and from what the models endpoint said."""
    fix = f"set POSTPILOT_OPENAI_MODEL to one of {', '.join(CURRENT_MODELS)}"
    what = f"the OpenAI image model {model}"
    gone = retirement(model, today)
    if gone is not None:
        return judge(
            component=MODEL_COMPONENT,
            name=model,
            ends_on=gone.shutdown,
            today=today,
            warn_days=MODEL_WARN_DAYS,
            what=what,
            fix=f"{fix} (OpenAI recommends {gone.replacement})",
        )
    if not available:
        return judge(
            component=MODEL_COMPONENT,
            name=model,
            ends_on=None,
            today=today,
            warn_days=MODEL_WARN_DAYS,
            what=what + " (OpenAI's models endpoint does not know it for this API key)",
            fix=fix,
            gone=True,
        )
    return judge(
        component=MODEL_COMPONENT,
        name=model,
        ends_on=shutdown_date,
        today=today,
        warn_days=MODEL_WARN_DAYS,
        what=what,
        fix=fix,
    )


class DependencyWatch:
    """Keeps the latest readings. ``read_model`` returns ``(model, available, shutdown_date)`` from OpenAI,
    or is None when images do not come from OpenAI."""

    def __init__(
        self,
        *,
        graph_version: str,
        read_model: Callable[[], tuple[str, bool, date | None]] | None,
        metrics: Metrics | None = None,
        today: Callable[[], date] = _today,
        notify: Callable[[Notice], object] | None = None,
    ) -> None:
        self._graph_version = graph_version
        self._read_model = read_model
        self._metrics = metrics
        self._notify = notify
        self._today = today
        self._lock = threading.Lock()
        self._readings: list[SunsetReading] = []

    def check(self) -> list[SunsetReading]:
        today = self._today()
        readings = [version_sunset(self._graph_version, today)]
        if self._read_model is not None:
            readings.append(self._model_reading(today))
        with self._lock:
            self._readings = readings
        for reading in readings:
            self._report(reading, today)
            self._tell(reading)
        return readings

    def _tell(self, reading: SunsetReading) -> None:
        """A person hears of an end once while it nears and once when it has come (the dedupe key holds the
        state), not every day; an unknown reading is a log line, not news."""
        if self._notify is None or reading.state not in (SunsetState.ENDING, SunsetState.GONE):
            return
        notice = dependency_notice(
            component=reading.component,
            name=reading.name,
            state=reading.state.value,
            message=reading.message,
            ends_on=reading.ends_on.isoformat() if reading.ends_on else None,
        )
        try:
            self._notify(notice)
        except Exception as exc:  # the database may be away: tomorrow's check queues it
            log.warning("dependency_notice_failed", error=type(exc).__name__)

    def _model_reading(self, today: date) -> SunsetReading:
        assert self._read_model is not None
        try:
            model, available, shutdown = self._read_model()
        except PostpilotError as exc:
            return unknown(component=MODEL_COMPONENT, name="?", why=f"could not read the OpenAI model: {exc.message}")
        return model_sunset(model, available=available, shutdown_date=shutdown, today=today)

    def _report(self, reading: SunsetReading, today: date) -> None:
        fields = {"component": reading.component, "name": reading.name, "ends_on": reading.ends_on}
        if reading.state is SunsetState.GONE:
            log.error("dependency_gone", message=reading.message, **fields)
        elif reading.state is SunsetState.ENDING:
            log.warning("dependency_ending", message=reading.message, **fields)
        elif reading.state is SunsetState.UNKNOWN:
            log.warning("dependency_unknown", message=reading.message, **fields)
        else:
            log.info("dependency_ok", **fields)
        if self._metrics is None or reading.state is SunsetState.UNKNOWN:
            return
        days = reading.days_left(today)
        if reading.state is SunsetState.GONE:
            days = min(0, days if days is not None else 0)
        self._metrics.set_dependency_days(reading.component, math.inf if days is None else float(days))

    def readings(self) -> list[SunsetReading]:
        with self._lock:
            return list(self._readings)

    def as_status(self) -> list[dict[str, object]]:
        today = self._today()
        return [r.as_dict(today) for r in self.readings()]

    def as_checks(self) -> dict[str, str]:
        """For ``/readyz``: one word per dependency, plus the end date when one is near or past."""
        checks: dict[str, str] = {}
        for r in self.readings():
            value = r.state.value
            if r.ends_on is not None and r.state is not SunsetState.OK:
                value += f" ({r.ends_on.isoformat()})"
            checks[r.component] = value
        return checks
