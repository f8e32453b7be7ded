"""``postpilot post add | list | preview | show | edit | prepare | approve | reject | regenerate | cancel | retry |
import | export``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from textwrap import indent
from typing import Annotated

import typer

from postpilot import csv_options
from postpilot.cli import post_options as opt
from postpilot.cli.common import EXIT_INPUT, fail, handle_errors, open_app
from postpilot.csvio import export_csv, parse_csv
from postpilot.domain import validation
from postpilot.domain.errors import Conflict, InvalidInput, NotFound
from postpilot.domain.model import DRAFT_FIELDS, Post, PostStatus, utcnow
from postpilot.domain.timeparse import parse_duration, parse_when, shown_time, zone
from postpilot.redaction import display_url

post_app = typer.Typer(
    help="Scheduled posts: add, list, show, edit, cancel, retry, import and export.", no_args_is_help=True
)


@post_app.command("add")
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
    aspect: Annotated[str, typer.Option(help="square, portrait or landscape.")] = "square",
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


def _short(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


_TZ_SHOW_HELP = "Show times in this IANA zone (default: each account's own, see account set --tz)."


def _table(posts: list[Post], names: dict[int, str], zones: dict[int, str], tz: str | None) -> str:
    rows = [("ID", "ACCOUNT", "TYPE", "SCHEDULED", "STATUS", "DETAIL")]
    for p in posts:
        detail = p.last_error if p.status in (PostStatus.FAILED, PostStatus.UNCONFIRMED) or p.last_error else ""
        if p.status in (PostStatus.PUBLISHED, PostStatus.SIMULATED):
            detail = p.permalink or (f"media {p.ig_media_id}" if p.ig_media_id else "")
        if not p.is_active:
            detail = "paused (is_active = false)"
        rows.append(
            (
                str(p.id),
                names.get(p.account_id, str(p.account_id)),
                p.post_type,
                shown_time(p.scheduled_at, tz or zones.get(p.account_id)),
                p.status.value,
                _short(detail, 60),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:5])) + ("  " + r[5] if r[5] else "") for r in rows
    ).rstrip()


@post_app.command("list")
@handle_errors
def list_(
    status: Annotated[str | None, typer.Option(help="Only posts with this status.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account's posts.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows (1 or more).")] = None,
    upcoming: Annotated[
        bool,
        typer.Option(
            "--upcoming", help="Only what goes out next (not yet published, cancelled or ended), soonest first."
        ),
    ] = False,
    tz: Annotated[str | None, typer.Option(help=_TZ_SHOW_HELP)] = None,
) -> None:
    """List posts, oldest scheduled time first; times in each account's time zone (or --tz)."""
    if status is not None and status not in {s.value for s in PostStatus}:
        raise InvalidInput(f"unknown status {status!r}; one of: {', '.join(s.value for s in PostStatus)}")
    if tz is not None:
        zone(tz)
    app = open_app()
    try:
        account_id = app.repo.require_account(account).id if account else None
        if upcoming:
            posts = app.repo.upcoming_posts(account_id=account_id, status=status, limit=limit)
        else:
            posts = app.repo.list_posts(status=status, account_id=account_id, limit=limit)
        accounts = app.repo.list_accounts()
        names = {a.id: a.name for a in accounts}
        zones = {a.id: a.time_zone for a in accounts}
        if not posts:
            typer.echo("nothing upcoming" if upcoming else "no posts")
            return
        typer.echo(_table(posts, names, zones, tz))
    finally:
        app.close()


@post_app.command("preview")
@handle_errors
def preview(
    post_id: Annotated[int, typer.Argument(help="The post's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the preview as one JSON object.")] = False,
    tz: Annotated[str | None, typer.Option(help=_TZ_SHOW_HELP)] = None,
) -> None:
    """Show what a post will publish: its stored images (paths or URLs, sizes), the exact caption and alt text,
    and the Graph API requests publishing will make (recorded as a dry run: nothing is sent or changed)."""
    if tz is not None:
        zone(tz)
    app = open_app()
    try:
        shown = app.preview(post_id)
        if as_json:
            typer.echo(json.dumps(shown.as_dict(), indent=2, ensure_ascii=False))
            return
        post = shown.post
        typer.echo(f"post {post.id} for {shown.account}: {post.post_type}, {post.status.value}")
        typer.echo(f"  publishes at {shown_time(post.scheduled_at, tz or shown.time_zone)}")
        typer.echo("\ncaption (exactly as published):")
        typer.echo(indent(shown.caption, "  ") if shown.caption else "  (none)")
        if shown.alt_text:
            typer.echo(f"\nalt text: {shown.alt_text}")
        if shown.images:
            typer.echo("\nimages:")
            for image in shown.images:
                size = f"{image.width}x{image.height}" if image.width else "size unknown"
                weight = f", {image.bytes / 1024:.0f} KiB" if image.bytes else ""
                alt = f", alt: {image.alt_text}" if image.alt_text else ""
                typer.echo(f"  #{image.position} {image.kind} ({image.source}, {size}{weight}{alt})")
                typer.echo(f"     {image.location or '(not stored yet)'}")
        if shown.requests:
            typer.echo("\nGraph API requests publishing will make:")
            for n, request in enumerate(shown.requests, 1):
                typer.echo(f"  {n}. {request.method} {request.url}")
                for key, value in request.form.items():
                    typer.echo(f"       {key}={value}")
        for note in shown.notes:
            typer.echo(f"\nnote: {note}")
    finally:
        app.close()


@post_app.command("show")
@handle_errors
def show(
    post_id: Annotated[int, typer.Argument(help="The post's id.")],
    tz: Annotated[str | None, typer.Option(help=_TZ_SHOW_HELP)] = None,
) -> None:
    """Show one post: its fields, its media and its history (times in the account's zone, or --tz)."""
    if tz is not None:
        zone(tz)
    app = open_app()
    try:
        post = app.repo.require_post(post_id)
        account = app.repo.account(post.account_id)
        shown_zone = tz or (account.time_zone if account else "UTC")
        fields = [
            ("id", post.id),
            ("account", account.name if account else post.account_id),
            ("type", post.post_type),
            ("status", post.status.value),
            ("scheduled_at", f"{post.scheduled_at.isoformat()} ({shown_time(post.scheduled_at, shown_zone)})"),
            ("active", post.is_active),
            ("series", f"{post.series_id} (postpilot series show {post.series_id})" if post.series_id else None),
            ("caption", post.caption),
            ("prompt", post.prompt),
            # Shown without user:password or query string (signatures); the stored values stay as written.
            ("image_url", _shown(post.image_url)),
            ("media_urls", json.dumps([_shown(u) for u in post.media_urls]) if post.media_urls else None),
            ("video_url", _shown(post.video_url)),
            ("cover_url", _shown(post.cover_url)),
            ("image_count", post.image_count),
            ("aspect", post.aspect),
            ("alt_text", post.alt_text),
            ("user_tags", csv_options.format_user_tags(post.user_tags) if post.user_tags else None),
            ("collaborators", csv_options.format_collaborators(post.collaborators) if post.collaborators else None),
            ("location_id", post.location_id),
            ("share_to_feed", post.share_to_feed),
            ("thumb_offset", post.thumb_offset),
            ("audio_name", post.audio_name),
            ("trial_params", csv_options.format_trial(post.trial_params) if post.trial_params else None),
            ("first_comment", post.first_comment),
            ("comment", _comment_state(post)),
            ("attempts", post.attempts),
            ("last_error", post.last_error),
            ("ig_media_id", post.ig_media_id),
            ("permalink", post.permalink),
            ("published_at", post.published_at.isoformat() if post.published_at else None),
        ]
        for name, value in fields:
            if value not in (None, ""):
                typer.echo(f"{name:>13}: {value}")
        media = app.repo.media(post_id)
        if media:
            typer.echo("\nmedia:")
            for m in media:
                size = f"{m.width}x{m.height}" if m.width else ""
                cost = f" ${m.cost_usd:.3f}" if m.cost_usd else ""
                shown = _shown(m.stored_url) or ""
                typer.echo(f"  #{m.position + 1} {m.kind} {m.source.value} {size} {m.model or ''}{cost} {shown}")
        typer.echo("\nhistory:")
        for e in app.repo.events(post_id):
            change = f"{e.from_status or ''}→{e.to_status}" if e.to_status else ""
            at = shown_time(e.at, shown_zone, seconds=True)
            typer.echo(f"  {at}  {e.kind:<18} {change:<22} {e.message or ''}".rstrip())
    finally:
        app.close()


def _comment_state(post: Post) -> str | None:
    """The first comment's outcome, in words (None without one)."""
    if not (post.first_comment or "").strip():
        return None
    if post.first_comment_id:
        return f"posted (comment {post.first_comment_id})"
    if post.first_comment_error:
        return f"not posted yet: {post.first_comment_error}"
    return "posted right after the post is live"


def _check_not_past(when: datetime, allow_past: bool) -> None:
    problem = None if allow_past else validation.past_problem(when, utcnow())
    if problem:
        raise InvalidInput(problem)


@post_app.command("edit")
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


def _person() -> str:
    """Who is at the keyboard, for the history (approvals record who approved)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@post_app.command("prepare")
@handle_errors
def prepare_now(
    post_ids: Annotated[list[int] | None, typer.Argument(help="The posts' ids.")] = None,
    all_within: Annotated[
        str | None, typer.Option(help="Every scheduled post due within this long, e.g. 7d or 36h.")
    ] = None,
) -> None:
    """Prepare posts now rather than an hour before: images made and stored once, reused at publish time (and
    ready to be looked at and approved days ahead)."""
    if not post_ids and not all_within:
        raise InvalidInput("name the posts (post prepare 12 13) or give --all-within 7d")
    within = float(parse_duration(all_within, "--all-within")) if all_within else None
    app = open_app()
    try:
        app.check_start()
        claimed = app.repo.claim_to_prepare_now(
            owner=app.owner, lease_s=app.settings.lease_s, post_ids=list(post_ids or []), within_s=within
        )
        found = {p.id for p in claimed}
        for post_id in post_ids or []:
            if post_id not in found:
                current = app.repo.require_post(post_id)
                typer.echo(f"post {post_id}: not prepared now ({current.status.value}; only scheduled posts)")
        failed = 0
        for post in claimed:
            result = app.pipeline.prepare(post)
            after = app.repo.require_post(post.id)
            note = f": {after.last_error}" if after.last_error else ""
            typer.echo(f"post {post.id}: {after.status.value}{note}")
            failed += after.status is PostStatus.FAILED or result.outcome.value == "failed"
        if not claimed:
            typer.echo("nothing to prepare")
        if failed:
            raise typer.Exit(1)
    finally:
        app.close()


@post_app.command("approve")
@handle_errors
def approve(post_ids: Annotated[list[int], typer.Argument(help="The posts' ids.")]) -> None:
    """Approve posts that need approval: they are staged and published at their time. Records who and when."""
    app = open_app()
    try:
        for post_id in post_ids:
            post = app.repo.approve(post_id, actor=_person())
            typer.echo(f"post {post.id} approved by {post.approved_by}; it is {post.status.value}")
    finally:
        app.close()


@post_app.command("reject")
@handle_errors
def reject(
    post_id: Annotated[int, typer.Argument(help="The post's id.")],
    reason: Annotated[str, typer.Option(help="Why, in words the author will read (kept as last_error).")],
) -> None:
    """Reject a post: it is cancelled with the reason. post retry schedules it again."""
    if not reason.strip():
        raise InvalidInput("--reason is empty: say why, so the author knows what to change")
    app = open_app()
    try:
        post = app.repo.reject(post_id, actor=_person(), reason=reason.strip())
        typer.echo(f"post {post.id} is {post.status.value}: {post.last_error}")
    finally:
        app.close()


@post_app.command("regenerate")
@handle_errors
def regenerate(
    post_id: Annotated[int, typer.Argument(help="The post's id.")],
    prompt: Annotated[str | None, typer.Option(help="A new prompt for the new images.")] = None,
) -> None:
    """Make new images for a post (paid once more); it needs approval again if it needed it."""
    app = open_app()
    try:
        post = app.repo.regenerate(post_id, actor=_person(), prompt=prompt)
        typer.echo(f"post {post.id} is {post.status.value}: new images are made at its next preparation")
    finally:
        app.close()


@post_app.command("cancel")
@handle_errors
def cancel(post_id: Annotated[int, typer.Argument(help="The post's id.")]) -> None:
    """Cancel a post that has not been published."""
    app = open_app()
    try:
        post = app.repo.cancel(post_id, actor=_person())
        typer.echo(f"post {post.id} is {post.status.value}")
    finally:
        app.close()


@post_app.command("retry")
@handle_errors
def retry(
    post_id: Annotated[int, typer.Argument(help="The post's id.")],
    force: Annotated[
        bool, typer.Option("--force", help="Retry an unconfirmed post (after checking Instagram).")
    ] = False,
    allow_duplicate: Annotated[
        bool,
        typer.Option("--allow-duplicate", help="Publish it although it repeats a recent post (the duplicate guard)."),
    ] = False,
) -> None:
    """Schedule a failed, cancelled, simulated or (with --force) unconfirmed post again; media already made is
    reused."""
    app = open_app()
    try:
        post = app.repo.retry(
            post_id,
            force=force,
            max_lateness_s=app.settings.max_lateness_s,
            allow_duplicate=allow_duplicate,
            actor=_person(),
        )
        typer.echo(f"post {post.id} is {post.status.value} again for {post.scheduled_at.isoformat()}")
    finally:
        app.close()


@post_app.command("comment-retry")
@handle_errors
def comment_retry(post_id: Annotated[int, typer.Argument(help="The post's id.")]) -> None:
    """Try a live post's first comment again now (after it was given up, e.g. once the account is reconnected
    with the comments permission). The post itself is not touched."""
    app = open_app()
    try:
        app.repo.retry_first_comment(post_id, actor=_person())
        app.first_comments.run_due(post_id=post_id)
        after = app.repo.require_post(post_id)
        typer.echo(f"post {post_id}: first comment {_comment_state(after)}")
        if not after.first_comment_id:
            raise typer.Exit(1)
    finally:
        app.close()


@post_app.command("import")
@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV file (see the README for its columns).")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows even if some are bad.")
    ] = False,
    allow_past: Annotated[
        bool, typer.Option("--allow-past", help="Accept times more than 5 minutes ago: publish those at once.")
    ] = False,
) -> None:
    """Import posts from CSV (commas, semicolons or tabs). Every row is checked first; with any bad row nothing
    is imported (unless --skip-invalid). A row with an id (from post export) updates that post."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file} is not UTF-8 text (save the CSV as UTF-8)") from exc
    import io

    app = open_app()
    try:
        # On a terminal, large files show how far the check has got (stderr: stdout stays the result).
        tty = sys.stderr.isatty()
        results = parse_csv(
            io.StringIO(text),
            app.repo.account_by_name,
            progress=(lambda n: typer.echo(f"checked {n:,} rows…", err=True)) if tty else None,
            now=None if allow_past else utcnow(),
            find_post=app.repo.post,
        )
        bad = [r for r in results if r.problems]
        for r in bad:
            typer.echo(f"line {r.line}: {'; '.join(r.problems)}", err=True)
        new = [r.values for r in results if r.values is not None and r.post_id is None]
        edits = [r for r in results if r.values and r.post_id is not None]
        unchanged = sum(1 for r in results if r.post_id is not None and r.values == {})
        if bad and not skip_invalid:
            raise fail(
                f"{len(bad)} of {len(results)} rows are invalid; nothing was imported "
                "(fix them, or use --skip-invalid to import the valid rows)",
                EXIT_INPUT,
            )
        ids = app.repo.add_posts(new) if new else []
        refused = 0
        for r in edits:
            assert r.post_id is not None and r.values is not None
            try:
                app.repo.edit_post(r.post_id, r.values, actor="import")
            except (Conflict, NotFound) as exc:
                refused += 1
                typer.echo(f"line {r.line}: {exc.message}", err=True)
        parts = [f"imported {len(ids)} post(s)"]
        if edits or unchanged:
            parts.append(f"updated {len(edits) - refused}, unchanged {unchanged}")
        if refused:
            parts.append(f"{refused} update(s) refused")
        if bad:
            parts.append(f"skipped {len(bad)} invalid row(s)")
        typer.echo(", ".join(parts))
        if bad or refused:
            raise typer.Exit(EXIT_INPUT)
    finally:
        app.close()


@post_app.command("export")
@handle_errors
def export(
    status: Annotated[str | None, typer.Option(help="Only posts with this status.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    full_urls: Annotated[
        bool,
        typer.Option(
            "--full-urls",
            help="Write URLs as stored, query strings (signatures, tokens) included; by default they are hidden.",
        ),
    ] = False,
) -> None:
    """Export posts as CSV (the import format plus status and results). URLs are shown without user:password
    and with their query string as ?… unless --full-urls; cells a spreadsheet would run as a formula (=, +, -,
    @) start with an apostrophe, which the import takes off again."""
    if status is not None and status not in {s.value for s in PostStatus}:
        raise InvalidInput(f"unknown status {status!r}; one of: {', '.join(s.value for s in PostStatus)}")
    app = open_app()
    try:
        names = {a.id: a.name for a in app.repo.list_accounts()}
        data = export_csv(app.repo.list_posts(status=status), names, full_urls=full_urls)
        if output:
            output.write_text(data, encoding="utf-8")
        else:
            sys.stdout.write(data)
    finally:
        app.close()


def _shown(url: object) -> str | None:
    return display_url(url) if isinstance(url, str) and url else None
