"""The prepare step for one post: validate, then fill each media slot (generate or normalise, transform,
store) and record it at once, so a retry after a crash or an error only does the missing slots.

No money is spent before validation passes, and the daily image budget is checked before each generation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from postpilot.domain import validation
from postpilot.domain.changes import MediaFilled, NewMedia
from postpilot.domain.edits import PreparedContent, content_of, unchanged_fills, without_fills
from postpilot.domain.errors import Permanent, QuotaExhausted, ServerError, Throttled, Waiting
from postpilot.domain.model import (
    DRAFT_FIELDS,
    Account,
    Aspect,
    MediaSource,
    Post,
    PostMedia,
    PostType,
    effective_aspect,
)
from postpilot.domain.notifications import budget_notice
from postpilot.domain.publish_options import media_items
from postpilot.files import write_atomically
from postpilot.media.ports import ImageGenerator, ImageRequest, MediaKey, MediaStore, StoredMedia
from postpilot.pipeline.ports import MediaLedger

ALT_TEXT_MAX = validation.ALT_TEXT_MAX_CHARS


@dataclass(frozen=True, slots=True)
class Slot:
    """One media position of a post: where it comes from."""

    position: int
    source: MediaSource
    kind: str = "image"
    url: str | None = None  # for provided media
    prompt: str | None = None  # for generated media
    alt_text: str | None = None  # a carousel slide's own alt text (media_urls objects)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the prepare step produced: the fields to write onto the post row as it becomes ready."""

    filled: MediaFilled  # what the marketer left empty, filled so the row shows what will be published
    media: list[PostMedia]
    generated: int
    spent_usd: float


def draft_of(post: Post) -> validation.PostDraft:
    """The post's columns as written, for the rules (the draft has exactly the columns a marketer writes)."""
    return validation.PostDraft(**{name: getattr(post, name) for name in DRAFT_FIELDS})


def plan_slots(post: Post) -> list[Slot]:
    """Which media a (validated) post needs, by position."""
    kind = PostType(post.post_type)
    prompt = (post.prompt or "").strip()
    if kind is PostType.REEL or (kind is PostType.STORY and post.video_url):
        return [Slot(0, MediaSource.PROVIDED, kind="video", url=post.video_url)]
    if kind in (PostType.PHOTO, PostType.STORY):
        if post.image_url:
            return [Slot(0, MediaSource.PROVIDED, url=post.image_url)]
        return [Slot(0, MediaSource.GENERATED, prompt=prompt)]
    if post.media_urls is not None:
        # A carousel mixes images and videos in the order given; videos are fetched by Instagram itself.
        return [
            Slot(i, MediaSource.PROVIDED, kind=item.kind, url=item.url, alt_text=item.alt_text)
            for i, item in enumerate(media_items(post.media_urls))
        ]
    count = post.image_count or validation.carousel_size_for_prompt(prompt)
    return [Slot(i, MediaSource.GENERATED, prompt=prompt) for i in range(count)]


def seconds_until_utc_midnight(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


class Preparer:
    def __init__(
        self,
        *,
        repo: MediaLedger,
        generator_factory: Callable[[], ImageGenerator],
        store_factory: Callable[[], MediaStore],
        daily_budget_usd: float | None = None,
        generation_slots: threading.Semaphore | None = None,
        on_generated: Callable[[str, float], None] | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self._repo = repo
        # Factories, not instances: a provider's SDK is imported only when a post first needs it.
        self._generator_factory = generator_factory
        self._store_factory = store_factory
        self._budget = daily_budget_usd
        self._budget_lock = threading.Lock()
        self._slots = generation_slots
        self._on_generated = on_generated
        # Generated images wait here until the store has them: a failed upload never pays for the image twice.
        self._spool = spool_dir

    def prepare(self, post: Post, account: Account | None) -> Prepared:
        """Raises our errors; the pipeline decides what they mean for the post."""
        post, refill = _without_our_fills(post)
        validation.check(draft_of(post), account)
        aspect = effective_aspect(post.post_type, post.aspect)
        existing = {m.position: m for m in self._repo.media(post.id)}
        done: list[PostMedia] = []
        generated, spent = 0, 0.0
        slots = plan_slots(post)
        for slot in slots:
            if slot.position in existing:
                done.append(self._with_current_url(post, existing[slot.position]))
                continue
            item, cost = self._fill(post, slot, aspect, of_count=len(slots))
            done.append(self._repo.record_media(post.id, item))
            if slot.source is MediaSource.GENERATED:
                generated += 1
                spent += cost
        filled = self._filled(post, done)
        return Prepared(
            filled=replace(filled, prepared_content=_prepared_content(post, filled), refill=refill),
            media=done,
            generated=generated,
            spent_usd=spent,
        )

    def _with_current_url(self, post: Post, item: PostMedia) -> PostMedia:
        """An item stored while the local store had no public address keeps its ``file://`` URL; once
        POSTPILOT_PUBLIC_MEDIA_URL is set, a retry gives it the public one (the file itself is unchanged)."""
        if not (item.stored_url or "").startswith("file:") or item.kind != "image":
            return item
        found = self._store_factory().find(
            MediaKey(post_id=post.id, position=item.position, revision=post.media_revision)
        )
        if found is None or found.url == item.stored_url or found.url.startswith("file:"):
            return item
        self._repo.set_media_url(item.id, found.url)
        return replace(item, stored_url=found.url)

    def _fill(self, post: Post, slot: Slot, aspect: Aspect, *, of_count: int) -> tuple[NewMedia, float]:
        key = MediaKey(post_id=post.id, position=slot.position, revision=post.media_revision)
        context = {"post_id": str(post.id), "position": str(slot.position)}
        if slot.kind == "video":
            # Instagram downloads the video itself from the marketer's URL; nothing to transform here.
            assert slot.url is not None
            return NewMedia(
                position=slot.position,
                source=MediaSource.PROVIDED,
                kind="video",
                stored_url=slot.url,
                width=0,
                height=0,
                bytes=0,
                checksum="",
                source_url=slot.url,
            ), 0.0
        store = self._store_factory()
        if slot.source is MediaSource.PROVIDED:
            assert slot.url is not None
            stored = store.find(key) or store.store_remote_image(key=key, url=slot.url, aspect=aspect, context=context)
            alt = slot.alt_text or post.alt_text
            return self._new_media(slot, stored, source_url=slot.url, alt_text=alt), 0.0
        return self._generate(post, slot, aspect, key, store, context, of_count)

    def _generate(
        self,
        post: Post,
        slot: Slot,
        aspect: Aspect,
        key: MediaKey,
        store: MediaStore,
        context: dict[str, str],
        of_count: int,
    ) -> tuple[NewMedia, float]:
        assert slot.prompt is not None
        stored = store.find(key)
        generator = self._generator_factory()
        request = ImageRequest(
            prompt=slot.prompt, aspect=aspect, caption=post.caption, variation=slot.position, of_count=of_count
        )
        cost, model = 0.0, generator.model
        if stored is None:
            spooled = self._spool / f"{key.name}.jpg" if self._spool else None
            if spooled is not None and spooled.exists():
                # Paid for on an earlier attempt whose upload failed: record what it cost then.
                data = spooled.read_bytes()
                model, cost = _read_receipt(spooled, default_model=generator.model)
            else:
                guard: AbstractContextManager[Any] = self._slots if self._slots is not None else nullcontext()
                with guard:
                    estimate = generator.estimate_cost_usd(request)
                    with self._budget_lock:
                        # Check and reserve together, so two threads never both fit into the last dollar.
                        self._check_budget(estimate)
                        # Written before the request goes out: a crash mid-generation leaves the estimate on
                        # the books, as OpenAI may well have charged it.
                        spend_id = self._repo.reserve_spend(
                            post_id=post.id,
                            position=slot.position,
                            model=generator.model,
                            estimate_usd=estimate,
                            owner=None,
                        )
                    try:
                        image = generator.generate(request)
                    except (Throttled, ServerError, Permanent, Waiting):
                        self._repo.settle_spend(spend_id, cost_usd=0.0)  # refused: nothing was made or billed
                        raise
                    # Anything else (a timeout, a dropped or unreadable answer) leaves the estimate standing:
                    # the image may have been made and billed.
                    self._repo.settle_spend(spend_id, cost_usd=image.cost_usd)
                cost, model = image.cost_usd, image.model
                if self._on_generated:
                    self._on_generated(image.model, cost)
                from postpilot.media.transform import to_instagram_jpeg  # Pillow: only once there is work

                data = to_instagram_jpeg(image.data, aspect).data
                if spooled is not None:
                    spooled.parent.mkdir(parents=True, exist_ok=True)
                    write_atomically(_receipt_path(spooled), json.dumps({"model": model, "cost_usd": cost}).encode())
                    write_atomically(spooled, data)
            stored = store.store_image(key=key, data=data, aspect=aspect, context={**context, "model": model})
            if spooled is not None:
                spooled.unlink(missing_ok=True)
                _receipt_path(spooled).unlink(missing_ok=True)
        alt = (post.alt_text or slot.prompt)[:ALT_TEXT_MAX]
        item = self._new_media(slot, stored, source_url=None, alt_text=alt)
        return replace(item, model=model, cost_usd=cost, prompt=slot.prompt), cost

    def _check_budget(self, estimate: float) -> None:
        if self._budget is None:
            return
        spent = self._repo.spend_today()
        if spent + estimate > self._budget + 1e-9:
            now = datetime.now(UTC)
            # Told once a day, whoever hits the limit first; the posts themselves wait without failing.
            self._repo.queue_notice(budget_notice(budget_usd=self._budget, spent_usd=spent, day=now))
            raise QuotaExhausted(
                f"the daily image budget of ${self._budget:.2f} is spent (${spent:.2f} today); image generation "
                "resumes after midnight UTC, or raise POSTPILOT_DAILY_IMAGE_BUDGET_USD",
                retry_after_s=seconds_until_utc_midnight(now) + 5,
            )

    @staticmethod
    def _new_media(slot: Slot, stored: StoredMedia, *, source_url: str | None, alt_text: str | None) -> NewMedia:
        return NewMedia(
            position=slot.position,
            source=slot.source,
            stored_url=stored.url,
            width=stored.width,
            height=stored.height,
            bytes=stored.bytes,
            checksum=stored.checksum,
            source_url=source_url,
            alt_text=alt_text,
        )

    @staticmethod
    def _filled(post: Post, media: list[PostMedia]) -> MediaFilled:
        """Fill only what the marketer left empty, so the row shows what will be published."""
        kind = PostType(post.post_type)
        image_url = media[0].stored_url if kind is PostType.PHOTO and not post.image_url and media else None
        media_urls = (
            [m.stored_url for m in media if m.stored_url]
            if kind is PostType.CAROUSEL and post.media_urls is None
            else None
        )
        generated = any(m.source is MediaSource.GENERATED for m in media)
        alt_text = post.prompt.strip()[:ALT_TEXT_MAX] if generated and post.alt_text is None and post.prompt else None
        return MediaFilled(image_url=image_url, media_urls=media_urls, alt_text=alt_text)


def _without_our_fills(post: Post) -> tuple[Post, tuple[str, ...]]:
    """The post as the marketer wrote it: on a retry, the columns an earlier preparation filled in (the stored
    image's URL, the alt text from the prompt) still hold those fills; they are inputs no more."""
    ours = unchanged_fills(post, PreparedContent.from_json(post.prepared_content))
    return without_fills(post, ours), ours


def _prepared_content(post: Post, filled: MediaFilled) -> dict[str, Any]:
    """The row as it will read once ``filled`` is written: the baseline a later edit is told apart from."""
    ours = {
        name: value
        for name, value in (
            ("image_url", filled.image_url),
            ("media_urls", filled.media_urls),
            ("alt_text", filled.alt_text),
        )
        if value is not None
    }
    return PreparedContent(content=content_of(post, **ours), filled=tuple(ours)).as_json()


# --- the spool: generated images kept on disk until stored ---------------------------------------------------


def _receipt_path(spooled: Path) -> Path:
    return spooled.with_suffix(".json")


def _read_receipt(spooled: Path, *, default_model: str) -> tuple[str, float]:
    """The model and price of a spooled image, so the retry that stores it records what it cost."""
    try:
        receipt = json.loads(_receipt_path(spooled).read_text())
        return str(receipt["model"]), float(receipt["cost_usd"])
    except (OSError, ValueError, KeyError, TypeError):
        return default_model, 0.0  # spooled by a version without receipts: the cost is unknown
