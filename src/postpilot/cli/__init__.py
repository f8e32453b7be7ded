"""The ``postpilot`` command line. Commands build nothing themselves: they call the composition root.

Exit codes: 0 ok · 1 a post failed or is unconfirmed (run-once, demo), or not ready (health), or a token
cannot publish (account check) · 2 configuration error · 3 invalid input · 4 not found · 5 conflict with the
post's current state · 6 unexpected internal error.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """The ``postpilot`` console script (and ``python -m postpilot``)."""
    if sys.argv[1:] == ["run"]:
        # The daemon alone, without importing the other commands (``cli/daemon_command.py`` says why).
        from postpilot.cli.daemon_command import run_main

        run_main()
        return
    from postpilot.cli.root import cli_main

    cli_main()


def __getattr__(name: str) -> Any:
    # ``from postpilot.cli import cli``: the command tree, built when first asked for, so that importing one
    # command's module (``postpilot.cli.common``…) does not build all of them.
    if name == "cli":
        from postpilot.cli.root import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
