"""What the review page reads: posts in a time window, the posts that need a person, and their media in one
query per page (a page of 50 posts must not cost 50 round trips)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, not_, or_, select

from postpilot.db import claims
from postpilot.db.base import RepoBase
from postpilot.db.rows import accounts, media, media_from_row, post_from_row, posts
from postpilot.domain.model import Post, PostMedia, PostStatus, PostType, utcnow

# A failed post stays in "needs you" for this long after its time; older ones are history.
FAILED_RECENT = timedelta(days=7)
_TO_PUBLISH = [PostStatus.SCHEDULED.value, PostStatus.PREPARING.value, PostStatus.READY.value]


def on_profile_grid() -> ColumnElement[bool]:
    """Posts that sit on the profile grid: not stories (they live 24 hours, off the grid), not reels kept off
    the feed (``share_to_feed`` false) and not trial reels (shown to non-followers first, off the grid until
    they are shared with everyone). A reel without ``share_to_feed`` is in the feed, as Meta's default."""
    reel = posts.c.post_type == PostType.REEL.value
    off_feed = or_(posts.c.share_to_feed.is_(False), posts.c.trial_params.is_not(None))
    return and_(posts.c.post_type != PostType.STORY.value, not_(and_(reel, off_feed)))


class ReviewQueries(RepoBase):
    def posts_between(
        self,
        start: datetime,
        end: datetime,
        *,
        account_id: int | None = None,
        status: str | None = None,
        limit: int = 500,
    ) -> list[Post]:
        query = (
            select(posts)
            .where(posts.c.scheduled_at >= start, posts.c.scheduled_at < end)
            .order_by(posts.c.scheduled_at, posts.c.id)
            .limit(limit)
        )
        if account_id is not None:
            query = query.where(posts.c.account_id == account_id)
        if status:
            query = query.where(posts.c.status == status)
        with self.engine.connect() as conn:
            return [post_from_row(r) for r in conn.execute(query).mappings()]

    def posts_needing_people(self, *, account_id: int | None = None, limit: int = 200) -> list[Post]:
        """Waiting for approval, failed lately, unconfirmed, or held because their account must be reconnected."""
        reconnect = select(accounts.c.id).where(accounts.c.needs_reconnect.is_(True))
        query = (
            select(posts)
            .where(
                or_(
                    posts.c.status == PostStatus.UNCONFIRMED.value,
                    and_(
                        posts.c.status == PostStatus.FAILED.value,
                        posts.c.scheduled_at >= utcnow() - FAILED_RECENT,
                    ),
                    and_(
                        posts.c.status.in_(_TO_PUBLISH),
                        posts.c.approved_at.is_(None),
                        claims.wants_approval().is_(True),
                    ),
                    and_(posts.c.status.in_(_TO_PUBLISH), posts.c.account_id.in_(reconnect)),
                )
            )
            .order_by(posts.c.scheduled_at, posts.c.id)
            .limit(limit)
        )
        if account_id is not None:
            query = query.where(posts.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [post_from_row(r) for r in conn.execute(query).mappings()]

    def next_posts(self, account_id: int, *, upcoming: int = 9, published: int = 6) -> tuple[list[Post], list[Post]]:
        """The account's next posts to go out and its latest published ones that sit on the profile grid, for the
        grid preview (``on_profile_grid``)."""
        now = utcnow()
        with self.engine.connect() as conn:
            ahead = conn.execute(
                select(posts)
                .where(posts.c.account_id == account_id, posts.c.status.in_(_TO_PUBLISH), posts.c.is_active)
                .where(on_profile_grid())
                .where(posts.c.scheduled_at >= now - timedelta(hours=1))
                .order_by(posts.c.scheduled_at, posts.c.id)
                .limit(upcoming)
            ).mappings()
            upcoming_posts = [post_from_row(r) for r in ahead]
            done = conn.execute(
                select(posts)
                .where(
                    posts.c.account_id == account_id,
                    posts.c.status.in_([PostStatus.PUBLISHED.value, PostStatus.SIMULATED.value]),
                    on_profile_grid(),
                )
                .order_by(posts.c.published_at.desc(), posts.c.id.desc())
                .limit(published)
            ).mappings()
            return upcoming_posts, [post_from_row(r) for r in done]

    def media_of_posts(self, post_ids: Iterable[int]) -> dict[int, list[PostMedia]]:
        ids = sorted(set(post_ids))
        found: dict[int, list[PostMedia]] = {i: [] for i in ids}
        if not ids:
            return found
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(media).where(media.c.post_id.in_(ids)).order_by(media.c.post_id, media.c.position)
            ).mappings()
            for row in rows:
                found[int(row["post_id"])].append(media_from_row(row))
        return found

    def media_item(self, media_id: int) -> PostMedia | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(media).where(media.c.id == media_id)).mappings().first()
            return media_from_row(row) if row else None
