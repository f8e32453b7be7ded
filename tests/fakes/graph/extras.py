"""The optional container parameters of issue 16, checked as Meta's IG User Media reference describes them:
``user_tags`` (a JSON array of ``{username, x, y}``, at most 20, x/y from 0.0 to 1.0 on images, none on reels,
optional on stories), ``collaborators`` (a JSON array of at most 3 usernames, on feed images, reels and
carousel parents: never on a carousel child or a story), ``location_id`` (not on a child or a story), and
the reel-only ``thumb_offset``, ``audio_name`` and ``trial_params`` (``{"graduation_strategy": "MANUAL" |
"SS_PERFORMANCE"}``). Stories take no caption. ``alt_text`` is for images only."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.graph.parsing import Req
from tests.fakes.graph.records import FakeContainer, _bad_param

MAX_TAGS = 20
MAX_COLLABORATORS = 3
_USERNAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")


def _json_param(req: Req, name: str) -> Any:
    raw = req.param(name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _bad_param(f"{name} must be JSON.") from exc


def check_extras(req: Req, c: FakeContainer, media_type: str | None, *, has_video: bool) -> None:
    """Raise what Meta answers for a parameter the container cannot take; record the rest on ``c``."""
    kind = "CHILD" if c.is_carousel_item else (media_type or "IMAGE")
    if kind == "STORIES" and c.caption:
        raise _bad_param("Stories cannot have a caption.")
    if c.alt_text is not None and (has_video or media_type in ("VIDEO", "REELS", "STORIES")):
        raise _bad_param("alt_text is only supported for images.")
    tags = _json_param(req, "user_tags")
    if tags is not None:
        c.user_tags = _check_tags(tags, kind)
    collaborators = _json_param(req, "collaborators")
    if collaborators is not None:
        if kind in ("CHILD", "STORIES"):
            raise _bad_param(
                "Collaborators can only be added to feed images, reels and carousels (not to carousel items or "
                "stories)."
            )
        if not isinstance(collaborators, list) or len(collaborators) > MAX_COLLABORATORS:
            raise _bad_param(f"collaborators must be a list of at most {MAX_COLLABORATORS} usernames.")
        if not all(isinstance(u, str) and _USERNAME.match(u) for u in collaborators):
            raise _bad_param("collaborators must be Instagram usernames.")
        c.collaborators = list(collaborators)
    location = req.param("location_id")
    if location is not None:
        if kind in ("CHILD", "STORIES"):
            raise _bad_param("location_id is not supported on carousel items or stories.")
        if not location.isdigit():
            raise _bad_param("location_id must be the id of a Page with a location.")
        c.location_id = location
    for name in ("audio_name", "trial_params"):
        if req.param(name) is not None and kind != "REELS":
            raise _bad_param(f"{name} is only supported for reels.")
    if req.param("audio_name") is not None:
        c.audio_name = req.param("audio_name")
    trial = _json_param(req, "trial_params")
    if trial is not None:
        if not isinstance(trial, dict) or trial.get("graduation_strategy") not in ("MANUAL", "SS_PERFORMANCE"):
            raise _bad_param("trial_params must be {\"graduation_strategy\": \"MANUAL\" or \"SS_PERFORMANCE\"}.")
        c.trial_params = dict(trial)


def _check_tags(tags: Any, kind: str) -> list[dict[str, Any]]:
    if kind == "CAROUSEL":
        raise _bad_param("user_tags go on the carousel items, not on the carousel.")
    if not isinstance(tags, list):
        raise _bad_param("user_tags must be an array of users.")
    if len(tags) > MAX_TAGS:
        raise _bad_param(f"You can tag at most {MAX_TAGS} people.", subcode=2207061)
    checked = []
    for tag in tags:
        name = tag.get("username") if isinstance(tag, dict) else None
        if not isinstance(name, str) or not _USERNAME.match(name):
            raise _bad_param("Each user tag needs the username of a public Instagram account.")
        has_xy = "x" in tag or "y" in tag
        if kind == "REELS" and has_xy:
            raise _bad_param("Reels tag people by username only (no x or y).")
        if kind in ("IMAGE", "CHILD") and not has_xy:
            raise _bad_param("A user tag on an image needs x and y.")
        if has_xy:
            for axis in ("x", "y"):
                value = tag.get(axis)
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                    raise _bad_param(f"The user tag's {axis} must be between 0.0 and 1.0.")
        checked.append(dict(tag))
    return checked
