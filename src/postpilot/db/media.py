"""Media records (``post_media``), permalinks, and what images cost (``image_spend``: written before each
generation is requested, settled after, so the daily budget counts money a crash would otherwise hide)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update

from postpilot.db.base import RepoBase
from postpilot.db.rows import media, media_from_row, post_from_row, posts, spend
from postpilot.db.types import db_now
from postpilot.domain.changes import NewMedia
from postpilot.domain.model import Post, PostMedia, PostStatus


class MediaRecords(RepoBase):
    def media(self, post_id: int) -> list[PostMedia]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(media).where(media.c.post_id == post_id).order_by(media.c.position))
            return [media_from_row(r) for r in rows.mappings()]

    def record_media(self, post_id: int, item: NewMedia) -> PostMedia:
        """Record one stored item as soon as it exists. Idempotent per (post, position)."""
        with self._tx() as conn:
            existing = (
                conn.execute(select(media).where(media.c.post_id == post_id, media.c.position == item.position))
                .mappings()
                .first()
            )
            if existing:
                return media_from_row(existing)
            conn.execute(
                insert(media).values(
                    post_id=post_id,
                    position=item.position,
                    kind=item.kind,
                    source=item.source.value,
                    source_url=item.source_url,
                    prompt=item.prompt,
                    model=item.model,
                    cost_usd=item.cost_usd,
                    stored_url=item.stored_url,
                    width=item.width,
                    height=item.height,
                    bytes=item.bytes,
                    checksum=item.checksum,
                    alt_text=item.alt_text,
                )
            )
            row = (
                conn.execute(select(media).where(media.c.post_id == post_id, media.c.position == item.position))
                .mappings()
                .one()
            )
            return media_from_row(row)

    def set_media_url(self, media_id: int, stored_url: str) -> None:
        with self._tx() as conn:
            conn.execute(update(media).where(media.c.id == media_id).values(stored_url=stored_url))

    def set_media_container(self, media_id: int, container_id: str | None) -> None:
        with self._tx() as conn:
            conn.execute(update(media).where(media.c.id == media_id).values(container_id=container_id))

    def set_permalink(self, post_id: int, *, media_id: str, permalink: str) -> bool:
        """Fill the permalink of a published post, read after the post was recorded live."""
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.ig_media_id == media_id, posts.c.permalink.is_(None))
                .values(permalink=permalink, updated_at=db_now())
                .returning(posts.c.id)
            ).first()
            return row is not None

    def missing_permalinks(self, *, older_than_s: float, within_s: float, limit: int = 20) -> list[Post]:
        """Published posts whose permalink read never happened (a crash or a drain timeout came first),
        newest first. Served by the partial index ``ix_scheduled_posts_permalink_missing``."""
        now = datetime.now(UTC)
        query = (
            select(posts)
            .where(
                posts.c.status == PostStatus.PUBLISHED.value,
                posts.c.ig_media_id.is_not(None),
                posts.c.permalink.is_(None),
                posts.c.published_at <= now - timedelta(seconds=older_than_s),
                posts.c.published_at >= now - timedelta(seconds=within_s),
            )
            .order_by(posts.c.published_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [post_from_row(r) for r in conn.execute(query).mappings()]

    def clear_containers(self, post_id: int) -> None:
        with self._tx() as conn:
            conn.execute(update(media).where(media.c.post_id == post_id).values(container_id=None))

    def reserve_spend(
        self, *, post_id: int | None, position: int | None, model: str, estimate_usd: float, owner: str | None
    ) -> int:
        """Record a generation about to be requested, at its estimated price; returns the ledger row's id."""
        with self._tx() as conn:
            row = conn.execute(
                insert(spend)
                .values(post_id=post_id, position=position, model=model, estimate_usd=estimate_usd, owner=owner)
                .returning(spend.c.id)
            ).one()
            return int(row[0])

    def settle_spend(self, spend_id: int, *, cost_usd: float) -> None:
        """The real price once it is known: the usage OpenAI reported, or 0 when it refused the request."""
        with self._tx() as conn:
            conn.execute(update(spend).where(spend.c.id == spend_id).values(cost_usd=cost_usd, settled_at=db_now()))

    def image_spend_since(self, since: datetime) -> float:
        """Settled prices, plus the estimate of every generation whose price never came back (a crash, a
        timeout after the request was sent): those may well have been charged."""
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(func.coalesce(spend.c.cost_usd, spend.c.estimate_usd)), 0.0)).where(
                    spend.c.created_at >= since
                )
            ).scalar_one()
            return float(total or 0.0)

    def spend_today(self) -> float:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.image_spend_since(start)
