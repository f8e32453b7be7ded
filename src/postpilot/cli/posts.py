"""``postpilot post add | list | preview | show | edit | prepare | approve | reject | regenerate | cancel | retry |
import | export``: the group. The commands live by what they do: ``post_authoring`` (add, edit), ``post_views``
(list, preview, show), ``post_actions`` (prepare to comment-retry) and ``post_csv`` (import, export)."""

from __future__ import annotations

import typer

from postpilot.cli import post_actions, post_authoring, post_csv, post_views

post_app = typer.Typer(
    help="Scheduled posts: add, list, show, edit, cancel, retry, import and export.", no_args_is_help=True
)

# Registered here rather than by a decorator in each module: --help lists commands in registration order, and
# this keeps that order in one place instead of in the order the modules happen to be imported.
for _name, _command in (
    ("add", post_authoring.add),
    ("list", post_views.list_),
    ("preview", post_views.preview),
    ("show", post_views.show),
    ("edit", post_authoring.edit),
    ("prepare", post_actions.prepare_now),
    ("approve", post_actions.approve),
    ("reject", post_actions.reject),
    ("regenerate", post_actions.regenerate),
    ("cancel", post_actions.cancel),
    ("retry", post_actions.retry),
    ("comment-retry", post_actions.comment_retry),
    ("import", post_csv.import_),
    ("export", post_csv.export),
):
    post_app.command(_name)(_command)
