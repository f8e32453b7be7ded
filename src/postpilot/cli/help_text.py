"""Help that reads like a manual page: every option's placeholder names what it takes (``--account NAME``,
``--image-url URL``, ``--at TIME``), flags show none, and arguments read ``ID`` rather than Typer's own
``{post_id}`` and ``<int>``.

Typer (0.29) labels values by their Python type (``<str>``, ``<bool>`` even on ``--help``) and wraps required
arguments in braces. Those are the annotations, not what a marketer types. ``TidyGroup`` (the root command's
class) gives each parameter a placeholder from ``PLACEHOLDERS`` as a command is looked up, so every command
and sub-command, current or added later, gets the same treatment; ``tests/unit/test_help_text.py`` fails when
an option has no entry here.
"""

from __future__ import annotations

from typing import Any

from typer import _click
from typer.core import TyperArgument, TyperGroup, TyperOption

# What each option takes, by its long name, in the words the help text uses.
PLACEHOLDERS = {
    "--account": "NAME",
    "--all-within": "DURATION",
    "--alt-text": "TEXT",
    "--aspect": "ASPECT",
    "--at": "TIME",
    "--audio-name": "TEXT",
    "--caption": "TEXT",
    "--collaborator": "USERNAME",
    "--count": "N",
    "--cover-url": "URL",
    "--day": "N",
    "--events": "EVENTS",
    "--every": "UNIT",
    "--expires-in-days": "DAYS",
    "--first-comment": "TEXT",
    "--from": "DATE",
    "--ig-user-id": "NUMBER",
    "--image-count": "N",
    "--image-url": "URL",
    "--interval": "N",
    "--limit": "N",
    "--location-id": "NUMBER",
    "--login": "KIND",
    "--media-url": "URL",
    "--on": "DAYS",
    "--page": "PAGE",
    "--prepare-ahead": "DURATION",
    "--prompt": "TEXT",
    "--reason": "TEXT",
    "--role": "ROLE",
    "--status": "STATUS",
    "--tag": "TAG",
    "--thumb-offset": "MS",
    "--timeout": "SECONDS",
    "--trial": "MODE",
    "--type": "TYPE",
    "--tz": "ZONE",
    "--until": "DATE",
    "--url": "URL",
    "--video-url": "URL",
    "--output": "PATH",
}
# Arguments by their parameter name.
ARGUMENT_NAMES = {
    "file": "FILE",
    "name": "NAME",
    "new_name": "NEW_NAME",
    "post_id": "ID",
    "post_ids": "ID",
    "series_id": "ID",
}


def placeholder(option: TyperOption) -> str | None:
    """The placeholder ``option`` is shown with, or None when it has no entry (a test keeps that from
    shipping)."""
    for name in option.opts:
        if name in PLACEHOLDERS:
            return PLACEHOLDERS[name]
    return None


class _NamedArgument(TyperArgument):
    """An argument shown as ``ID`` in the usage line (Typer shows a required one as ``{post_id}``)."""

    def get_usage_pieces(self, ctx: _click.Context) -> list[str]:
        name = self.metavar or self.name or ""
        shown = name if self.required else f"[{name}]"
        return [shown + ("..." if self.nargs != 1 else "")]

    def display_type_rich(self, ctx: _click.Context) -> str | None:
        return None  # the name says what it is (``ID``, ``FILE``); Typer would add ``<int>``


def _tidy(params: list[Any]) -> None:
    for param in params:
        if isinstance(param, TyperOption):
            if param.is_flag:
                param.metavar = ""  # a flag takes no value: no placeholder at all
            elif param.metavar is None:
                param.metavar = placeholder(param)
        elif isinstance(param, TyperArgument) and type(param) is TyperArgument:
            if param.metavar is None:
                param.metavar = ARGUMENT_NAMES.get(param.name or "", (param.name or "").upper())
            # Only the usage line differs; the instance is Typer's own, with the same state.
            param.__class__ = _NamedArgument


class TidyGroup(TyperGroup):
    """A command group whose commands (and sub-groups, which become ``TidyGroup`` too) show placeholders."""

    def get_params(self, ctx: _click.Context) -> list[Any]:
        params = super().get_params(ctx)
        _tidy(params)
        return params

    def get_command(self, ctx: _click.Context, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, TyperGroup) and not isinstance(command, TidyGroup):
            command.__class__ = TidyGroup
        if command is not None:
            _tidy(command.get_params(ctx))
        return command
