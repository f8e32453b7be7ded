"""``postpilot notify test``: send a test message and say whether it arrived."""

from __future__ import annotations

from typing import Annotated

import typer

from postpilot.cli.common import EXIT_POST_FAILED, handle_errors, load_settings
from postpilot.domain.errors import InvalidInput

notify_app = typer.Typer(help="Notifications: send a test message to the configured channels.", no_args_is_help=True)


@notify_app.command("test")
@handle_errors
def test(
    url: Annotated[
        str | None, typer.Option(help="An Apprise URL to try (default: every URL in POSTPILOT_NOTIFY_URLS).")
    ] = None,
) -> None:
    """Send a test message now (not through the outbox) and report, per channel, whether it was accepted."""
    from postpilot.logging import register_secret
    from postpilot.notify.channels import AppriseSender, DeliveryError, shown

    settings = load_settings()
    urls = [url] if url else settings.notify_url_list
    if not urls:
        raise InvalidInput("no channel to try: give --url, or set POSTPILOT_NOTIFY_URLS")
    sender = AppriseSender()
    failed = 0
    for one in urls:
        register_secret(one)
        problem = sender.check(one)
        if problem:
            typer.echo(f"{shown(one)}: {problem}")
            failed += 1
            continue
        try:
            sender.send(one, title="postpilot: test message", body="If you can read this, notifications work.")
        except DeliveryError as exc:
            typer.echo(f"{shown(one)}: not delivered ({exc})")
            failed += 1
        else:
            typer.echo(f"{shown(one)}: delivered")
    if failed:
        raise typer.Exit(EXIT_POST_FAILED)
