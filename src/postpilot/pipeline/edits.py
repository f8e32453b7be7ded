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

An approval covers the post as the person saw it (``approved_content``): an edit since then that preparation
does not see (a new first comment, a caption changed before the post was prepared) puts the post back to wait
for a person, its images and container kept. ``EditGuard`` is the pipeline's side of both checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postpilot.domain import validation
from postpilot.domain.edits import (
    PreparedContent,
    edits_since_approved,
    edits_since_prepared,
    unchanged_fills,
    without_fills,
)
from postpilot.domain.events import EventKind
from postpilot.domain.model import TARGET_SIZES, MediaSource, Post, PostMedia, PostStatus, effective_aspect
from postpilot.logging import get_logger
from postpilot.pipeline.outcome import Outcome, StepResult
from postpilot.pipeline.ports import PipelineStore
from postpilot.pipeline.prepare import draft_of, plan_slots

log = get_logger("postpilot.pipeline")


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


class EditGuard:
    """The pipeline's look at a post it holds, right before a container is made and before media_publish: an
    edit since preparation sends it back to be prepared, an edit since approval back to a person, and an edit
    that came while media_publish was under way is said in its history."""

    def __init__(self, *, repo: PipelineStore, owner: str) -> None:
        self._repo = repo
        self.owner = owner

    def reopen_if_edited(self, post: Post, *, expected: PostStatus) -> StepResult | None:
        """A post edited after preparation goes back to be prepared again; None when it was not edited."""
        prepared = PreparedContent.from_json(post.prepared_content)
        if not edits_since_prepared(post, prepared):
            return self._withdraw_if_edited_since_approval(post, expected=expected)
        assert prepared is not None
        plan = plan_reprepare(post, prepared, self._repo.media(post.id))
        if plan is None:
            return None
        reopened = self._repo.reopen_edited(
            post.id,
            owner=self.owner,
            expected=expected,
            clear_fields=plan.clear_fields,
            drop_media=plan.drop_media,
            media_alt_text=plan.media_alt_text,
            message=plan.message,
            detail={"changed": list(plan.changed), "media_dropped": len(plan.drop_media)},
        )
        if not reopened:
            return StepResult(post.id, Outcome.LOST)
        log.info("post_edited", post_id=post.id, changed=list(plan.changed))
        return StepResult(post.id, Outcome.WAITING, plan.message)

    def _withdraw_if_edited_since_approval(self, post: Post, *, expected: PostStatus) -> StepResult | None:
        """An approved post changed in a way preparation does not see (its first comment, or anything edited
        before it was prepared): the person looks again. None in the usual case, decided without a query."""
        if post.approved_at is None:
            return None
        changed = edits_since_approved(post, post.approved_content, PreparedContent.from_json(post.prepared_content))
        if not changed:
            return None
        message = self._repo.withdraw_edited_approval(post.id, owner=self.owner, expected=expected, changed=changed)
        if message is None:
            return StepResult(post.id, Outcome.LOST)
        log.info("approval_withdrawn", post_id=post.id, changed=list(changed))
        return StepResult(post.id, Outcome.WAITING, message)

    def report_late_edit(self, post: Post) -> None:
        """An edit that arrived while media_publish was under way cannot be taken back: say so in the history."""
        prepared = PreparedContent.from_json(post.prepared_content)
        if prepared is None:
            return
        try:
            fresh = self._repo.post(post.id)
            changed = edits_since_prepared(fresh, prepared) if fresh is not None else ()
            if changed:
                self._repo.add_event(
                    post.id,
                    EventKind.EDITED_TOO_LATE,
                    message=f"edited while it was being published ({', '.join(changed)}): Instagram has the "
                    "version prepared before the edit; edit the post on Instagram, or post the new version anew",
                    detail={"changed": list(changed)},
                    actor=self.owner,
                )
        except Exception as exc:  # the post is live and recorded; this note is best effort
            log.warning("late_edit_not_reported", post_id=post.id, error=type(exc).__name__)
