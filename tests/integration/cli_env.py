"""The environment the in-process CLI tests run the ``postpilot`` commands in: nothing from the host, this
test's database and state directory, quiet logs, and Meta unreachable whatever a test forgets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

# Settings the SDKs and systemd read under their own names: a developer's shell must not leak into a test.
CLEAN_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CLOUDINARY_URL", "STATE_DIRECTORY", "NOTIFY_SOCKET")


def isolate_cli(monkeypatch: pytest.MonkeyPatch, *, db_url: str, tmp_path: Path, **settings: str) -> None:
    """Clear the host's settings, set the base ones (``settings`` adds or overrides: ``DUPLICATE_WINDOW_S="0"``
    sets ``POSTPILOT_DUPLICATE_WINDOW_S``) and run from ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith("POSTPILOT_") or name in CLEAN_ENV:
            monkeypatch.delenv(name)
    values = {
        "DATABASE_URL": db_url,
        "SECRET_KEY": Fernet.generate_key().decode(),
        "STATE_DIR": str(tmp_path / "state"),
        "LOG_LEVEL": "warning",
        "GRAPH_URL": "http://127.0.0.1:9",
        "INSTAGRAM_GRAPH_URL": "http://127.0.0.1:9",
        **settings,
    }
    for name, value in values.items():
        monkeypatch.setenv(f"POSTPILOT_{name}", value)
    monkeypatch.chdir(tmp_path)
