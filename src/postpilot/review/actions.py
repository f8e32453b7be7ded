"""The actions, each the same repository or pipeline operation as its CLI command, with the same rules and
messages: approve, reject with a reason, regenerate (optionally with a new prompt), retry (with force for an
unconfirmed post), cancel and prepare now. POST only, CSRF-checked (``factory.py``), reviewers only, and
recorded in the post's history under the person's name (``web:NAME``).

An error from our tree becomes a message on the page the person came from, in the words the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from flask import Blueprint, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from postpilot.app import App
from postpilot.domain.errors import InvalidInput, PostpilotError
from postpilot.domain.events import EventKind
from postpilot.domain.model import Post, PostStatus
from postpilot.logging import get_logger
from postpilot.review.auth import current_user, reviewers_only

log = get_logger("postpilot.review")
bp = Blueprint("actions", __name__)

MAX_TEXT = 2000


class StepFailed(PostpilotError):
    """The operation ran, and the post failed (shown as an error, like the CLI's exit code 1)."""


def _app() -> App:
    return cast(App, current_app.extensions["postpilot"])


def _actor() -> str:
    user = current_user()
    assert user is not None, "reviewers_only lets only logged-in users through"
    return user.actor


def _back(post_id: int) -> Response:
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("pages.post_page", post_id=post_id)
    return redirect(target, code=303)


def _run(post_id: int, action: str, do: Callable[[App, str], str]) -> Response:
    actor = _actor()
    try:
        done = do(_app(), actor)
    except PostpilotError as exc:
        log.info("review_action_refused", action=action, post_id=post_id, user=actor, reason=exc.message[:200])
        flash(exc.message, "error")
    else:
        log.info("review_action", action=action, post_id=post_id, user=actor)
        flash(done, "ok")
    return _back(post_id)


def _text(name: str) -> str:
    return (request.form.get(name) or "").strip()[:MAX_TEXT]


@bp.route("/posts/<int:post_id>/approve", methods=["POST"])
@reviewers_only
def approve(post_id: int) -> Response:
    def do(app: App, actor: str) -> str:
        post = app.repo.approve(post_id, actor=actor)
        return f"post {post.id} approved by {post.approved_by}; it is {post.status.value}"

    return _run(post_id, "approve", do)


@bp.route("/posts/<int:post_id>/reject", methods=["POST"])
@reviewers_only
def reject(post_id: int) -> Response:
    reason = _text("reason")

    def do(app: App, actor: str) -> str:
        if not reason:
            raise InvalidInput("the reason is empty: say why, so the author knows what to change")
        post = app.repo.reject(post_id, actor=actor, reason=reason)
        return f"post {post.id} is {post.status.value}: {post.last_error}"

    return _run(post_id, "reject", do)


@bp.route("/posts/<int:post_id>/regenerate", methods=["POST"])
@reviewers_only
def regenerate(post_id: int) -> Response:
    prompt = _text("prompt") or None

    def do(app: App, actor: str) -> str:
        post = app.repo.regenerate(post_id, actor=actor, prompt=prompt)
        return (
            f"post {post.id} is {post.status.value}: new images are made at its next preparation "
            "(or now, with Prepare now)"
        )

    return _run(post_id, "regenerate", do)


@bp.route("/posts/<int:post_id>/retry", methods=["POST"])
@reviewers_only
def retry(post_id: int) -> Response:
    force = request.form.get("force") == "yes"

    def do(app: App, actor: str) -> str:
        post = app.repo.retry(post_id, force=force, actor=actor, max_lateness_s=app.settings.max_lateness_s)
        return f"post {post.id} is {post.status.value} again for {post.scheduled_at.isoformat()}"

    return _run(post_id, "retry", do)


@bp.route("/posts/<int:post_id>/cancel", methods=["POST"])
@reviewers_only
def cancel(post_id: int) -> Response:
    def do(app: App, actor: str) -> str:
        post = app.repo.cancel(post_id, actor=actor)
        return f"post {post.id} is {post.status.value}"

    return _run(post_id, "cancel", do)


@bp.route("/posts/<int:post_id>/prepare", methods=["POST"])
@reviewers_only
def prepare(post_id: int) -> Response:
    """As ``post prepare ID``: claimed and prepared now, in this request (the card renderer takes a second,
    OpenAI up to a minute or so), so the page shows the images when it comes back."""

    def do(app: App, actor: str) -> str:
        app.check_start()
        current = app.repo.require_post(post_id)
        claimed = app.repo.claim_to_prepare_now(owner=app.owner, lease_s=app.settings.lease_s, post_ids=[post_id])
        if not claimed:
            return f"post {post_id}: not prepared now ({current.status.value}; only scheduled posts)"
        app.repo.add_event(post_id, EventKind.PREPARE_REQUESTED, message=f"asked for by {actor}", actor=actor)
        app.pipeline.prepare(claimed[0])
        return _prepared_words(app.repo.require_post(post_id))

    return _run(post_id, "prepare", do)


def _prepared_words(after: Post) -> str:
    note = f": {after.last_error}" if after.last_error else ""
    if after.status is PostStatus.FAILED:
        raise StepFailed(f"post {after.id}: failed{note}")
    return f"post {after.id}: {after.status.value}{note}"
