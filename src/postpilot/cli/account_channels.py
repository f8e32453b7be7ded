"""``postpilot account notify``: an account's own notification channels (Apprise URLs), stored encrypted
beside the global POSTPILOT_NOTIFY_URLS."""

from __future__ import annotations

from typing import Annotated

import typer

from postpilot.cli.common import handle_errors, open_app
from postpilot.domain.errors import InvalidInput
from postpilot.logging import register_secret


@handle_errors
def notify(
    name: Annotated[str, typer.Argument(help="Account name.")],
    url: Annotated[list[str] | None, typer.Option(help="An Apprise URL for this account (repeat for several).")] = None,
    events: Annotated[
        str, typer.Option(help="Which events go there: failed,unconfirmed,missed,reconnect,published.")
    ] = "failed,unconfirmed,missed,reconnect",
    clear: Annotated[bool, typer.Option("--clear", help="Remove this account's own channels.")] = False,
) -> None:
    """Send this account's events to its own channels too (besides POSTPILOT_NOTIFY_URLS). The URLs are stored
    encrypted with POSTPILOT_SECRET_KEY and shown by scheme and host only."""
    from postpilot.domain.notifications import parse_kinds
    from postpilot.notify.channels import AppriseSender, channel_id, shown

    app = open_app()
    try:
        account = app.repo.require_account(name)
        if clear:
            removed = app.repo.remove_account_channels(account.id)
            typer.echo(f"{name}: removed {removed} channel(s)")
            return
        if not url:
            for row in app.repo.account_channels(account.id):
                typer.echo(f"{shown(app.cipher.decrypt(row.url_encrypted))}  {row.events}")
            return
        try:
            kinds = parse_kinds(events)
        except ValueError as exc:
            raise InvalidInput(f"--events: {exc}") from None
        checker = AppriseSender()
        for one in url:
            register_secret(one)
            problem = checker.check(one)
            if problem:
                raise InvalidInput(problem)
        cipher = app.cipher
        names = ",".join(sorted(k.value for k in kinds))
        for one in url:
            app.repo.add_account_channel(
                account.id, url_encrypted=cipher.encrypt(one), channel=channel_id(one), events=names
            )
            typer.echo(f"{name}: {shown(one)} gets {names}")
    finally:
        app.close()
