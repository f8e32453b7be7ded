"""``postpilot run``: the daemon, as systemd starts it.

``run_main`` is the same command reached without the rest of the command tree (``postpilot.cli.main`` takes
that way when the arguments are exactly ``run``): the daemon never uses the account, post, series, user or
notify commands, and importing them (with the CSV, option and time-parsing modules they bring) was about 1 MB
of an idle daemon's memory. ``postpilot run --help`` and anything else go through the whole tree.
"""

from __future__ import annotations

import os
import sys

import typer

from postpilot.cli.common import EXIT_INTERNAL, handle_errors, open_app


@handle_errors
def run_daemon() -> None:
    """Run the daemon: poll, prepare, stage and publish on the minute; serve /livez /readyz /metrics /status."""
    app = open_app()
    try:
        daemon = app.daemon()
        code = daemon.run()
    finally:
        app.close()
    if daemon.left_running:
        # Steps still running past the drain timeout were given back; their threads would hold the interpreter's
        # exit (it joins pool threads) past systemd's TimeoutStopSec, so leave without waiting for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def run_main() -> None:
    """``postpilot run`` with the same exit codes and messages as through the command tree."""
    try:
        run_daemon()
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except SystemExit:
        raise
    except Exception as exc:
        typer.echo(f"error: unexpected {type(exc).__name__}", err=True)
        raise SystemExit(EXIT_INTERNAL) from None
