"""The Graph API versions postpilot supports, with the end dates Meta publishes.

From Meta's "Graph API Changelog" / "Versions" page (read 2026-12-01): each version is available for about
two years after the next one ships. Versions whose end Meta has not announced yet are listed with ``None``.
The default (``POSTPILOT_GRAPH_VERSION=v25.0``) is the version Meta's Instagram examples use; the table lets
``doctor``, ``/status`` and the daemon's daily check warn ``WARN_DAYS`` before the configured one ends.
Pure data; no I/O.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from postpilot.domain.sunset import SunsetReading, judge

WARN_DAYS: Final = 60
COMPONENT: Final = "graph_api_version"

# version -> the last day Meta serves it (None: not announced yet).
GRAPH_VERSIONS: Final[dict[str, date | None]] = {
    "v20.0": date(2026, 9, 24),
    "v21.0": date(2027, 1, 21),
    "v22.0": date(2027, 5, 20),
    "v23.0": date(2027, 10, 8),
    "v24.0": date(2028, 2, 18),
    "v25.0": date(2028, 7, 29),
    "v26.0": None,
    "v27.0": None,
}


def _number(version: str) -> float:
    try:
        return float(version.lstrip("v"))
    except ValueError:
        return 0.0


def supported() -> list[str]:
    today = date.today()
    return [v for v, end in GRAPH_VERSIONS.items() if end is None or end > today]


def version_sunset(version: str, today: date) -> SunsetReading:
    """How the configured Graph API version stands on ``today``."""
    name = version.strip() or "(none)"
    newer = [v for v in GRAPH_VERSIONS if _number(v) > _number(name)]
    fix = f"set POSTPILOT_GRAPH_VERSION to a newer one ({', '.join(newer)})" if newer else "upgrade postpilot"
    if name not in GRAPH_VERSIONS:
        known = ", ".join(GRAPH_VERSIONS)
        if _number(name) > max(_number(v) for v in GRAPH_VERSIONS):
            # Newer than our table: Meta has released it since; nothing is known to end.
            return judge(
                component=COMPONENT,
                name=name,
                ends_on=None,
                today=today,
                warn_days=WARN_DAYS,
                what=f"Graph API {name} (newer than the versions postpilot was checked against: {known})",
                fix="no end is announced",
            )
        return judge(
            component=COMPONENT,
            name=name,
            ends_on=None,
            today=today,
            warn_days=WARN_DAYS,
            what=f"Graph API {name}",
            fix=f"postpilot does not support it; set POSTPILOT_GRAPH_VERSION to one of {known}",
            gone=True,
        )
    return judge(
        component=COMPONENT,
        name=name,
        ends_on=GRAPH_VERSIONS[name],
        today=today,
        warn_days=WARN_DAYS,
        what=f"Graph API {name}",
        fix=fix,
    )
