"""Edits after preparation: what the marketer wrote is what goes out.

Preparation records what it prepared: the post's content columns as they stood, and which of them it filled in
itself (``domain.edits.PreparedContent``, stored in ``scheduled_posts.prepared_content``). Before a container is
made and again right before ``media_publish``, the row as it is now is compared with that record. The row is read by the
claim anyway, so the check costs no query, and it sees a plain SQL ``UPDATE`` exactly as it sees
``postpilot post edit``.

When something differs the post goes back to ``scheduled`` and is prepared again at once. Only media whose
inputs changed are thrown away (a new prompt regenerates the generated images, a new URL fetches that item, a
new aspect or type remakes everything); a changed caption or alt text keeps every image and only makes new
containers. The fields preparation filled in (the stored image URL of a generated photo, its alt text) are
cleared so they are filled again from the new inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postpilot.domain import validation
from postpilot.domain.edits import PreparedContent, edits_since_prepared, unchanged_fills, without_fills
from postpilot.domain.model import TARGET_SIZES, MediaSource, Post, PostMedia, effective_aspect
from postpilot.pipeline.prepare import draft_of, plan_slots


@dataclass(frozen=True, slots=True)
class Reprepare:
    """What to undo so that preparation starts again from what the marketer wrote now."""

    changed: tuple[str, ...]
    clear_fields: tuple[str, ...] = ()  # our own fills, made from the old inputs
    drop_media: tuple[int, ...] = ()  # post_media ids whose inputs changed
    media_alt_text: dict[int, str | None] = field(default_factory=dict)  # kept items' new alt text

    @property
    def message(self) -> str:
        names = ", ".join(self.changed)
        kept = "" if self.drop_media else "; the images are kept"
        return f"edited after preparation ({names}): preparing again so the new version is published{kept}"


def plan_reprepare(post: Post, prepared: PreparedContent, media: list[PostMedia]) -> Reprepare | None:
    """None when the row still says what was prepared."""
    changed = edits_since_prepared(post, prepared)
    if not changed:
        return None
    # Our fills made from the old inputs go; a field the marketer changed is theirs now and stays.
    clear = unchanged_fills(post, prepared)
    wanted = without_fills(post, clear)
    keep = _media_still_wanted(wanted, media)
    drop = tuple(m.id for m in media if m.id not in keep)
    alt: dict[int, str | None] = {}
    if "alt_text" in changed:
        for m in media:
            if m.id in keep:
                alt[m.id] = wanted.alt_text or (m.prompt if m.source is MediaSource.GENERATED else None)
    return Reprepare(changed=changed, clear_fields=clear, drop_media=drop, media_alt_text=alt)


def _media_still_wanted(post: Post, media: list[PostMedia]) -> set[int]:
    if validation.problems(draft_of(post), account_required=False):
        return set()  # the edit broke the post: nothing is kept, and preparation says what is wrong
    slots = {slot.position: slot for slot in plan_slots(post)}
    try:
        target = TARGET_SIZES[effective_aspect(post.post_type, post.aspect)]
    except ValueError:
        return set()
    keep: set[int] = set()
    for m in media:
        slot = slots.get(m.position)
        if slot is None or slot.source is not m.source or slot.kind != m.kind:
            continue
        if m.source is MediaSource.PROVIDED and slot.url != m.source_url:
            continue
        if m.source is MediaSource.GENERATED and slot.prompt != m.prompt:
            continue
        if m.kind == "image" and (m.width, m.height) != target:
            continue
        keep.add(m.id)
    return keep
