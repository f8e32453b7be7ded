"""``postpilot run`` reaches the daemon without building the other commands (memory of the idle daemon), and
everything else still goes through the whole command tree."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return set(done.stdout.split())


def test_the_daemon_command_does_not_import_the_command_tree() -> None:
    loaded = _modules_after("import postpilot.cli.daemon_command")
    assert "postpilot.cli.root" not in loaded
    assert not {m for m in loaded if m.startswith(("postpilot.cli.post", "postpilot.cli.series", "postpilot.csv"))}


def test_the_command_tree_is_there_for_everything_else() -> None:
    from postpilot.cli import cli, root

    assert cli is root.cli
    done = subprocess.run([sys.executable, "-m", "postpilot", "run", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "postpilot run [OPTIONS]" in done.stdout
