"""Who is alive: every daemon and ``run-once`` beats a row in ``workers`` every few seconds, in database time.

Why a heartbeat and not only the post's lease: a lease must outlast the slowest step it covers (an image
generation, a reel's processing), so it is minutes long, and a post held by a process that was SIGKILLed in
``media_publish`` would sit in ``publishing`` for all of it while it is live on Instagram. A heartbeat says
within seconds that the holder is gone, whatever the step, and works the same on both databases. The claim
queries treat a lease as free when its holder's heartbeat is older than ``DEAD_AFTER_S`` (``db/claims.py``).

Why this cannot let two live processes publish one post: taking over a post changes its ``lease_owner``, and
every write the first process would still make is guarded by ``lease_owner`` (it gets ``Conflict``); the one
irreversible call, ``media_publish``, is only ever made after the attempt is committed, and a takeover of a
post with an attempt on record reconciles it (reads the container) and waits ``settle_s`` before any second
call (``pipeline/publish.py``). A process merely paused past ``DEAD_AFTER_S`` therefore loses its posts, never
doubles them, and says so in its log (``worker_heartbeat_late``).

On SQLite a daemon holds the database file's lock for its whole life, so a daemon that gets the lock knows every
other daemon row is dead and says so at once (``declare_other_daemons_dead``); ``run-once`` rows are left alone,
since a pass may run beside the daemon.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from postpilot.db.base import RepoBase
from postpilot.db.rows import workers
from postpilot.db.types import db_now, db_now_plus

# A beat every 2 s, dead after 8 s without one: four beats missed in a row is not scheduling jitter, and a
# dead holder is noticed by the next poll after that (README "How it works").
HEARTBEAT_EVERY_S = 2.0
DEAD_AFTER_S = 8.0
# How long a dead worker's row is kept: longer than any lease it could still hold, so its leases never
# silently lose the "holder is dead" shortcut while they matter.
FORGET_AFTER_S = 3600.0
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


class Workers(RepoBase):
    def register_worker(self, owner: str, *, kind: str, host: str | None, pid: int | None) -> None:
        with self._tx() as conn:
            found = conn.execute(
                update(workers)
                .where(workers.c.owner == owner)
                .values(kind=kind, host=host, pid=pid, heartbeat_at=db_now())
            ).rowcount
            if not found:
                conn.execute(insert(workers).values(owner=owner, kind=kind, host=host, pid=pid))

    def beat(self, owner: str) -> bool:
        """Record that ``owner`` is alive; False when its previous beat was already old enough for another
        replica to count it dead (its posts may have been taken over)."""
        with self._tx() as conn:
            row = conn.execute(
                update(workers)
                .where(workers.c.owner == owner, workers.c.heartbeat_at >= db_now_plus(-DEAD_AFTER_S))
                .values(heartbeat_at=db_now())
                .returning(workers.c.owner)
            ).first()
            if row is not None:
                return True
            revived = conn.execute(
                update(workers).where(workers.c.owner == owner).values(heartbeat_at=db_now())
            ).rowcount
            if not revived:
                conn.execute(insert(workers).values(owner=owner, kind="unknown"))
            return False

    def retire_worker(self, owner: str) -> None:
        """A clean exit: whatever this process still holds is free for others at once."""
        with self._tx() as conn:
            conn.execute(update(workers).where(workers.c.owner == owner).values(heartbeat_at=_LONG_AGO))

    def declare_other_daemons_dead(self, owner: str) -> int:
        with self._tx() as conn:
            return conn.execute(
                update(workers)
                .where(workers.c.kind == "daemon", workers.c.owner != owner)
                .values(heartbeat_at=_LONG_AGO)
            ).rowcount

    def forget_dead_workers(self) -> int:
        with self._tx() as conn:
            return conn.execute(delete(workers).where(workers.c.heartbeat_at < db_now_plus(-FORGET_AFTER_S))).rowcount

    def live_workers(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(workers.c.owner, workers.c.kind)
                .where(workers.c.heartbeat_at >= db_now_plus(-DEAD_AFTER_S))
                .order_by(workers.c.owner)
            ).all()
            return [(str(r[0]), str(r[1])) for r in rows]
