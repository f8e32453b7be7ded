"""When something postpilot depends on reaches its end: an OpenAI image model's shutdown date, a Graph API
version's end of support. Pure: a date in, a judgement out, with the sentence an operator reads.

States: ``ok`` (no end announced, or further off than the warning period), ``ending`` (within it: a warning),
``gone`` (past its end, or the service no longer knows it: an error), ``unknown`` (could not be read).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date


class SunsetState(enum.StrEnum):
    OK = "ok"
    ENDING = "ending"
    GONE = "gone"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SunsetReading:
    component: str  # "openai_model" | "graph_api_version"
    name: str  # "gpt-image-2.6-sunburst", "v25.0"
    state: SunsetState
    ends_on: date | None
    message: str

    def days_left(self, today: date) -> int | None:
        return None if self.ends_on is None else (self.ends_on - today).days

    def as_dict(self, today: date) -> dict[str, object]:
        return {
            "component": self.component,
            "name": self.name,
            "state": self.state.value,
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
            "days_left": self.days_left(today),
            "message": self.message,
        }


def judge(
    *,
    component: str,
    name: str,
    ends_on: date | None,
    today: date,
    warn_days: int,
    what: str,
    fix: str,
    gone: bool = False,
) -> SunsetReading:
    """``what`` names the thing in a sentence ("the OpenAI model gpt-image-1.5"); ``fix`` says what to do."""
    if gone or (ends_on is not None and ends_on <= today):
        when = f" on {ends_on.isoformat()}" if ends_on is not None and ends_on <= today else ""
        return SunsetReading(component, name, SunsetState.GONE, ends_on, f"{what} reached its end{when}: {fix}")
    if ends_on is not None and (ends_on - today).days <= warn_days:
        days = (ends_on - today).days
        message = f"{what} ends on {ends_on.isoformat()} (in {days} day{'' if days == 1 else 's'}): {fix}"
        return SunsetReading(component, name, SunsetState.ENDING, ends_on, message)
    note = f"; it ends on {ends_on.isoformat()}" if ends_on is not None else ""
    return SunsetReading(component, name, SunsetState.OK, ends_on, f"{what} is current{note}")


def unknown(*, component: str, name: str, why: str) -> SunsetReading:
    return SunsetReading(component, name, SunsetState.UNKNOWN, None, why)
