"""The ``post add`` / ``post edit`` options of issue 16, read into the table's values (the tag syntax is the
CSV's: ``friend@0.5,0.5``, ``friend@0.5,0.5#2`` for carousel slide 2, or ``friend`` on reels and stories)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from postpilot import csv_options
from postpilot.domain.errors import InvalidInput

FirstComment = Annotated[
    str | None, typer.Option(help="Posted as a comment right after the post is live (e.g. the hashtags).")
]
Tag = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        help="Tag a person: username@x,y (0–1 from the top left), username@x,y#N on slide N, or username "
        "on a reel or story; repeat, at most 20.",
    ),
]
Collaborator = Annotated[
    list[str] | None, typer.Option("--collaborator", help="Invite a collaborator by username; repeat, at most 3.")
]
LocationId = Annotated[str | None, typer.Option(help="The numeric id of a Facebook Page with a location.")]
ShareToFeed = Annotated[
    bool | None,
    typer.Option("--share-to-feed/--no-share-to-feed", help="Reel: also show it in the feed (Instagram's default)."),
]
ThumbOffset = Annotated[int | None, typer.Option(help="Reel: the cover frame, in milliseconds into the video.")]
AudioName = Annotated[str | None, typer.Option(help="Reel: the name of its original audio.")]
Trial = Annotated[
    str | None,
    typer.Option(
        help="Reel: a trial reel, shown to non-followers first; MANUAL (you graduate it in the app) or "
        "SS_PERFORMANCE (graduated when it does well)."
    ),
]


def option_values(
    *,
    first_comment: str | None,
    tag: list[str] | None,
    collaborator: list[str] | None,
    location_id: str | None,
    share_to_feed: bool | None,
    thumb_offset: int | None,
    audio_name: str | None,
    trial: str | None,
) -> dict[str, Any]:
    """The given options as column values (only those given); a malformed --tag is refused here."""
    values: dict[str, Any] = {}
    if first_comment is not None:
        values["first_comment"] = first_comment or None
    if tag is not None:
        tags, problem = csv_options.parse_user_tags(" ".join(tag))
        if problem:
            raise InvalidInput(problem.replace("user_tags", "--tag", 1))
        values["user_tags"] = tags or None
    if collaborator is not None:
        values["collaborators"] = [c for c in collaborator if c] or None
    if location_id is not None:
        values["location_id"] = location_id or None
    if share_to_feed is not None:
        values["share_to_feed"] = share_to_feed
    if thumb_offset is not None:
        values["thumb_offset"] = thumb_offset
    if audio_name is not None:
        values["audio_name"] = audio_name or None
    if trial is not None:
        values["trial_params"] = csv_options.parse_trial(trial) if trial else None
    return values
