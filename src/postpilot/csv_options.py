"""CSV cells for the options of issue 16, in forms a spreadsheet can hold (a JSON array works in each too).

- ``media_urls``: the carousel's URLs separated by spaces, ``|`` or new lines (a path ending in .mp4, .mov or
  .m4v is a video); or, to give a slide its own alt text or to mark a video whose URL does not say so, the
  column's JSON array as SQL takes it: ``[{"url": "https://…/a.jpg", "alt_text": "…"},
  {"url": "https://…/clip", "type": "video"}, "https://…/b.jpg"]``. The export writes the JSON form exactly
  when the plain one would lose something.
- ``user_tags``: people separated by spaces: ``friend@0.5,0.5`` (x, y from 0 to 1), ``friend@0.5,0.5#2`` on
  carousel slide 2, or just ``friend`` on a reel or a story.
- ``collaborators``: usernames separated by spaces or commas.
- ``share_to_feed``: true or false. ``thumb_offset``: milliseconds. ``trial_params``: ``MANUAL`` or
  ``SS_PERFORMANCE`` (the graduation strategy of a trial reel).
- ``requires_approval``: true or false; empty follows the account (``account set --require-approval``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_TAG = re.compile(r"^(?P<name>[^@#\s]+)(?:@(?P<x>[^,#\s]+),(?P<y>[^#\s]+))?(?:#(?P<item>\d+))?$")
TRUE_WORDS = ("true", "yes", "1", "y")
FALSE_WORDS = ("false", "no", "0", "n")


def _json_or(cell: str) -> Any:
    try:
        return json.loads(cell)
    except ValueError:
        return cell  # validation names the field and the rule


# What a JSON cell of each column looks like, for the message when one does not parse.
JSON_EXAMPLES = {
    "media_urls": '[{"url": "https://example.com/a.jpg", "alt_text": "the counter"}, "https://example.com/b.mp4"]',
    "user_tags": '[{"username": "friend", "x": 0.5, "y": 0.5}]',
    "collaborators": '["partner_shop"]',
    "trial_params": '{"graduation_strategy": "MANUAL"}',
}
_CURLY_QUOTES = "\u201c\u201d\u201e\u2018\u2019"
# Carousel URLs in the plain form; a URL holding one of these must be written in the JSON form.
_MEDIA_SEPARATORS = re.compile(r"[\s|]+")


def json_problem(cell: str | None, name: str) -> str | None:
    """What is wrong with a cell that starts like JSON (``[`` or ``{``) but does not parse; None otherwise."""
    text = (cell or "").strip()
    if not text.startswith(("[", "{")):
        return None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        hint = (
            '; it has typographic quotes (\u201c \u201d), JSON needs straight ones (")'
            if any(q in text for q in _CURLY_QUOTES)
            else ""
        )
        return (
            f"{name} starts with {text[0]} but is not valid JSON ({exc.msg} at character {exc.pos + 1}){hint}; "
            f"write it like {JSON_EXAMPLES.get(name, '[...]')}"
        )
    return None


def parse_media_urls(cell: str | None) -> tuple[Any, str | None]:
    """(value, problem) for a ``media_urls`` cell: URLs separated by spaces, ``|`` or new lines, or a JSON array
    (whose items validation checks, naming the item)."""
    if not cell or not cell.strip():
        return None, None
    text = cell.strip()
    if text.startswith(("[", "{")):
        problem = json_problem(text, "media_urls")
        if problem:
            return None, problem
        value = json.loads(text)
        if isinstance(value, dict):
            return None, (
                f"media_urls is the whole carousel: put the slides in a JSON array, like {JSON_EXAMPLES['media_urls']}"
            )
        return value, None
    return [u for u in _MEDIA_SEPARATORS.split(text) if u], None


def format_media_urls(value: Any, shown: Callable[[str], str]) -> str:
    """A ``media_urls`` cell: the plain list when every slide is a URL that reads back as the same slide,
    else the JSON array (objects with their alt text and type kept), each URL as ``shown`` writes it."""
    if value is None:
        return ""
    if not isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)  # a row written with SQL that import will name the problem of
    if all(isinstance(u, str) and u and not _MEDIA_SEPARATORS.search(shown(u)) for u in value):
        return " ".join(shown(u) for u in value)
    return json.dumps([_shown_item(u, shown) for u in value], ensure_ascii=False)


def _shown_item(item: Any, shown: Callable[[str], str]) -> Any:
    if isinstance(item, str):
        return shown(item)
    if isinstance(item, dict) and isinstance(item.get("url"), str):
        return {**item, "url": shown(item["url"])}
    return item


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
