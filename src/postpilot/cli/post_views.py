"""``postpilot post list | preview | show``: looking at posts, with times in each account's zone. Nothing here
changes a post."""

from __future__ import annotations

import json
from textwrap import indent
from typing import Annotated

import typer

from postpilot.cli.common import handle_errors, open_app
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import Post, PostStatus
from postpilot.domain.timeparse import shown_time, zone
from postpilot.post_fields import field_rows, shown_url


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
        skipped: list[str] = []  # rows the database holds but postpilot cannot read: named, not fatal
        if upcoming:
            posts = app.repo.upcoming_posts(account_id=account_id, status=status, limit=limit, skipped=skipped)
        else:
            posts = app.repo.list_posts(status=status, account_id=account_id, limit=limit, skipped=skipped)
        accounts = app.repo.list_accounts()
        names = {a.id: a.name for a in accounts}
        zones = {a.id: a.time_zone for a in accounts}
        for message in skipped:
            typer.echo(f"warning: {message}", err=True)
        if not posts:
            typer.echo("nothing upcoming" if upcoming else "no posts")
            return
        typer.echo(_table(posts, names, zones, tz))
    finally:
        app.close()


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
        fields = field_rows(post, account, lambda t: f"{t.isoformat()} ({shown_time(t, shown_zone)})")
        for name, value in fields:
            typer.echo(f"{name:>13}: {value}")
        media = app.repo.media(post_id)
        if media:
            typer.echo("\nmedia:")
            for m in media:
                size = f"{m.width}x{m.height}" if m.width else ""
                cost = f" ${m.cost_usd:.3f}" if m.cost_usd else ""
                shown = shown_url(m.stored_url) or ""
                typer.echo(f"  #{m.position + 1} {m.kind} {m.source.value} {size} {m.model or ''}{cost} {shown}")
        typer.echo("\nhistory:")
        for e in app.repo.events(post_id):
            change = f"{e.from_status or ''}→{e.to_status}" if e.to_status else ""
            at = shown_time(e.at, shown_zone, seconds=True)
            typer.echo(f"  {at}  {e.kind:<18} {change:<22} {e.message or ''}".rstrip())
    finally:
        app.close()
