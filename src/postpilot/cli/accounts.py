"""``postpilot account add | list | connect | refresh | check | token | rename | remove | notify | set``: the
group. Tokens never travel in argv and are stored only encrypted (POSTPILOT_SECRET_KEY). The commands live by
what they touch: ``account_records`` (add, list, rename, remove, set), ``account_oauth`` (connect),
``account_tokens`` (refresh, check, token) and ``account_channels`` (notify)."""

from __future__ import annotations

import typer

from postpilot.cli import account_channels, account_oauth, account_records, account_tokens

account_app = typer.Typer(
    help="Instagram accounts: add, list, connect (OAuth), refresh and check tokens, set a token, rename, remove.",
    no_args_is_help=True,
)

# Registered here rather than by a decorator in each module: --help lists commands in registration order, and
# this keeps that order in one place instead of in the order the modules happen to be imported.
for _name, _command in (
    ("add", account_records.add),
    ("list", account_records.list_),
    ("connect", account_oauth.connect),
    ("refresh", account_tokens.refresh),
    ("check", account_tokens.check),
    ("token", account_tokens.token),
    ("rename", account_records.rename),
    ("remove", account_records.remove),
    ("notify", account_channels.notify),
    ("set", account_records.set_),
):
    account_app.command(_name)(_command)
