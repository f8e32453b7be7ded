"""Meta's rate-limit usage headers, read on every Graph API answer, so postpilot slows down before Meta refuses.

Meta reports how much of each rolling-hour budget a caller has used, as percentages (0-100), on every answer:

- ``X-App-Usage: {"call_count": 28, "total_cputime": 25, "total_time": 25}`` — the app as a whole (Platform
  rate limits; Facebook Login hosts);
- ``X-Business-Use-Case-Usage: {"<object id>": [{"type": "instagram", "call_count": 9, "total_cputime": 4,
  "total_time": 8, "estimated_time_to_regain_access": 0}]}`` — per Instagram account (Business Use Case
  limits; ``estimated_time_to_regain_access`` is in minutes, 0 while not throttled).

At 100 % Meta refuses calls (codes 4, 17, 32, 613, 80002; ``error_table``). ``GraphUsage`` keeps the latest
reading per app and per account and tells the client how long to hold off before a call:

- at or above ``SLOW_AT_PERCENT`` only the calls that matter at the scheduled instant go out (``media_publish``);
  staging, status reads and permalinks wait, for the stated time to regain access or a few minutes;
- at 100 % nothing goes out until the stated time has passed.

Readings expire after ``FRESH_S``: the budgets are rolling hours, and an answer-less hour means they drained.
This module does no I/O; the client feeds it headers and asks before each call.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SLOW_AT_PERCENT = 90.0
FULL_PERCENT = 100.0
# Without a stated time to regain access, a nearly full rolling-hour budget is given this long to drain.
SLOW_PAUSE_S = 300.0
FULL_PAUSE_S = 600.0
FRESH_S = 3600.0
_METRICS = ("call_count", "total_cputime", "total_time")


@dataclass(frozen=True, slots=True)
class UsageReading:
    """One budget's latest figures: the highest of its percentages, and Meta's stated wait (seconds)."""

    percent: float
    regain_s: float
    read_at: float  # monotonic
    by_metric: tuple[tuple[str, float], ...] = ()


def parse_app_usage(headers: Mapping[str, str]) -> dict[str, float] | None:
    """``X-App-Usage`` as {metric: percent}; None when absent or unreadable."""
    value = _json(_header(headers, "x-app-usage"))
    if not isinstance(value, dict):
        return None
    return {m: p for m in _METRICS if (p := number(value.get(m))) is not None}


def parse_business_usage(headers: Mapping[str, str]) -> dict[str, tuple[dict[str, float], float]]:
    """``X-Business-Use-Case-Usage`` as {object id: ({metric: percent}, regain seconds)}; worst entry per id."""
    value = _json(_header(headers, "x-business-use-case-usage"))
    found: dict[str, tuple[dict[str, float], float]] = {}
    if not isinstance(value, dict):
        return found
    for object_id, entries in value.items():
        metrics: dict[str, float] = {}
        regain_s = 0.0
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, dict):
                continue
            for m in _METRICS:
                p = number(entry.get(m))
                if p is not None:
                    metrics[m] = max(p, metrics.get(m, 0.0))
            regain_s = max(regain_s, (number(entry.get("estimated_time_to_regain_access")) or 0.0) * 60)
        found[str(object_id)] = (metrics, regain_s)
    return found


class GraphUsage:
    """The latest usage readings, shared by every Graph client of a process. Thread-safe.

    ``on_reading(scope, account, metric, percent)`` is called for each figure read (metrics).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_reading: Callable[[str, str, str, float], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_reading = on_reading
        self._lock = threading.Lock()
        self._app: UsageReading | None = None
        self._accounts: dict[str, UsageReading] = {}

    def observe(self, headers: Mapping[str, str], *, account: str) -> None:
        """Record the usage headers of one answer about ``account`` (its name, as the metrics show it)."""
        now = self._clock()
        app = parse_app_usage(headers)
        business = parse_business_usage(headers)
        with self._lock:
            if app:
                self._app = UsageReading(max(app.values()), 0.0, now, tuple(app.items()))
            if business:
                metrics: dict[str, float] = {}
                regain = 0.0
                for figures, regain_s in business.values():
                    for m, p in figures.items():
                        metrics[m] = max(p, metrics.get(m, 0.0))
                    regain = max(regain, regain_s)
                percent = max(metrics.values(), default=0.0)
                self._accounts[account] = UsageReading(percent, regain, now, tuple(metrics.items()))
        if self._on_reading is not None:
            for m, p in (app or {}).items():
                self._on_reading("app", "", m, p)
            for figures, _ in business.values():
                for m, p in figures.items():
                    self._on_reading("business_use_case", account, m, p)

    def hold_off_s(self, *, account: str, urgent: bool) -> float:
        """Seconds to wait before a call about ``account``; 0 when it may go out now. ``urgent`` calls
        (``media_publish``) go out until a budget is full; the rest stop at ``SLOW_AT_PERCENT``."""
        now = self._clock()
        with self._lock:
            readings = [r for r in (self._app, self._accounts.get(account)) if r is not None]
        wait = 0.0
        for r in readings:
            age = now - r.read_at
            if age > FRESH_S:
                continue
            if r.regain_s > 0:  # Meta says this budget is blocked now: nothing goes out
                pause = r.regain_s
            elif r.percent >= FULL_PERCENT:
                pause = FULL_PAUSE_S
            elif r.percent >= SLOW_AT_PERCENT and not urgent:
                pause = SLOW_PAUSE_S
            else:
                continue
            wait = max(wait, pause - age)
        return max(0.0, wait)

    def snapshot(self) -> dict[str, object]:
        """For ``/status``: the app's figure and each account's, as percentages."""
        with self._lock:
            return {
                "app_percent": None if self._app is None else round(self._app.percent, 1),
                "accounts": {name: round(r.percent, 1) for name, r in sorted(self._accounts.items())},
            }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter is not None else None
    if value is None:
        for k, v in headers.items():
            if k.lower() == name:
                return v
    return value


def _json(raw: str | None) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def json_object(raw: str | None) -> dict[str, object]:
    """A header's JSON object; empty when absent, unreadable or not an object (also for ``error_table``)."""
    value = _json(raw)
    return value if isinstance(value, dict) else {}


def number(value: object) -> float | None:
    """A usage figure as a float (Meta sends numbers, sometimes as strings); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
