"""The heartbeat thread of a daemon or ``run-once``: proves to the other replicas, every few seconds, that the
posts this process holds are still being worked on (``db/workers.py`` says why and what it guarantees)."""

from __future__ import annotations

import os
import socket
import threading
from typing import Protocol

from postpilot.db.workers import HEARTBEAT_EVERY_S
from postpilot.logging import get_logger

log = get_logger("postpilot.liveness")

# Dead rows are pruned every few hundred beats: cheap, and the table stays a handful of rows.
PRUNE_EVERY_BEATS = 300


class WorkerRecords(Protocol):
    def register_worker(self, owner: str, *, kind: str, host: str | None, pid: int | None) -> None: ...

    def beat(self, owner: str) -> bool: ...

    def retire_worker(self, owner: str) -> None: ...

    def forget_dead_workers(self) -> int: ...


class Heartbeat:
    """Its own thread, not a scheduler job: a busy scheduler must never make a live process look dead."""

    def __init__(self, repo: WorkerRecords, *, owner: str, kind: str, every_s: float = HEARTBEAT_EVERY_S) -> None:
        self._repo = repo
        self.owner = owner
        self.kind = kind
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0
        self.late_beats = 0

    def start(self) -> None:
        self._repo.register_worker(self.owner, kind=self.kind, host=socket.gethostname(), pid=os.getpid())
        self._thread = threading.Thread(target=self._run, name="postpilot-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, *, retire: bool = True) -> None:
        """``retire``: this process holds nothing any more (its steps ended or were given back), so what is
        left under its name is free for the others at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if retire:
            try:
                self._repo.retire_worker(self.owner)
            except Exception as exc:  # the database is away: the heartbeat simply ages out
                log.warning("worker_retire_failed", error=type(exc).__name__)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                on_time = self._repo.beat(self.owner)
            except Exception as exc:  # the database is away: keep trying; the posts' leases still hold
                log.warning("worker_heartbeat_failed", error=type(exc).__name__)
                continue
            self.beats += 1
            if not on_time:
                self.late_beats += 1
                log.warning(
                    "worker_heartbeat_late",
                    owner=self.owner,
                    note="other replicas may have taken over posts this process held; its writes to them are "
                    "refused from now on",
                )
            if self.beats % PRUNE_EVERY_BEATS == 0:
                try:
                    self._repo.forget_dead_workers()
                except Exception as exc:
                    log.warning("worker_prune_failed", error=type(exc).__name__)
