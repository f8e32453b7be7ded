"""Who is at the page: the login form, lockout, the session, and the gate in front of every other page.

The session cookie (signed by Flask with a key derived from POSTPILOT_SECRET_KEY) holds the user's id and
a fingerprint of their password hash; every request reads the user again, so removing a user, changing their
password or their role takes effect on their next click, not when the cookie ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from postpilot.db.repository import Repository
from postpilot.domain.model import utcnow
from postpilot.domain.users import LOCKOUT, ReviewUser
from postpilot.logging import get_logger
from postpilot.review.passwords import spend_like_a_check, verify_password

log = get_logger("postpilot.review")
bp = Blueprint("auth", __name__)

WRONG = "Wrong name or password."
# Pages anyone may reach: the login itself and the stylesheet.
OPEN_ENDPOINTS = frozenset({"auth.login", "static"})

F = TypeVar("F", bound=Callable[..., Any])


def _repo() -> Repository:
    return cast(Repository, current_app.extensions["postpilot"].repo)


def fingerprint(user: ReviewUser) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


def current_user() -> ReviewUser | None:
    return cast("ReviewUser | None", g.get("user"))


def load_user() -> BaseResponse | tuple[str, int] | None:
    """Runs before every request (before the CSRF check, so a logged-out POST is told to log in)."""
    g.user = None
    user_id = session.get("uid")
    if isinstance(user_id, int):
        user = _repo().review_user_by_id(user_id)
        if user is not None and session.get("pw") == fingerprint(user):
            g.user = user
        else:
            session.clear()  # removed, or the password changed: this cookie is no good any more
    if g.user is not None or request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.method in ("GET", "HEAD"):
        flash("Log in to see the review page.", "info")
        return redirect(url_for("auth.login", next=_local_target(request.full_path)))
    return (
        render_template(
            "refused.html",
            title="Not logged in",
            message="You are not logged in (or your session has ended), so nothing was done. Log in, then try again.",
        ),
        401,
    )


def reviewers_only(view: F) -> F:
    """Viewers look; only reviewers act. Every action view is wrapped in this."""

    def gate(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None or not user.may_act:
            name = user.name if user else "nobody"
            return (
                render_template(
                    "refused.html",
                    title="Not allowed for viewers",
                    message=(
                        f"You are logged in as {name}, a viewer: viewers can look at posts, but not approve, reject, "
                        "regenerate, retry, cancel or prepare them. Nothing was done. An administrator can give you "
                        "the reviewer role (postpilot user add NAME --role reviewer)."
                    ),
                ),
                403,
            )
        return view(*args, **kwargs)

    gate.__name__ = view.__name__
    gate.__doc__ = view.__doc__
    return cast(F, gate)


def _local_target(target: str | None) -> str:
    """Only paths on this site are followed after login: no open redirect to somewhere else."""
    if not target:
        return url_for("pages.queue")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.queue")
    return target.rstrip("?") or url_for("pages.queue")


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("login.html", next=_local_target(request.args.get("next")))
    name = (request.form.get("name") or "").strip()
    password = request.form.get("password") or ""
    target = _local_target(request.form.get("next"))
    repo = _repo()
    user = repo.review_user(name) if name else None
    now = utcnow()
    if user is None:
        spend_like_a_check(password)
        log.info("review_login_refused", reason="wrong name or password")
        return render_template("login.html", next=target, error=WRONG, name=name), 401
    if user.locked_at(now):
        log.warning("review_login_locked", user=user.name)
        return render_template("login.html", next=target, error=_locked_words(user), name=name), 429
    verdict = verify_password(user.password_hash, password)
    if not verdict.ok:
        after = repo.record_failed_login(user.id)
        if after is not None and after.locked_at(now):
            log.warning("review_login_locked", user=user.name, failed=after.failed_logins)
            return render_template("login.html", next=target, error=_locked_words(after), name=name), 429
        log.info("review_login_refused", reason="wrong name or password")
        return render_template("login.html", next=target, error=WRONG, name=name), 401
    repo.record_login(user.id, new_hash=verdict.rehash)
    fresh = repo.review_user_by_id(user.id) or user
    session.clear()  # a new session at login: nothing from before survives it
    session["uid"] = user.id
    session["pw"] = fingerprint(fresh)
    session.permanent = True
    log.info("review_login", user=user.name, role=user.role.value)
    return redirect(target)


def _locked_words(user: ReviewUser) -> str:
    until = user.locked_until.strftime("%H:%M UTC") if user.locked_until else "a while"
    minutes = int(LOCKOUT.total_seconds() // 60)
    return (
        f"Too many wrong passwords for this name: logging in is locked for {minutes} minutes (until {until}). "
        f"An administrator can unlock it now with: postpilot user password {user.name}"
    )


@bp.route("/logout", methods=["POST"])
def logout() -> Response | BaseResponse:
    user = current_user()
    session.clear()
    if user is not None:
        log.info("review_logout", user=user.name)
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
