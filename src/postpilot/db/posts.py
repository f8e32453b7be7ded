"""Posts as marketers write them: inserting rows (CLI, import) and reading them back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import DataError

from postpilot.db.base import RepoBase
from postpilot.db.rows import post_from_row, posts
from postpilot.domain.errors import NotFound, UnreadableRow
from postpilot.domain.events import EventKind
from postpilot.domain.model import ACTIVE_STATUSES, USER_FIELDS, Post
from postpilot.logging import get_logger

log = get_logger("postpilot.db")

# What reading a value the database holds but Python cannot take raises: a time out of Python's range
# (psycopg's DataError, wrapped; SQLite's text through ``fromisoformat``), or a conversion that gives up. Any
# other error (no table, no connection) is the database's, and is raised as it is.
UNREADABLE_VALUE = (DataError, ValueError, OverflowError, RecursionError)


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

    def add_posts(
        self,
        rows: Sequence[dict[str, Any]],
        *,
        actor: str = "import",
        progress: Callable[[int], None] | None = None,
    ) -> list[int]:
        """All or nothing: one transaction. ``progress(rows_added)`` every 1,000 rows (a big import's second
        half, on a terminal)."""
        ids = []
        with self._tx() as conn:
            for values in rows:
                clean = {k: v for k, v in values.items() if v is not None}
                post_id = int(conn.execute(insert(posts).values(**clean).returning(posts.c.id)).scalar_one())
                self._event(conn, post_id, EventKind.CREATED, to_status="scheduled", actor=actor)
                ids.append(post_id)
                if progress is not None and len(ids) % 1000 == 0:
                    progress(len(ids))
        return ids

    def post(self, post_id: int) -> Post | None:
        """The post, or None; ``UnreadableRow`` (saying which column is wrong) for a row that cannot be read."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(posts).where(posts.c.id == post_id)).mappings().first()
                return post_from_row(row) if row else None
        except UNREADABLE_VALUE as exc:
            problem = self.unreadable_column(post_id) or f"the row could not be read ({type(exc).__name__})"
            raise UnreadableRow(
                f"post {post_id} cannot be read: {problem}; correct the row with SQL, then run postpilot post "
                f"retry {post_id}"
            ) from None

    def unreadable_column(self, post_id: int) -> str | None:
        """Which column of the row Python cannot read, and why, in words."""
        for column in posts.c:
            try:
                with self.engine.connect() as conn:
                    conn.execute(select(column).where(posts.c.id == post_id)).all()
            except Exception as exc:  # this column is the one
                detail = str(getattr(exc, "orig", exc)).splitlines()[0][:160]
                return f"the column {column.name} holds a value postpilot cannot read ({detail})"
        return None

    def _read_posts(self, query: Select[Any], skipped: list[str] | None) -> list[Post]:
        """The posts ``query`` selects, in its order. When a row among them cannot be read, the others are
        read one by one and that one is left out (said in ``skipped``, and in the log): one bad row never
        stops a listing, an export or a pass."""
        try:
            with self.engine.connect() as conn:
                return [post_from_row(r) for r in conn.execute(query).mappings()]
        except UNREADABLE_VALUE as exc:
            log.warning("posts_unreadable", error=type(exc).__name__)
        with self.engine.connect() as conn:
            ids = [int(i) for i in conn.execute(query.with_only_columns(posts.c.id)).scalars()]
        found: list[Post] = []
        for post_id in ids:
            try:
                post = self.post(post_id)
            except UnreadableRow as unreadable:
                if skipped is not None:
                    skipped.append(unreadable.message)
                continue
            if post is not None:
                found.append(post)
        return found

    def require_post(self, post_id: int) -> Post:
        found = self.post(post_id)
        if found is None:
            raise NotFound(f"no post with id {post_id}")
        return found

    def posts_by_ids(self, ids: Iterable[int]) -> list[Post]:
        ids = list(ids)
        if not ids:
            return []
        query = select(posts).where(posts.c.id.in_(ids)).order_by(posts.c.scheduled_at, posts.c.id)
        return self._read_posts(query, None)

    def upcoming_posts(
        self,
        *,
        account_id: int | None = None,
        status: str | None = None,
        limit: int | None = None,
        skipped: list[str] | None = None,
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
        return self._read_posts(query, skipped)

    def list_posts(
        self,
        *,
        status: str | None = None,
        account_id: int | None = None,
        limit: int | None = None,
        skipped: list[str] | None = None,
    ) -> list[Post]:
        """Every post (or those of ``status`` / the account), by time; a row that cannot be read is left out
        and described in ``skipped``."""
        query = select(posts).order_by(posts.c.scheduled_at, posts.c.id)
        if status:
            query = query.where(posts.c.status == status)
        if account_id is not None:
            query = query.where(posts.c.account_id == account_id)
        if limit:
            query = query.limit(limit)
        return self._read_posts(query, skipped)
