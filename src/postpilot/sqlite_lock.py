"""The SQLite file's owner: one process at a time (``postpilot run`` or ``run-once``)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from postpilot.domain.errors import ConfigError


class SqliteLock:
    """One process per SQLite file: an exclusive flock on ``<db>.lock`` held by the daemon for its life, and by
    ``run-once`` for its pass, so a pass never runs beside a daemon on the same file."""

    def __init__(self, database: str) -> None:
        self.path = Path(database + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"another postpilot daemon is already running on {self.path.with_suffix('')} (or a run-once "
                "pass); SQLite supports one process per database file (use PostgreSQL to run several replicas)"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_for(database_url: str) -> SqliteLock | None:
    """The lock of a SQLite database URL's file; None for PostgreSQL (replicas coordinate in the database)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return SqliteLock(url.database)
    return None
