"""``postpilot series add | list | show | edit | cancel``: recurring posts.

A series is a post template and a rule; the daemon (and ``run-once``) creates each occurrence as its own post
two weeks ahead (``db/series.py``), and ``series add`` creates the first ones at once so ``post list``
shows them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from postpilot.cli import post_options as po
from postpilot.cli.common import handle_errors, open_app
from postpilot.cli.series_options import (
    OPTION_NAMES,
    SHOWN_NEXT,
    AltText,
    Approval,
    AspectOpt,
    At,
    Caption,
    Count,
    CoverUrl,
    Day,
    Every,
    FirstComment,
    From,
    ImageCount,
    ImageUrl,
    Interval,
    MediaUrl,
    On,
    PostType,
    Prompt,
    Tz,
    Until,
    VideoUrl,
    content_options,
    rule_options,
)
from postpilot.db.series import horizon_s
from postpilot.domain.errors import InvalidInput, NotFound
from postpilot.domain.model import Post, utcnow
from postpilot.domain.recurrence import Rule, describe, upcoming
from postpilot.domain.series_rules import RULE_FIELDS, TEMPLATE_FIELDS, Series, SeriesChange, check_series
from postpilot.domain.timeparse import known_zone, shown_time

series_app = typer.Typer(
    help="Recurring posts: a post repeated daily, weekly or monthly at a local time.", no_args_is_help=True
)


@series_app.command("add")
@handle_errors
def add(
    account: Annotated[str, typer.Option(help="Account name (see postpilot account list).")],
    every: Every = None,
    at: At = None,
    interval: Interval = None,
    on: On = None,
    day: Day = None,
    tz: Tz = None,
    from_: From = None,
    until: Until = None,
    count: Count = None,
    post_type: PostType = None,
    caption: Caption = None,
    prompt: Prompt = None,
    image_url: ImageUrl = None,
    media_url: MediaUrl = None,
    video_url: VideoUrl = None,
    cover_url: CoverUrl = None,
    image_count: ImageCount = None,
    aspect: AspectOpt = None,
    alt_text: AltText = None,
    first_comment: FirstComment = None,
    tag: po.Tag = None,
    collaborator: po.Collaborator = None,
    location_id: po.LocationId = None,
    share_to_feed: po.ShareToFeed = None,
    thumb_offset: po.ThumbOffset = None,
    audio_name: po.AudioName = None,
    trial: po.Trial = None,
    approval: Approval = None,
) -> None:
    """Add a recurring post, e.g. --every week --on mon,thu --at 09:00 --from 2027-01-04 --until 2027-12-31.
    Each occurrence becomes its own post, created two weeks ahead; 09:00 stays 09:00 local time across
    daylight-saving changes."""
    if every is None or at is None:
        raise InvalidInput("a series needs --every (day, week or month) and --at (the local time, e.g. 09:00)")
    values = rule_options(
        every=every, interval=interval, on=on, day=day, at=at, tz=tz, from_=from_, until=until, count=count
    )
    values.update(
        content_options(
            post_type=post_type or "photo",
            caption=caption or "",
            prompt=prompt,
            image_url=image_url,
            media_url=media_url,
            video_url=video_url,
            cover_url=cover_url,
            image_count=image_count,
            aspect=aspect or "square",
            alt_text=alt_text,
            first_comment=first_comment,
            requires_approval=approval,
        )
    )
    values.update(
        po.option_values(
            first_comment=None,
            tag=tag,
            collaborator=collaborator,
            location_id=location_id,
            share_to_feed=share_to_feed,
            thumb_offset=thumb_offset,
            audio_name=audio_name,
            trial=trial,
        )
    )
    app = open_app()
    try:
        found = app.repo.account_by_name(account)
        if found is None:
            raise NotFound(f"no account named {account!r} (see postpilot account list)")
        # The first day defaults to today where the series lives.
        values.setdefault("starts_on", utcnow().astimezone(known_zone(tz or found.time_zone)).date())
        rule = check_series(values, found, default_zone=found.time_zone, names=OPTION_NAMES)
        if not upcoming(rule, after=utcnow(), limit=1):
            raise InvalidInput(
                "every occurrence of this series is in the past (occurrences before now are never made); "
                "give a later --from, --until or a larger --count"
            )
        series_id = app.repo.add_series({"account_id": found.id, **values})
        created = app.repo.expand_series(series_id=series_id, horizon_s=horizon_s(app.settings.prepare_ahead_s))
        typer.echo(f"series {series_id} for {found.name}: {describe(rule)}")
        _echo_next(app.repo.require_series(series_id), found.time_zone, app.repo.series_posts(series_id))
        if created:
            ids = ", ".join(str(i) for i in created)
            typer.echo(f"created post {ids} (the next two weeks); the daemon creates the later ones two weeks ahead")
        else:
            typer.echo("each occurrence becomes a post two weeks ahead of its time (postpilot post list shows it then)")
    finally:
        app.close()


def _state(found: Series, rule: Rule | None) -> str:
    if found.cancelled_at is not None:
        return "cancelled"
    if not found.is_active:
        return "paused"
    if found.last_error:
        return "held"  # a rule or template the daemon cannot use: ``last_error`` says why
    if rule is not None and not upcoming(rule, after=utcnow(), limit=1):
        return "ended"  # its last occurrence is past (or made): nothing more will come
    return "active"


def _echo_next(
    found: Series, account_zone: str, posts: list[tuple[datetime | None, Post]], *, limit: int = SHOWN_NEXT
) -> None:
    rule = found.rule(account_zone)
    if rule is None or found.cancelled_at is not None:
        return
    by_time = {at: post for at, post in posts if at is not None}
    nxt = upcoming(rule, after=utcnow(), limit=limit)
    if not nxt:
        typer.echo("next: none (the series has ended)")
        return
    typer.echo("next:")
    for occurrence in nxt:
        post = by_time.get(occurrence.at)
        made = f"post {post.id}, {post.status.value}" if post else "not created yet"
        typer.echo(f"  #{occurrence.number:<4} {shown_time(occurrence.at, rule.time_zone)}  ({made})")


@series_app.command("list")
@handle_errors
def list_(account: Annotated[str | None, typer.Option(help="Only this account's series.")] = None) -> None:
    """List the series: the rule in words, and whether it is active, cancelled or held by a problem."""
    app = open_app()
    try:
        account_id = app.repo.require_account(account).id if account else None
        accounts = {a.id: a for a in app.repo.list_accounts()}
        found = app.repo.list_series(account_id=account_id)
        if not found:
            typer.echo("no series")
            return
        rows = [("ID", "ACCOUNT", "TYPE", "STATE", "RULE")]
        problems: dict[str, str] = {}
        for s in found:
            owner = accounts.get(s.account_id)
            rule = s.rule(owner.time_zone if owner else "UTC")
            words = describe(rule) if rule else "(a rule that cannot be read: see below)"
            name = owner.name if owner else str(s.account_id)
            rows.append((str(s.id), name, str(s.template.get("post_type") or "photo"), _state(s, rule), words))
            if s.last_error and s.cancelled_at is None:
                problems[str(s.id)] = s.last_error
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            typer.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:4])) + "  " + r[4])
            if r[0] in problems:
                typer.echo(f"    not expanded: {problems[r[0]]}")
    finally:
        app.close()


@series_app.command("show")
@handle_errors
def show(series_id: Annotated[int, typer.Argument(help="The series' id.")]) -> None:
    """Show a series: its rule in words, its template, its next occurrences and the posts made so far."""
    app = open_app()
    try:
        found = app.repo.require_series(series_id)
        owner = app.repo.account(found.account_id)
        zone_name = owner.time_zone if owner else "UTC"
        rule = found.rule(zone_name)
        typer.echo(f"series {found.id} for {owner.name if owner else found.account_id}: {_state(found, rule)}")
        if found.last_error and found.cancelled_at is None:
            typer.echo(f"{'not expanded':>17}: {found.last_error}")
        typer.echo(f"{'rule':>17}: {describe(rule) if rule else '(cannot be read)'}")
        for name in TEMPLATE_FIELDS:
            value = found.template.get(name)
            if value not in (None, ""):
                shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
                typer.echo(f"{name:>17}: {shown}")
        posts = app.repo.series_posts(series_id)
        _echo_next(found, zone_name, posts)
        if posts:
            counts: dict[str, int] = {}
            for _at, p in posts:
                counts[p.status.value] = counts.get(p.status.value, 0) + 1
            parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            typer.echo(f"posts so far: {len(posts)} ({parts}); see them with postpilot post show ID")
    finally:
        app.close()


@series_app.command("edit")
@handle_errors
def edit(
    series_id: Annotated[int, typer.Argument(help="The series' id.")],
    every: Every = None,
    at: At = None,
    interval: Interval = None,
    on: On = None,
    day: Day = None,
    tz: Tz = None,
    from_: From = None,
    until: Annotated[str | None, typer.Option("--until", help="A new last day ('' for none).")] = None,
    count: Annotated[int | None, typer.Option("--count", help="A new number of times (0 for no limit).")] = None,
    post_type: PostType = None,
    caption: Caption = None,
    prompt: Prompt = None,
    image_url: ImageUrl = None,
    media_url: MediaUrl = None,
    video_url: VideoUrl = None,
    cover_url: CoverUrl = None,
    image_count: ImageCount = None,
    aspect: AspectOpt = None,
    alt_text: AltText = None,
    first_comment: FirstComment = None,
    tag: po.Tag = None,
    collaborator: po.Collaborator = None,
    location_id: po.LocationId = None,
    share_to_feed: po.ShareToFeed = None,
    thumb_offset: po.ThumbOffset = None,
    audio_name: po.AudioName = None,
    trial: po.Trial = None,
    approval: Approval = None,
) -> None:
    """Change a series' content or rule. Its occurrences not yet prepared change with it; prepared ones are
    left as they are (listed, so you can edit or cancel them with post edit / post cancel)."""
    changes = rule_options(
        editing=True,
        every=every,
        interval=interval,
        on=on,
        day=day,
        at=at,
        tz=tz,
        from_=from_,
        until=until,
        count=count,
    )
    content = content_options(
        post_type=post_type,
        caption=caption,
        prompt=prompt,
        image_url=image_url,
        media_url=media_url,
        video_url=video_url,
        cover_url=cover_url,
        image_count=image_count,
        aspect=aspect,
        alt_text=alt_text,
        first_comment=first_comment,
        requires_approval=approval,
    )
    # '' clears an optional text, as in post edit (a caption may be empty).
    changes.update({k: (None if v == "" and k != "caption" else v) for k, v in content.items()})
    changes.update(
        po.option_values(
            first_comment=None,
            tag=tag,
            collaborator=collaborator,
            location_id=location_id,
            share_to_feed=share_to_feed,
            thumb_offset=thumb_offset,
            audio_name=audio_name,
            trial=trial,
        )
    )
    if not changes:
        raise InvalidInput("nothing to change: give at least one option, e.g. --caption '…' (see --help)")
    app = open_app()
    try:
        found = app.repo.require_series(series_id)
        if found.cancelled_at is not None:
            raise InvalidInput(f"series {series_id} is cancelled; add a new one with postpilot series add")
        owner = app.repo.account(found.account_id)
        if owner is None:
            raise NotFound(f"series {series_id}'s account no longer exists")
        # A new frequency drops the days that belonged to the old one, unless new ones are given.
        if changes.get("freq") not in (None, "weekly") and "weekdays" not in changes:
            changes["weekdays"] = None
        if changes.get("freq") not in (None, "monthly") and "month_day" not in changes:
            changes["month_day"] = None
        merged = {**found.template, **found.rule_values, **changes}
        check_series(merged, owner, default_zone=owner.time_zone, names=OPTION_NAMES)
        result = app.repo.edit_series(
            series_id, changes, actor="cli", horizon_s=horizon_s(app.settings.prepare_ahead_s)
        )
        typer.echo(f"series {series_id} edited ({', '.join(sorted(changes))})")
        _echo_change(result, verb="changed", content=any(k in TEMPLATE_FIELDS for k in changes))
        rule = app.repo.require_series(series_id).rule(owner.time_zone)
        if rule is not None and any(k in RULE_FIELDS for k in changes):
            typer.echo(f"rule: {describe(rule)}")
    finally:
        app.close()


def _echo_change(result: SeriesChange, *, verb: str, content: bool = True) -> None:
    if content:
        typer.echo(f"{len(result.changed)} upcoming post(s) {verb}")
    if result.removed:
        typer.echo(f"{len(result.removed)} upcoming post(s) removed (no longer in the rule)")
    if result.created:
        typer.echo(f"{len(result.created)} post(s) created for the new rule")
    if result.left:
        ids = ", ".join(str(i) for i in result.left)
        typer.echo(
            f"{len(result.left)} already prepared left as they are (post {ids}): change them with "
            "postpilot post edit ID, or stop them with postpilot post cancel ID"
        )


@series_app.command("cancel")
@handle_errors
def cancel(series_id: Annotated[int, typer.Argument(help="The series' id.")]) -> None:
    """Stop a series: no more occurrences; the upcoming ones not yet prepared are cancelled, prepared ones are
    left to publish (listed, so you can cancel them with post cancel)."""
    app = open_app()
    try:
        result = app.repo.cancel_series(series_id, actor="cli")
        typer.echo(f"series {series_id} cancelled")
        _echo_change(result, verb="cancelled")
    finally:
        app.close()
