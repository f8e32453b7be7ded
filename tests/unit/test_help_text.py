"""Every command's ``--help`` names what each option takes (``NAME``, ``URL``, ``TIME``) instead of Typer's
type labels (``<str>``, ``<bool>``) and brace-wrapped arguments (``{post_id}``)."""

from __future__ import annotations

import re

import pytest
from typer import _click
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.main import get_command
from typer.testing import CliRunner

from postpilot.cli import cli
from postpilot.cli.help_text import PLACEHOLDERS

TYPE_LABEL = re.compile(r"<(str|bool|int|float|path|list\[[a-z]+\]|int range)>|\{[a-z_]+\}")


def _commands() -> list[tuple[list[str], object, _click.Context]]:
    root = get_command(cli)
    found: list[tuple[list[str], object, _click.Context]] = []

    def walk(command: object, path: list[str], ctx: _click.Context) -> None:
        found.append((path, command, ctx))
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                walk(sub, [*path, name], _click.Context(sub, parent=ctx, info_name=name))  # type: ignore[arg-type]

    walk(root, [], _click.Context(root, info_name="postpilot"))
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("path", [p for p, _c, _x in COMMANDS], ids=lambda p: " ".join(p) or "postpilot")
def test_help_has_no_type_labels(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not TYPE_LABEL.findall(result.output), result.output


def test_every_option_taking_a_value_has_a_placeholder() -> None:
    missing = sorted(
        {
            f"{' '.join(path)} {param.opts[0]}"
            for path, command, ctx in COMMANDS
            for param in command.get_params(ctx)  # type: ignore[attr-defined]
            if isinstance(param, TyperOption)
            and not param.is_flag
            and not any(name in PLACEHOLDERS for name in param.opts)
        }
    )
    assert not missing, f"add these to cli/help_text.PLACEHOLDERS: {missing}"


def test_usage_line_names_arguments_plainly() -> None:
    result = CliRunner().invoke(cli, ["post", "show", "--help"], env={"COLUMNS": "200"})
    assert "Usage: postpilot post show [OPTIONS] ID" in result.output
    result = CliRunner().invoke(cli, ["post", "approve", "--help"], env={"COLUMNS": "200"})
    assert "[OPTIONS] ID..." in result.output
    result = CliRunner().invoke(cli, ["post", "add", "--help"], env={"COLUMNS": "200"})
    assert re.search(r"--account\s+NAME", result.output)
    assert re.search(r"--image-url\s+URL", result.output)
    assert not re.search(r"--dry-run\s+\S*<", result.output)


def test_arguments_are_named() -> None:
    names = {
        param.metavar
        for _p, command, ctx in COMMANDS
        for param in command.get_params(ctx)  # type: ignore[attr-defined]
        if isinstance(param, TyperArgument)
    }
    assert names and all(n and n.isupper() for n in names), names
