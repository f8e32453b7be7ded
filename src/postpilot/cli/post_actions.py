"""``postpilot post prepare | approve | reject | regenerate | cancel | retry | comment-retry``: moving posts
along by hand (prepare now rather than an hour ahead, approve or reject, new images, cancel, schedule again,
the first comment again). The history records who did it (``cli:<login>``)."""

from __future__ import annotations

from typing import Annotated

import typer

from postpilot.cli.common import handle_errors, open_app
from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import PostStatus
from postpilot.domain.timeparse import parse_duration
from postpilot.post_fields import comment_state


def _person() -> str:
    """Who is at the keyboard, for the history (approvals record who approved)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


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


@handle_errors
def cancel(post_id: Annotated[int, typer.Argument(help="The post's id.")]) -> None:
    """Cancel a post that has not been published."""
    app = open_app()
    try:
        post = app.repo.cancel(post_id, actor=_person())
        typer.echo(f"post {post.id} is {post.status.value}")
    finally:
        app.close()


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


@handle_errors
def comment_retry(post_id: Annotated[int, typer.Argument(help="The post's id.")]) -> None:
    """Try a live post's first comment again now (after it was given up, e.g. once the account is reconnected
    with the comments permission). The post itself is not touched."""
    app = open_app()
    try:
        app.repo.retry_first_comment(post_id, actor=_person())
        app.first_comments.run_due(post_id=post_id)
        after = app.repo.require_post(post_id)
        typer.echo(f"post {post_id}: first comment {comment_state(after)}")
        if not after.first_comment_id:
            raise typer.Exit(1)
    finally:
        app.close()
