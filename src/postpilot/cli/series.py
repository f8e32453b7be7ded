"""``postpilot series add | list | show | edit | cancel``: recurring posts.

A series is a post template and a rule; the daemon (and ``run-once``) creates each occurrence as its own post
two weeks ahead (``db/series.py``), and ``series add`` creates the first ones at once so ``post list``
shows them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from postpilot.cli.common import handle_errors, open_app
from postpilot.db.series import horizon_s
from postpilot.domain.errors import InvalidInput, NotFound
from postpilot.domain.model import Post, utcnow
from postpilot.domain.recurrence import Rule, describe, parse_weekdays, upcoming, weekdays_text
from postpilot.domain.series_rules import (
    RULE_FIELDS,
    TEMPLATE_FIELDS,
    Series,
    SeriesChange,
    check_series,
    parse_day,
    parse_local_time,
)
from postpilot.domain.timeparse import known_zone, shown_time, zone

series_app = typer.Typer(
    help="Recurring posts: a post repeated daily, weekly or monthly at a local time.", no_args_is_help=True
)

# The option that sets each column, for messages.
OPTION_NAMES = {
    "freq": "--every",
    "every": "--interval",
    "weekdays": "--on",
    "month_day": "--day",
    "local_time": "--at",
    "time_zone": "--tz",
    "starts_on": "--from",
    "until_on": "--until",
    "max_count": "--count",
}
_FREQ_WORDS = {
    "day": "daily",
    "days": "daily",
    "daily": "daily",
    "week": "weekly",
    "weeks": "weekly",
    "weekly": "weekly",
    "month": "monthly",
    "months": "monthly",
    "monthly": "monthly",
}
SHOWN_NEXT = 5

Every = Annotated[str | None, typer.Option("--every", help="day, week or month.")]
Interval = Annotated[int | None, typer.Option("--interval", help="Every N days, weeks or months (default 1).")]
On = Annotated[str | None, typer.Option("--on", help="Weekly: the days, e.g. mon,thu (default: --from's weekday).")]
Day = Annotated[
    int | None, typer.Option("--day", help="Monthly: the day of the month, 1–31 (a shorter month: its last day).")
]
At = Annotated[str | None, typer.Option("--at", help="The local time of day, HH:MM (e.g. 09:00).")]
Tz = Annotated[str | None, typer.Option("--tz", help="IANA time zone of --at (default: the account's).")]
From = Annotated[str | None, typer.Option("--from", help="The first day, YYYY-MM-DD (default: today).")]
Until = Annotated[str | None, typer.Option("--until", help="The last day an occurrence may fall on, YYYY-MM-DD.")]
Count = Annotated[int | None, typer.Option("--count", help="How many times in all.")]
PostType = Annotated[str | None, typer.Option("--type", help="photo, carousel, reel or story.")]
Caption = Annotated[str | None, typer.Option(help="≤ 2200 characters, ≤ 30 hashtags, ≤ 20 @mentions.")]
Prompt = Annotated[str | None, typer.Option(help="Generate each occurrence's image(s) from this text.")]
ImageUrl = Annotated[str | None, typer.Option(help="Photo: your own image (http/https).")]
MediaUrl = Annotated[list[str] | None, typer.Option(help="Carousel: an image URL; repeat 2–10 times.")]
VideoUrl = Annotated[str | None, typer.Option(help="Reel: the video (MP4/MOV) URL.")]
CoverUrl = Annotated[str | None, typer.Option(help="Reel: optional cover image URL.")]
ImageCount = Annotated[int | None, typer.Option(help="Carousel: images to generate (2–10).")]
AspectOpt = Annotated[str | None, typer.Option("--aspect", help="square, portrait or landscape.")]
AltText = Annotated[str | None, typer.Option(help="Accessibility text (≤ 1000 characters).")]
FirstComment = Annotated[str | None, typer.Option(help="A comment posted right after each occurrence is live.")]
Approval = Annotated[
    bool | None,
    typer.Option("--approval/--no-approval", help="Each occurrence waits for a person (default: as the account)."),
]


def _freq(word: str) -> str:
    found = _FREQ_WORDS.get(word.strip().lower())
    if found is None:
        raise InvalidInput(f"--every must be day, week or month (got {word!r})")
    return found


def _rule_options(*, editing: bool = False, **given: Any) -> dict[str, Any]:
    """The rule options a person gave, as column values (in an edit, '' clears --until and 0 --count)."""
    out: dict[str, Any] = {}
    if given["every"] is not None:
        out["freq"] = _freq(given["every"])
    if given["interval"] is not None:
        out["every"] = given["interval"]
    if given["on"] is not None:
        try:
            out["weekdays"] = weekdays_text(parse_weekdays(given["on"])) or None
        except ValueError as exc:
            raise InvalidInput(f"--on must be days such as mon,thu; {str(exc)!r} is not one") from None
    if given["day"] is not None:
        out["month_day"] = given["day"]
    if given["at"] is not None:
        out["local_time"] = parse_local_time(given["at"], "--at").strftime("%H:%M")
    if given["tz"] is not None:
        zone(given["tz"])
        out["time_zone"] = given["tz"]
    if given["from_"] is not None:
        out["starts_on"] = parse_day(given["from_"], "--from")
    if given["until"] is not None:
        out["until_on"] = parse_day(given["until"], "--until") if given["until"] or not editing else None
    if given["count"] is not None:
        out["max_count"] = (given["count"] or None) if editing else given["count"]
    return out


def _content_options(**given: Any) -> dict[str, Any]:
    out = {k: v for k, v in given.items() if v is not None and k != "media_url"}
    if given.get("media_url") is not None:
        out["media_urls"] = list(given["media_url"]) or None
    return out


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
    approval: Approval = None,
) -> None:
    """Add a recurring post, e.g. --every week --on mon,thu --at 09:00 --from 2027-01-04 --until 2027-12-31.
    Each occurrence becomes its own post, created two weeks ahead; 09:00 stays 09:00 local time across
    daylight-saving changes."""
    if every is None or at is None:
        raise InvalidInput("a series needs --every (day, week or month) and --at (the local time, e.g. 09:00)")
    values = _rule_options(
        every=every, interval=interval, on=on, day=day, at=at, tz=tz, from_=from_, until=until, count=count
    )
    values.update(
        _content_options(
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
            typer.echo(f"{'not expanded':>13}: {found.last_error}")
        typer.echo(f"{'rule':>13}: {describe(rule) if rule else '(cannot be read)'}")
        for name in TEMPLATE_FIELDS:
            value = found.template.get(name)
            if value not in (None, ""):
                typer.echo(f"{name:>13}: {value}")
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
    approval: Approval = None,
) -> None:
    """Change a series' content or rule. Its occurrences not yet prepared change with it; prepared ones are
    left as they are (listed, so you can edit or cancel them with post edit / post cancel)."""
    changes = _rule_options(
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
    content = _content_options(
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
