"""The queue's model: posts as cards, grouped by day in the viewer's zone, with what needs a person first.

Built from a handful of queries whatever the number of posts (posts, media of all of them, accounts), so a
page of 50 posts costs the same few round trips as a page of 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from postpilot.domain.model import Account, Post, PostMedia, PostType
from postpilot.review import words


class QueueSource(Protocol):
    """What the pages read (``db.repository.Repository`` has it)."""

    def posts_between(
        self,
        start: datetime,
        end: datetime,
        *,
        account_id: int | None = None,
        status: str | None = None,
        limit: int = 500,
    ) -> list[Post]: ...

    def posts_needing_people(self, *, account_id: int | None = None, limit: int = 200) -> list[Post]: ...

    def media_of_posts(self, post_ids: Sequence[int]) -> dict[int, list[PostMedia]]: ...

    def list_accounts(self) -> list[Account]: ...


@dataclass(frozen=True, slots=True)
class Tile:
    """One square of a card, in the post's order: an image's thumbnail (``item``), a reel's cover
    (``cover``, from cover_url), or words where there is no picture (a video, an image not made yet)."""

    words: str  # the picture's alt text, or what stands in for it
    item: PostMedia | None = None
    cover: bool = False
    video: bool = False  # a video, said in words (``words.video_words``)

    @property
    def picture(self) -> bool:
        return self.item is not None or self.cover


@dataclass(frozen=True, slots=True)
class Card:
    post: Post
    account: Account | None
    account_name: str
    media: list[PostMedia]
    tiles: list[Tile]  # what the thumbnails show, one per item (``tiles``)
    kind: str  # type, shape and slides in words (``words.kind_words``)
    attention: str | None  # why a person should look (``words.needs_person``)
    status: str  # in words
    when: str  # day, time and zone
    clock: str  # time of day only


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    title: str
    cards: list[Card]


@dataclass(frozen=True, slots=True)
class Queue:
    zone: ZoneInfo
    attention: list[Card]
    days: list[Day]
    count: int


def pick_zone(chosen: str | None, accounts: Sequence[Account], account_id: int | None) -> ZoneInfo:
    """The viewer's choice; else the account's zone (the filtered one, or the one all accounts share); else UTC."""
    if chosen:
        return words.zone(chosen)
    if account_id is not None:
        found = next((a for a in accounts if a.id == account_id), None)
        return words.zone(found.time_zone if found else None)
    zones = {a.time_zone for a in accounts}
    return words.zone(zones.pop() if len(zones) == 1 else None)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def cards(posts: Sequence[Post], source: QueueSource, accounts: Sequence[Account], tz: ZoneInfo) -> list[Card]:
    by_id = {a.id: a for a in accounts}
    media = source.media_of_posts([p.id for p in posts])
    out = []
    for post in posts:
        account = by_id.get(post.account_id)
        out.append(
            Card(
                post=post,
                account=account,
                account_name=account.name if account else f"account {post.account_id}",
                media=media.get(post.id, []),
                tiles=tiles(post, media.get(post.id, [])),
                kind=words.kind_words(post, media.get(post.id, [])),
                attention=words.needs_person(post, account),
                status=words.status_words(post, account),
                when=words.when(post.scheduled_at, tz),
                clock=words.clock(post.scheduled_at, tz),
            )
        )
    return out


def tiles(post: Post, media: Sequence[PostMedia]) -> list[Tile]:
    """A reel with a cover shows the cover (it is what Instagram shows); each image its thumbnail; each video
    says it is one (no picture of a video is made); before preparation, what is still to come."""
    if post.post_type == PostType.REEL.value and post.cover_url:
        return [Tile(words="the reel's cover", cover=True)]
    slides = words.slides_of(post, media)
    if not slides:
        return [Tile(words=words.no_media_words(post))]
    out = []
    for i, kind in enumerate(slides):
        item = media[i] if i < len(media) else None
        if kind == "video":
            out.append(Tile(words=words.video_words(post, i, len(slides)), video=True))
        elif item is not None and item.stored_url:
            out.append(Tile(words=item.alt_text or post.alt_text or f"image {i + 1}", item=item))
        else:
            out.append(Tile(words=f"image {i + 1} not fetched yet"))
    return out


def by_day(all_cards: Sequence[Card], first: date, count: int, tz: ZoneInfo, today: date) -> list[Day]:
    grouped: dict[date, list[Card]] = {first + timedelta(days=i): [] for i in range(count)}
    for card in all_cards:
        day = card.post.scheduled_at.astimezone(tz).date()
        if day in grouped:
            grouped[day].append(card)
    return [Day(day=d, title=words.day_title(d, today), cards=c) for d, c in grouped.items()]


def build_queue(
    source: QueueSource,
    *,
    tz: ZoneInfo,
    days: int,
    now: datetime,
    account_id: int | None = None,
    status: str | None = None,
    limit: int = 500,
) -> Queue:
    """Posts from the start of today (in ``tz``) for ``days`` days, and first what needs a person, in the
    order of ``words.ATTENTION_ORDER`` then by time."""
    accounts = source.list_accounts()
    today = now.astimezone(tz).date()
    start, end = day_start(today, tz), day_start(today + timedelta(days=days), tz)
    upcoming = cards(
        source.posts_between(start, end, account_id=account_id, status=status, limit=limit), source, accounts, tz
    )
    flagged = cards(source.posts_needing_people(account_id=account_id), source, accounts, tz)
    flagged = [c for c in flagged if c.attention and (status is None or c.post.status.value == status)]
    flagged.sort(key=lambda c: (words.ATTENTION_ORDER.index(c.attention or words.FAILED), c.post.scheduled_at))
    return Queue(zone=tz, attention=flagged, days=by_day(upcoming, today, days, tz, today), count=len(upcoming))


def build_week(source: QueueSource, *, tz: ZoneInfo, first: date, now: datetime, account_id: int | None) -> list[Day]:
    accounts = source.list_accounts()
    start, end = day_start(first, tz), day_start(first + timedelta(days=7), tz)
    week = cards(source.posts_between(start, end, account_id=account_id), source, accounts, tz)
    return by_day(week, first, 7, tz, now.astimezone(tz).date())
