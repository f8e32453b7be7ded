"""``postpilot post add | edit``: writing a post from the command line, checked as the daemon would check it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from postpilot.cli import post_options as opt
from postpilot.cli.common import handle_errors, open_app
from postpilot.domain import validation
from postpilot.domain.errors import InvalidInput, NotFound
from postpilot.domain.model import DRAFT_FIELDS, utcnow
from postpilot.domain.timeparse import parse_when, zone


@handle_errors
def add(
    account: Annotated[str, typer.Option(help="Account name (see postpilot account list).")],
    at: Annotated[
        str,
        typer.Option(help="When to publish: ISO 8601 (2026-12-01T09:00:00+01:00) or '2026-12-01 09:00' read in --tz."),
    ],
    post_type: Annotated[str, typer.Option("--type", help="photo, carousel, reel or story.")] = "photo",
    tz: Annotated[
        str | None, typer.Option(help="IANA time zone for an --at without offset (default: the account's).")
    ] = None,
    caption: Annotated[str, typer.Option(help="≤ 2200 characters, ≤ 30 hashtags, ≤ 20 @mentions.")] = "",
    prompt: Annotated[str | None, typer.Option(help="Generate the image(s) from this text.")] = None,
    image_url: Annotated[str | None, typer.Option(help="Photo: your own image (http/https).")] = None,
    media_url: Annotated[list[str] | None, typer.Option(help="Carousel: an image URL; repeat 2–10 times.")] = None,
    video_url: Annotated[str | None, typer.Option(help="Reel: the video (MP4/MOV) URL.")] = None,
    cover_url: Annotated[str | None, typer.Option(help="Reel: optional cover image URL.")] = None,
    image_count: Annotated[int | None, typer.Option(help="Carousel: images to generate (2–10).")] = None,
    aspect: Annotated[
        str | None, typer.Option(help="Photo or carousel: square (default), portrait or landscape.")
    ] = None,
    alt_text: Annotated[str | None, typer.Option(help="Accessibility text (≤ 1000 characters).")] = None,
    allow_past: Annotated[
        bool, typer.Option("--allow-past", help="Accept a time more than 5 minutes ago: publish as soon as possible.")
    ] = False,
    first_comment: opt.FirstComment = None,
    tag: opt.Tag = None,
    collaborator: opt.Collaborator = None,
    location_id: opt.LocationId = None,
    share_to_feed: opt.ShareToFeed = None,
    thumb_offset: opt.ThumbOffset = None,
    audio_name: opt.AudioName = None,
    trial: opt.Trial = None,
) -> None:
    """Schedule a post. Prints the new post's id."""
    extras = opt.option_values(
        first_comment=first_comment,
        tag=tag,
        collaborator=collaborator,
        location_id=location_id,
        share_to_feed=share_to_feed,
        thumb_offset=thumb_offset,
        audio_name=audio_name,
        trial=trial,
    )
    if aspect is not None and post_type in ("reel", "story"):
        raise InvalidInput(
            f"--aspect is for a photo or a carousel: a {post_type} goes out "
            + ("as its video is" if post_type == "reel" else "in 9:16, whatever its source")
        )
    aspect = aspect or "square"
    app = open_app()
    try:
        found = app.repo.account_by_name(account)
        when = parse_when(at, tz or (found.time_zone if found else "UTC"))
        draft = validation.PostDraft(
            post_type=post_type,
            caption=caption,
            prompt=prompt,
            image_url=image_url,
            media_urls=list(media_url) if media_url else None,
            video_url=video_url,
            cover_url=cover_url,
            image_count=image_count,
            aspect=aspect,
            alt_text=alt_text,
            scheduled_at=when,
            **extras,
        )
        if found is None:
            raise NotFound(f"no account named {account!r} (see postpilot account list)")
        conflicts = validation.option_conflicts(draft)
        if conflicts:
            raise InvalidInput("; ".join(conflicts))
        validation.check(draft, found)
        _check_not_past(when, allow_past)
        post_id = app.repo.add_post(
            {
                "account_id": found.id,
                "post_type": post_type,
                "caption": caption,
                "prompt": prompt,
                "image_url": image_url,
                "media_urls": draft.media_urls,
                "video_url": video_url,
                "cover_url": cover_url,
                "image_count": image_count,
                "aspect": aspect,
                "alt_text": alt_text,
                **extras,
                "scheduled_at": when,
            }
        )
        typer.echo(post_id)
    finally:
        app.close()


def _check_not_past(when: datetime, allow_past: bool) -> None:
    problem = None if allow_past else validation.past_problem(when, utcnow())
    if problem:
        raise InvalidInput(problem)


@handle_errors
def edit(
    post_id: Annotated[int, typer.Argument(help="The post's id.")],
    at: Annotated[str | None, typer.Option(help="A new time: ISO 8601, or '2026-12-01 09:00' read in --tz.")] = None,
    tz: Annotated[
        str | None, typer.Option(help="IANA time zone for an --at without offset (default: the account's).")
    ] = None,
    caption: Annotated[str | None, typer.Option(help="The new caption ('' for none).")] = None,
    prompt: Annotated[str | None, typer.Option(help="A new prompt ('' for none): new images are made.")] = None,
    image_url: Annotated[str | None, typer.Option(help="Photo: your own image ('' to generate one instead).")] = None,
    media_url: Annotated[
        list[str] | None, typer.Option(help="Carousel: the image URLs, all of them, in order.")
    ] = None,
    video_url: Annotated[str | None, typer.Option(help="Reel: the video URL.")] = None,
    cover_url: Annotated[str | None, typer.Option(help="Reel: the cover image URL ('' for none).")] = None,
    image_count: Annotated[int | None, typer.Option(help="Carousel: images to generate (2–10).")] = None,
    aspect: Annotated[str | None, typer.Option(help="square, portrait or landscape.")] = None,
    alt_text: Annotated[str | None, typer.Option(help="Accessibility text ('' for none).")] = None,
    allow_past: Annotated[
        bool, typer.Option("--allow-past", help="Accept an --at more than 5 minutes ago: publish as soon as possible.")
    ] = False,
    first_comment: opt.FirstComment = None,
    tag: opt.Tag = None,
    collaborator: opt.Collaborator = None,
    location_id: opt.LocationId = None,
    share_to_feed: opt.ShareToFeed = None,
    thumb_offset: opt.ThumbOffset = None,
    audio_name: opt.AudioName = None,
    trial: opt.Trial = None,
) -> None:
    """Change what a post will publish, or when. Works until publishing starts, also after the images are made:
    only the images whose inputs changed are made again. A list option given as '' clears it (--tag '')."""
    changes: dict[str, object] = opt.option_values(
        first_comment=first_comment,
        tag=tag,
        collaborator=collaborator,
        location_id=location_id,
        share_to_feed=share_to_feed,
        thumb_offset=thumb_offset,
        audio_name=audio_name,
        trial=trial,
    )
    for name, value in (
        ("caption", caption),
        ("prompt", prompt),
        ("image_url", image_url),
        ("video_url", video_url),
        ("cover_url", cover_url),
        ("alt_text", alt_text),
    ):
        if value is not None:
            changes[name] = value if value != "" or name == "caption" else None
    if media_url is not None:
        changes["media_urls"] = list(media_url) or None
    if image_count is not None:
        changes["image_count"] = image_count
    if aspect is not None:
        changes["aspect"] = aspect
    if tz is not None:
        zone(tz)
    if not changes and at is None:
        raise InvalidInput("nothing to change: give at least one option, e.g. --caption '…' (see --help)")
    app = open_app()
    try:
        post = app.repo.require_post(post_id)
        when = None
        if at is not None:
            owner = app.repo.account(post.account_id)
            when = changes["scheduled_at"] = parse_when(at, tz or (owner.time_zone if owner else "UTC"))
        merged = {name: getattr(post, name) for name in DRAFT_FIELDS}
        merged.update(changes)
        validation.check(validation.PostDraft(**merged), app.repo.account(post.account_id))
        if when is not None:
            _check_not_past(when, allow_past)
        edited = app.repo.edit_post(post_id, changes)
        typer.echo(f"post {edited.id} edited ({', '.join(sorted(changes))}); it is {edited.status.value}")
    finally:
        app.close()
