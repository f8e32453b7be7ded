"""How long to stop calling after Meta refuses for a rate limit, read from the refusal's headers.

Meta states the wait in some headers and only shows a full budget in others; ``throttle_wait_s`` takes the
stated wait where there is one, and a heuristic one otherwise. ``usage.py`` reads the same headers on every
answer, to slow down before a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping

from postpilot.instagram.usage import json_object as _json_object
from postpilot.instagram.usage import number as _number

DEFAULT_THROTTLE_S = 300.0
# App-level limits are counted over a rolling hour; at 100 % part of the window frees up within minutes.
APP_USAGE_FULL_WAIT_S = 600.0
MAX_THROTTLE_S = 86_400.0


def throttle_wait_s(headers: Mapping[str, str]) -> float:
    """Seconds to stop calling, from Meta's usage headers; ``DEFAULT_THROTTLE_S`` when they say nothing.

    ``X-Business-Use-Case-Usage`` (and a plain ``Retry-After``, and ``X-Ad-Account-Usage``'s
    ``reset_time_duration``) state a wait; ``X-App-Usage``/``X-Ad-Account-Usage`` percentages only show
    that a rolling-hour budget is full, so they get a heuristic wait.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    stated: list[float] = []

    for entries in _json_object(lower.get("x-business-use-case-usage")).values():
        for entry in entries if isinstance(entries, list) else [entries]:
            if isinstance(entry, dict):
                minutes = _number(entry.get("estimated_time_to_regain_access"))
                if minutes:
                    stated.append(minutes * 60)

    retry_after = _number(lower.get("retry-after"))
    if retry_after:
        stated.append(retry_after)

    ad_account = _json_object(lower.get("x-ad-account-usage"))
    reset = _number(ad_account.get("reset_time_duration"))
    if reset:
        stated.append(reset)

    if stated:
        return min(max(stated), MAX_THROTTLE_S)

    app_usage = _json_object(lower.get("x-app-usage"))
    percents = [_number(v) or 0.0 for v in (*app_usage.values(), ad_account.get("acc_id_util_pct"))]
    if any(p >= 100 for p in percents):
        return APP_USAGE_FULL_WAIT_S
    return DEFAULT_THROTTLE_S


def wait_in_words(seconds: float) -> str:
    if seconds < 90:
        return f"about {round(seconds)} seconds"
    if seconds < 5400:
        return f"about {round(seconds / 60)} minutes"
    return f"about {round(seconds / 3600)} hours"
