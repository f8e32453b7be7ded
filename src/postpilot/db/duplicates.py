"""The duplicate guard's query (``domain/duplicates.py`` decides what matches): the account's posts published,
or still on their way, within the window around a post's time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select

from postpilot.db.posts import PostRecords
from postpilot.db.rows import post_from_row, posts
from postpilot.domain import duplicates
from postpilot.domain.model import ACTIVE_STATUSES, Post, PostStatus


class Duplicates(PostRecords):
    def find_duplicate(self, post: Post, *, window_s: float) -> Post | None:
        start = post.scheduled_at - timedelta(seconds=window_s)
        end = post.scheduled_at + timedelta(seconds=window_s)
        published = and_(
            posts.c.status == PostStatus.PUBLISHED.value,
            posts.c.published_at >= start,
            posts.c.published_at <= end,
        )
        upcoming = and_(
            posts.c.status.in_([s.value for s in ACTIVE_STATUSES]),
            posts.c.scheduled_at >= start,
            posts.c.scheduled_at <= end,
        )
        query = (
            select(posts)
            .where(posts.c.account_id == post.account_id, posts.c.id != post.id, or_(published, upcoming))
            .order_by(posts.c.scheduled_at, posts.c.id)
            .limit(500)  # a window of days holds a few posts; bounded whatever the table holds
        )
        with self.engine.connect() as conn:
            others = [post_from_row(r) for r in conn.execute(query).mappings()]
        return duplicates.find_duplicate(post, others)
