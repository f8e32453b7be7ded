"""CSV cells for the options of issue 16, in forms a spreadsheet can hold (a JSON array works in each too).

- ``user_tags``: people separated by spaces: ``friend@0.5,0.5`` (x, y from 0 to 1), ``friend@0.5,0.5#2`` on
  carousel slide 2, or just ``friend`` on a reel or a story.
- ``collaborators``: usernames separated by spaces or commas.
- ``share_to_feed``: true or false. ``thumb_offset``: milliseconds. ``trial_params``: ``MANUAL`` or
  ``SS_PERFORMANCE`` (the graduation strategy of a trial reel).
"""

from __future__ import annotations

import json
import re
from typing import Any

_TAG = re.compile(r"^(?P<name>[^@#\s]+)(?:@(?P<x>[^,#\s]+),(?P<y>[^#\s]+))?(?:#(?P<item>\d+))?$")
TRUE_WORDS = ("true", "yes", "1", "y")
FALSE_WORDS = ("false", "no", "0", "n")


def _json_or(cell: str) -> Any:
    try:
        return json.loads(cell)
    except ValueError:
        return cell  # validation names the field and the rule


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text  # validation says x and y must be numbers


def parse_user_tags(cell: str | None) -> tuple[Any, str | None]:
    """(value, problem) for a ``user_tags`` cell."""
    if not cell:
        return None, None
    if cell.lstrip().startswith("["):
        return _json_or(cell), None
    tags = []
    for token in cell.split():
        m = _TAG.match(token)
        if m is None:
            return None, f"user_tags {token!r} must look like username@x,y (e.g. friend@0.5,0.5), or username"
        tag: dict[str, Any] = {"username": m["name"]}
        if m["x"] is not None:
            tag["x"], tag["y"] = _number(m["x"]), _number(m["y"])
        if m["item"] is not None:
            tag["item"] = int(m["item"])
        tags.append(tag)
    return tags, None


def format_user_tags(value: Any) -> str:
    if not isinstance(value, list):
        return "" if value is None else json.dumps(value)
    out = []
    for tag in value:
        if not isinstance(tag, dict) or "username" not in tag:
            return json.dumps(value)
        token = str(tag["username"])
        if tag.get("x") is not None:
            token += f"@{tag['x']:g},{tag['y']:g}" if _is_num(tag["x"]) and _is_num(tag.get("y")) else ""
        if tag.get("item") is not None:
            token += f"#{tag['item']}"
        out.append(token)
    return " ".join(out)


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_collaborators(cell: str | None) -> Any:
    if not cell:
        return None
    if cell.lstrip().startswith("["):
        return _json_or(cell)
    return [u for u in re.split(r"[\s,]+", cell) if u]


def format_collaborators(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    return "" if value is None else json.dumps(value)


def parse_bool(cell: str | None, name: str) -> tuple[bool | None, str | None]:
    if not cell:
        return None, None
    word = cell.strip().lower()
    if word in TRUE_WORDS:
        return True, None
    if word in FALSE_WORDS:
        return False, None
    return None, f"{name} must be true or false (got {cell!r})"


def parse_int(cell: str | None, name: str) -> tuple[Any, str | None]:
    if not cell:
        return None, None
    try:
        return int(cell), None
    except ValueError:
        return None, f"{name} must be a whole number (got {cell!r})"


def parse_trial(cell: str | None) -> Any:
    if not cell:
        return None
    if cell.lstrip().startswith("{"):
        return _json_or(cell)
    return {"graduation_strategy": cell.strip().upper()}


def format_trial(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"graduation_strategy"}:
        return str(value["graduation_strategy"])
    return "" if value is None else json.dumps(value)
