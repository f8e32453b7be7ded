"""What every part of the repository shares: the engine, one transaction per change, and the event log.

Every state change is one guarded ``UPDATE`` plus a ``post_events`` row, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from postpilot.db.rows import events
from postpilot.domain.events import EventKind
from postpilot.domain.model import PostEvent


class RepoBase:
    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @staticmethod
    def _event(
        conn: Connection,
        post_id: int,
        kind: EventKind | str,
        *,
        from_status: str | None = None,
        to_status: str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        conn.execute(
            insert(events).values(
                post_id=post_id,
                kind=kind,
                from_status=from_status,
                to_status=to_status,
                message=message,
                detail=detail,
                actor=actor,
            )
        )

    def add_event(
        self,
        post_id: int,
        kind: EventKind | str,
        *,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        with self._tx() as conn:
            self._event(conn, post_id, kind, message=message, detail=detail, actor=actor)

    def events(self, post_id: int) -> list[PostEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events).where(events.c.post_id == post_id).order_by(events.c.id)).mappings()
            return [
                PostEvent(
                    id=r["id"],
                    post_id=r["post_id"],
                    at=r["at"],
                    kind=r["kind"],
                    from_status=r["from_status"],
                    to_status=r["to_status"],
                    message=r["message"],
                    detail=r["detail"] if isinstance(r["detail"], dict) else {},
                    actor=r["actor"],
                )
                for r in rows
            ]
