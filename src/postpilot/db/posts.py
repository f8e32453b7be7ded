"""Posts as marketers write them: inserting rows (CLI, import) and reading them back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select

from postpilot.db.base import RepoBase
from postpilot.db.rows import post_from_row, posts
from postpilot.domain.errors import NotFound
from postpilot.domain.events import EventKind
from postpilot.domain.model import ACTIVE_STATUSES, USER_FIELDS, Post


class PostRecords(RepoBase):
    def add_post(self, values: dict[str, Any], *, actor: str = "cli") -> int:
        unknown = set(values) - set(USER_FIELDS)
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        clean = {k: v for k, v in values.items() if v is not None}
        with self._tx() as conn:
            post_id = int(conn.execute(insert(posts).values(**clean).returning(posts.c.id)).scalar_one())
            self._event(conn, post_id, EventKind.CREATED, to_status="scheduled", actor=actor)
            return post_id

    def add_posts(self, rows: Sequence[dict[str, Any]], *, actor: str = "import") -> list[int]:
        """All or nothing: one transaction."""
        ids = []
        with self._tx() as conn:
            for values in rows:
                clean = {k: v for k, v in values.items() if v is not None}
                post_id = int(conn.execute(insert(posts).values(**clean).returning(posts.c.id)).scalar_one())
                self._event(conn, post_id, EventKind.CREATED, to_status="scheduled", actor=actor)
                ids.append(post_id)
        return ids

    def post(self, post_id: int) -> Post | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(posts).where(posts.c.id == post_id)).mappings().first()
            return post_from_row(row) if row else None

    def require_post(self, post_id: int) -> Post:
        found = self.post(post_id)
        if found is None:
            raise NotFound(f"no post with id {post_id}")
        return found

    def posts_by_ids(self, ids: Iterable[int]) -> list[Post]:
        ids = list(ids)
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(posts).where(posts.c.id.in_(ids)).order_by(posts.c.scheduled_at, posts.c.id))
            return [post_from_row(r) for r in rows.mappings()]

    def upcoming_posts(
        self, *, account_id: int | None = None, status: str | None = None, limit: int | None = None
    ) -> list[Post]:
        """What goes out next, soonest first: posts still on their way (scheduled, preparing, ready,
        publishing) and not paused."""
        query = (
            select(posts)
            .where(posts.c.status.in_([s.value for s in ACTIVE_STATUSES]), posts.c.is_active.is_(True))
            .order_by(posts.c.scheduled_at, posts.c.id)
        )
        if status:
            query = query.where(posts.c.status == status)
        if account_id is not None:
            query = query.where(posts.c.account_id == account_id)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [post_from_row(r) for r in conn.execute(query).mappings()]

    def list_posts(
        self, *, status: str | None = None, account_id: int | None = None, limit: int | None = None
    ) -> list[Post]:
        query = select(posts).order_by(posts.c.scheduled_at, posts.c.id)
        if status:
            query = query.where(posts.c.status == status)
        if account_id is not None:
            query = query.where(posts.c.account_id == account_id)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [post_from_row(r) for r in conn.execute(query).mappings()]
