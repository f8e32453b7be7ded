"""The ``postpilot`` command tree: the root command, its sub-commands registered, and the commands that are
the root's own (doctor, run, run-once, demo, health). ``postpilot.cli`` exposes it as ``cli``."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer

from postpilot import __version__
from postpilot.cli.accounts import account_app
from postpilot.cli.common import (
    EXIT_CONFIG,
    EXIT_POST_FAILED,
    handle_errors,
    load_settings,
    open_app,
    require_sqlite_file,
)
from postpilot.cli.daemon_command import run_daemon
from postpilot.cli.db import db_app
from postpilot.cli.help_text import TidyGroup
from postpilot.cli.notify import notify_app
from postpilot.cli.posts import post_app
from postpilot.cli.series import series_app
from postpilot.cli.users import user_app
from postpilot.db import migrate
from postpilot.domain.model import LoginKind, PostStatus, utcnow
from postpilot.pipeline.runner import Tally

cli = typer.Typer(
    name="postpilot",
    cls=TidyGroup,
    help="Publishes scheduled Instagram posts: generates missing images, prepares and stores them, and "
    "publishes each post exactly once at its minute. Exit codes: 0 ok, 1 a post failed/unconfirmed or not "
    "ready, 2 configuration error, 3 invalid input, 4 not found, 5 conflict, 6 internal error.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cli.add_typer(db_app, name="db")
cli.add_typer(account_app, name="account")
cli.add_typer(post_app, name="post")
cli.add_typer(notify_app, name="notify")
cli.add_typer(user_app, name="user")
cli.add_typer(series_app, name="series")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"postpilot {__version__}")
        raise typer.Exit()


@cli.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """postpilot: scheduled Instagram posts, published once, on time."""


@cli.command("doctor")
def doctor(
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a check only warns.")] = False,
) -> None:
    """Check that this deployment works, without publishing, generating or uploading anything: settings,
    database and schema, state directory, OpenAI key and model (with its shutdown date), Cloudinary
    credentials, Graph API version, and per account the token, permissions, expiry, the Instagram account it
    publishes to and today's quota. Prints a table; exits 0, 1 on a warning with --strict, 2 on an error."""
    from postpilot import doctor as checks
    from postpilot.domain.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(checks.render([checks.Check("settings", checks.Level.ERROR, exc.message)]))
        raise typer.Exit(EXIT_CONFIG) from None
    try:  # from the wrong directory: say where it looked, and create nothing there
        require_sqlite_file(settings)
    except ConfigError as exc:
        found = [
            checks.Check("settings", checks.Level.OK, "loaded and valid"),
            checks.Check("database", checks.Level.ERROR, exc.message),
        ]
        typer.echo(checks.render(found))
        raise typer.Exit(EXIT_CONFIG) from None
    from postpilot.app import build_app

    app = build_app(settings)
    try:
        found = checks.run_checks(app)
    finally:
        app.close()
    typer.echo(checks.render(found))
    level = checks.worst(found)
    if level is checks.Level.ERROR:
        raise typer.Exit(EXIT_CONFIG)
    if level is checks.Level.WARNING and strict:
        raise typer.Exit(EXIT_POST_FAILED)


cli.command("run")(run_daemon)


def _summary(tally: Tally, *, dry_run: bool) -> str:
    if not tally.counts:
        return "nothing was due"
    order = ["published", "simulated", "ready", "staged", "waiting", "failed", "missed", "unconfirmed", "lost"]
    parts = [f"{tally.counts[k]} {k}" for k in order if tally.counts.get(k)]
    return ("dry run: " if dry_run else "") + ", ".join(parts)


def _run_once(*, dry_run: bool) -> Tally:
    from postpilot.pipeline.once import run_once
    from postpilot.sqlite_lock import lock_for

    app = open_app(force_dry_run=dry_run)
    lock = lock_for(app.settings.resolved_database_url)
    try:
        if lock is not None:
            lock.acquire()  # never beside a daemon on the same SQLite file
        _require_schema(app)
        app.check_start()
        if sys.stderr.isatty():
            with typer.progressbar(length=0, label="working", file=sys.stderr) as bar:

                def grow(n: int) -> None:
                    bar.length = (bar.length or 0) + n

                tally = run_once(app, on_claimed=grow, on_result=lambda _r: bar.update(1))
        else:
            tally = run_once(app)
        return tally
    finally:
        if lock is not None:
            lock.release()
        app.close()


def _require_schema(app: object) -> None:
    from postpilot.app import App
    from postpilot.domain.errors import ConfigError

    assert isinstance(app, App)
    problem = migrate.schema_problem(migrate.current_revision(app.engine))
    if problem:
        raise ConfigError(problem)


@cli.command("run-once")
@handle_errors
def run_once_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Publish nothing: every account acts as dry-run.")] = False,
) -> None:
    """One pass: reconcile, prepare what is due or inside the prepare window, stage and publish what is due.
    Exits 0 if nothing failed, 1 if any post failed or is unconfirmed, 2 on a configuration error."""
    tally = _run_once(dry_run=dry_run)
    typer.echo(_summary(tally, dry_run=dry_run))
    for problem in tally.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(EXIT_POST_FAILED if tally.failed else 0)


DEMO_ACCOUNT = "demo"
DEMO_POSTS = (
    {
        "post_type": "photo",
        "caption": "Fresh bread every morning at 7 🥖 #bakery #morning",
        "prompt": "A rustic bakery window at sunrise with warm bread on wooden shelves",
        "aspect": "square",
    },
    {
        "post_type": "carousel",
        "caption": "Three ways to enjoy autumn in the city #autumn #citylife",
        "prompt": "Autumn in the city: golden leaves, a cosy café terrace and a riverside walk at dusk",
        "image_count": 3,
        "aspect": "portrait",
    },
    {
        "post_type": "photo",
        "caption": "Weekend sale — 20% off everything! @ourshop",
        "prompt": "Weekend sale: bold shapes, a shopping bag and confetti",
        "aspect": "landscape",
    },
)


@cli.command("demo")
@handle_errors
def demo() -> None:
    """Try it with nothing configured: create the database, add a dry-run account and sample posts due now,
    then run one pass (images from the offline renderer, stored locally; nothing sent to Instagram)."""
    app = open_app(create=True)
    try:
        migrate.upgrade(app.engine)
        account = app.repo.account_by_name(DEMO_ACCOUNT)
        if account is None:
            app.repo.create_account(
                name=DEMO_ACCOUNT,
                ig_user_id="17841400000000000",
                login_kind=LoginKind.FACEBOOK,
                dry_run=True,
                token_encrypted=None,
            )
            account = app.repo.require_account(DEMO_ACCOUNT)
        now = utcnow() - timedelta(seconds=1)
        ids = [
            app.repo.add_post({**p, "account_id": account.id, "scheduled_at": now}, actor="demo") for p in DEMO_POSTS
        ]
        from sqlalchemy.engine import make_url

        typer.echo(f"database: {make_url(app.settings.resolved_database_url).render_as_string(hide_password=True)}")
        typer.echo(f"added dry-run account '{DEMO_ACCOUNT}' posts {', '.join(map(str, ids))}")
    finally:
        app.close()
    tally = _run_once(dry_run=False)
    typer.echo(_summary(tally, dry_run=False))
    app = open_app()
    try:
        for post_id in ids:
            post = app.repo.require_post(post_id)
            typer.echo(f"post {post_id} ({post.post_type}, {post.aspect}): {post.status.value}")
            for m in app.repo.media(post_id):
                typer.echo(f"    {m.width}x{m.height} {m.bytes} bytes  {m.stored_url}")
        typer.echo("see each post's history with: postpilot post show ID")
        failed = any(app.repo.require_post(i).status in (PostStatus.FAILED, PostStatus.UNCONFIRMED) for i in ids)
    finally:
        app.close()
    raise typer.Exit(EXIT_POST_FAILED if failed or tally.failed else 0)


@cli.command("health")
@handle_errors
def health(
    url: Annotated[
        str | None, typer.Option(help="Base URL of the daemon's HTTP endpoint (default: from POSTPILOT_HEALTH_LISTEN).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer.")] = 5.0,
) -> None:
    """Ask a running daemon whether it is ready (GET /readyz). Exits 0 when ready, 1 when not."""
    from postpilot.web import probe_health

    if url is None:
        host, port = load_settings().health_host_port
        url = f"http://{host}:{port}"
    ready, line = probe_health(url, timeout)
    typer.echo(line, err=not ready)
    raise typer.Exit(0 if ready else EXIT_POST_FAILED)


def cli_main() -> None:
    try:
        cli()
    except SystemExit:
        raise
    except Exception as exc:
        typer.echo(f"error: unexpected {type(exc).__name__}", err=True)
        raise SystemExit(EXIT_CONFIG + 4) from None
