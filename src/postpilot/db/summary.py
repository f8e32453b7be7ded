"""Summaries for ``/status``, metrics and the CLI: counts, what is due next, what is overdue."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from postpilot.db.base import RepoBase
from postpilot.db.rows import post_from_row, posts
from postpilot.db.types import db_now
from postpilot.domain.model import Post


class Summary(RepoBase):
    def counts_by_status(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(posts.c.status, func.count()).group_by(posts.c.status)).all()
            return {str(s): int(n) for s, n in rows}

    def next_due(self, limit: int = 5) -> list[Post]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posts)
                .where(posts.c.status.in_(["scheduled", "preparing", "ready"]), posts.c.is_active)
                .order_by(posts.c.scheduled_at)
                .limit(limit)
            ).mappings()
            return [post_from_row(r) for r in rows]

    def overdue(self) -> tuple[int, datetime | None]:
        """How many active posts are past their time, and the oldest one's scheduled_at."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(func.count(), func.min(posts.c.scheduled_at)).where(
                    posts.c.status.in_(["scheduled", "preparing", "ready", "publishing"]),
                    posts.c.is_active,
                    posts.c.scheduled_at <= db_now(),
                )
            ).first()
            assert row is not None
            oldest = row[1]
            if isinstance(oldest, str):  # SQLite's MIN() over text loses the column type
                oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
            return int(row[0]), oldest

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1)).scalar_one()
