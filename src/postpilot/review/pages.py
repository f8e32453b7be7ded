"""The pages people look at: the queue, the week, the grid, a post, and the images (all read only).

The viewer's time zone comes from ``?tz=`` (kept in the session until changed; ``?tz=`` empty goes back to
the account's zone).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request, send_file, session, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from postpilot.app import App
from postpilot.domain.errors import PostpilotError
from postpilot.domain.model import (
    Account,
    MediaSource,
    Post,
    PostMedia,
    PostStatus,
    PostType,
    needs_approval,
    utcnow,
)
from postpilot.post_fields import field_rows, shown_item
from postpilot.review import queue as model
from postpilot.review import words
from postpilot.review.images import ImageFiles, ImageMissing

bp = Blueprint("pages", __name__)

MAX_DAYS = 31
_TAG = re.compile(r"(?<![\w&])([#@][\w.]+)")
_TO_PUBLISH = (PostStatus.SCHEDULED, PostStatus.PREPARING, PostStatus.READY)


def _app() -> App:
    return cast(App, current_app.extensions["postpilot"])


def _images() -> ImageFiles:
    return cast(ImageFiles, current_app.extensions["postpilot.images"])


def caption_html(text: str | None) -> Markup:
    """The caption escaped, with hashtags and mentions marked so they stand out (as Instagram shows them)."""
    lines = []
    for line in (text or "").split("\n"):
        # split() with a group keeps the tags at the odd positions; Markup.join escapes everything else.
        pieces = _TAG.split(line)
        lines.append(
            Markup("").join(
                Markup('<span class="tag">{}</span>').format(p) if i % 2 else p for i, p in enumerate(pieces)
            )
        )
    return Markup("<br>").join(lines)


def shown_url(url: object) -> str:
    """A URL (or a carousel item written as an object: its URL) without credentials or query string."""
    shown = shown_item(url)
    if isinstance(shown, dict):
        shown = shown.get("url")
    return shown if isinstance(shown, str) else ""


def media_url(item: PostMedia, size: str) -> str:
    """An image's address, with its checksum: a new image under a reused id is never taken from a cache."""
    version = (item.checksum or "")[:12] or None
    return url_for("pages.media_file", media_id=item.id, size=size, v=version)


def cover_url(post: Post, size: str) -> str:
    """A reel's cover (its cover_url, fetched once into the page's cache); a new cover_url is a new address."""
    version = hashlib.sha256((post.cover_url or "").encode()).hexdigest()[:12]
    return url_for("pages.cover_file", post_id=post.id, size=size, v=version)


FILTERS = {"caption_html": caption_html, "shown_url": shown_url}
GLOBALS = {"media_url": media_url, "cover_url": cover_url}


def _account_filter(accounts: list[Account]) -> int | None:
    raw = request.args.get("account") or ""
    found = next((a for a in accounts if a.name == raw), None)
    return found.id if found else None


def _zone(accounts: list[Account], account_id: int | None) -> ZoneInfo:
    if "tz" in request.args:
        chosen = request.args.get("tz") or ""
        if chosen and _known_zone(chosen):
            session["tz"] = chosen
        else:
            session.pop("tz", None)
    return model.pick_zone(session.get("tz"), accounts, account_id)


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def _common(accounts: list[Account], account_id: int | None, tz: ZoneInfo) -> dict[str, Any]:
    chosen = next((a.name for a in accounts if a.id == account_id), "")
    return {
        "accounts": accounts,
        "account": chosen,
        "zone": tz.key,
        "zone_chosen": bool(session.get("tz")),
        "zones": _zone_choices(accounts, tz),
        "statuses": [s.value for s in PostStatus],
    }


def _zone_choices(accounts: list[Account], tz: ZoneInfo) -> list[str]:
    common = [
        "UTC",
        "Europe/London",
        "Europe/Berlin",
        "Europe/Paris",
        "America/New_York",
        "America/Los_Angeles",
        "Asia/Tokyo",
        "Australia/Sydney",
    ]
    return sorted({tz.key, *(a.time_zone for a in accounts), *common})


@bp.route("/", endpoint="queue")
def queue_page() -> str:
    app = _app()
    accounts = app.repo.list_accounts()
    account_id = _account_filter(accounts)
    tz = _zone(accounts, account_id)
    status = request.args.get("status") or None
    if status not in {s.value for s in PostStatus}:
        status = None
    try:
        days = max(1, min(MAX_DAYS, int(request.args.get("days", "7"))))
    except ValueError:
        days = 7
    built = model.build_queue(app.repo, tz=tz, days=days, now=utcnow(), account_id=account_id, status=status)
    return render_template("queue.html", q=built, status=status or "", days=days, **_common(accounts, account_id, tz))


@bp.route("/week")
def week() -> str:
    app = _app()
    accounts = app.repo.list_accounts()
    account_id = _account_filter(accounts)
    tz = _zone(accounts, account_id)
    today = utcnow().astimezone(tz).date()
    try:
        first = date.fromisoformat(request.args.get("start", ""))
    except ValueError:
        first = today
    first -= timedelta(days=first.weekday())  # weeks start on Monday
    days = model.build_week(app.repo, tz=tz, first=first, now=utcnow(), account_id=account_id)
    return render_template(
        "week.html",
        days=days,
        first=first,
        previous=(first - timedelta(days=7)).isoformat(),
        following=(first + timedelta(days=7)).isoformat(),
        today=today,
        **_common(accounts, account_id, tz),
    )


@bp.route("/grid")
def grid() -> str:
    app = _app()
    accounts = app.repo.list_accounts()
    account_id = _account_filter(accounts) or (accounts[0].id if accounts else None)
    tz = _zone(accounts, account_id)
    cells: list[model.Card] = []
    published: list[model.Card] = []
    if account_id is not None:
        upcoming, done = app.repo.next_posts(account_id)
        # Instagram shows the newest post first (top left): the last of the next posts leads the grid.
        cells = model.cards(list(reversed(upcoming)), app.repo, accounts, tz)
        published = model.cards(done, app.repo, accounts, tz)
    return render_template("grid.html", cells=cells, published=published, **_common(accounts, account_id, tz))


@bp.route("/posts/<int:post_id>")
def post_page(post_id: int) -> str:
    app = _app()
    post = app.repo.post(post_id)
    if post is None:
        abort(404)
    account = app.repo.account(post.account_id)
    accounts = app.repo.list_accounts()
    media = app.repo.media(post_id)
    tz = _zone(accounts, post.account_id)
    try:
        preview = app.preview(post_id)
        requests, notes = preview.requests, preview.notes
    except PostpilotError as exc:
        requests, notes = [], [f"the requests cannot be worked out: {exc.message}"]
    history = [
        {"when": words.when(e.at, tz), "what": words.event_words(e), "who": e.actor or ""}
        for e in app.repo.events(post_id)
    ]
    return render_template(
        "post.html",
        post=post,
        account_row=account,
        media=media,
        status_words=words.status_words(post, account),
        attention=words.needs_person(post, account),
        when=words.when(post.scheduled_at, tz),
        fields=field_rows(post, account, lambda t: f"{words.when(t, tz)} ({t.isoformat(timespec='seconds')})"),
        items=_items(post, media),
        kind=words.kind_words(post, media),
        video_post=words.is_video_post(post),
        history=history,
        requests=[_request_lines(r) for r in requests],
        notes=notes,
        can=_possible(post, account, generated=any(m.source is MediaSource.GENERATED for m in media)),
        **_common(accounts, post.account_id, tz),
    )


def _items(post: Post, media: list[PostMedia]) -> list[dict[str, Any]]:
    """The post page's media, each with what it is in words (a video says which kind of post it belongs to)."""
    return [
        {
            "item": m,
            "what": words.video_words(post, m.position, len(media)) if m.kind == "video" else "image",
        }
        for m in media
    ]


def _request_lines(request_: Any) -> dict[str, Any]:
    return {"method": request_.method, "url": request_.url, "form": sorted(request_.form.items())}


def _possible(post: Post, account: Account | None, *, generated: bool) -> dict[str, bool]:
    """Which buttons to show; the repository decides for real (and says why when it refuses)."""
    status = post.status
    return {
        "approve": status in _TO_PUBLISH and needs_approval(post, account),
        "reject": status in (*_TO_PUBLISH, PostStatus.FAILED),
        "regenerate": status in (PostStatus.SCHEDULED, PostStatus.READY, PostStatus.FAILED, PostStatus.CANCELLED)
        and generated,
        "retry": status in (PostStatus.FAILED, PostStatus.CANCELLED, PostStatus.SIMULATED),
        "force": status is PostStatus.UNCONFIRMED,
        "cancel": status not in (PostStatus.CANCELLED, PostStatus.PUBLISHED, PostStatus.PUBLISHING),
        "prepare": status is PostStatus.SCHEDULED,
    }


@bp.route("/media/<int:media_id>/<any(thumb, full):size>")
def media_file(media_id: int, size: str) -> Response:
    item = _app().repo.media_item(media_id)
    if item is None:
        abort(404)
    files = _images()
    try:
        path = files.thumbnail(item) if size == "thumb" else files.full(item)
    except ImageMissing:
        abort(404)
    except PostpilotError:
        abort(502)
    return _image_response(path)


@bp.route("/posts/<int:post_id>/cover/<any(thumb, full):size>")
def cover_file(post_id: int, size: str) -> Response:
    """A reel's cover image, from its cover_url (a reel's video has no picture the page can show)."""
    post = _app().repo.post(post_id)
    if post is None or post.post_type != PostType.REEL.value or not post.cover_url:
        abort(404)
    files = _images()
    try:
        path = (
            files.cover_thumbnail(post.id, post.cover_url) if size == "thumb" else files.cover(post.id, post.cover_url)
        )
    except ImageMissing:
        abort(404)
    except PostpilotError:
        abort(502)
    return _image_response(path)


def _image_response(path: Path) -> Response:
    response = send_file(path, mimetype="image/jpeg", max_age=3600, conditional=True, etag=True)
    # Behind the login: a shared cache must never keep it for someone else.
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
