"""What was prepared, to tell a marketer's later edit from the row as preparation left it (``pipeline/edits.py``
acts on the difference)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from postpilot.domain.model import CONTENT_FIELDS, Post

# Fields preparation may fill in when the marketer left them empty (``pipeline.prepare.Preparer._filled``).
FILLABLE = ("image_url", "media_urls", "alt_text")


@dataclass(frozen=True, slots=True)
class PreparedContent:
    content: dict[str, Any]
    filled: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"content": self.content, "filled": list(self.filled)}

    @staticmethod
    def from_json(value: Any) -> PreparedContent | None:
        """None for a post prepared before edits were tracked, or a record that is not ours."""
        if not isinstance(value, dict) or not isinstance(value.get("content"), dict):
            return None
        filled = value.get("filled")
        names = tuple(str(f) for f in filled) if isinstance(filled, list) else ()
        return PreparedContent(content=dict(value["content"]), filled=names)


# What preparation records, and an edit is looked for in: the content, and the account it goes out on (a
# container belongs to one Instagram account: a post moved to another is staged again there).
PREPARED_FIELDS = (*CONTENT_FIELDS, "account_id")


def content_of(post: Post, **overrides: Any) -> dict[str, Any]:
    values = {name: getattr(post, name) for name in PREPARED_FIELDS}
    values.update(overrides)
    return {name: _normal(values[name]) for name in PREPARED_FIELDS}


def _normal(value: Any) -> Any:
    # What a marketer would call "the same": an empty caption is no caption; JSON comes back as lists.
    if value == "":
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


def edits_since_prepared(post: Post, prepared: PreparedContent | None) -> tuple[str, ...]:
    if prepared is None:
        return ()
    now = content_of(post)
    return tuple(
        name
        for name in PREPARED_FIELDS
        # A record made before a field was recorded says nothing about it (the account, before this revision).
        if (name in CONTENT_FIELDS or name in prepared.content) and now[name] != _normal(prepared.content.get(name))
    )


def unchanged_fills(post: Post, prepared: PreparedContent | None) -> tuple[str, ...]:
    """The columns preparation filled in that still hold its fill: inputs no more, to be filled again from the
    inputs as they are now. A fill the marketer has since overwritten is theirs and is not among them."""
    if prepared is None:
        return ()
    now = content_of(post)
    return tuple(
        name for name in prepared.filled if name in FILLABLE and now[name] == _normal(prepared.content.get(name))
    )


def without_fills(post: Post, names: tuple[str, ...]) -> Post:
    """``post`` as the marketer wrote it: the named fills cleared."""
    if not names:
        return post
    return replace(
        post,
        image_url=None if "image_url" in names else post.image_url,
        media_urls=None if "media_urls" in names else post.media_urls,
        alt_text=None if "alt_text" in names else post.alt_text,
    )


# What a person approves: everything the post will publish, and the first comment that goes out with it. An
# approval covers exactly these as they stood when it was given (``approved_content``, stored with it), so an
# edit made after it, even one that needs no new preparation (the first comment), or one made before the post
# was prepared, is seen before anything goes out.
APPROVED_FIELDS = (*CONTENT_FIELDS, "first_comment", "account_id")


def approved_content(post: Post) -> dict[str, Any]:
    return {name: _normal(getattr(post, name)) for name in APPROVED_FIELDS}


def edits_since_approved(post: Post, approved: Any, prepared: PreparedContent | None) -> tuple[str, ...]:
    """The fields changed since ``approved`` (the stored ``approved_content``) was taken; () for an approval
    given before approvals recorded what they covered. A field preparation filled in after an approval given
    before it (the stored URL of a generated image) is preparation's, not an edit."""
    if not isinstance(approved, dict):
        return ()
    now = approved_content(post)

    def filled_since(name: str) -> bool:
        return (
            prepared is not None
            and name in prepared.filled
            and approved.get(name) is None
            and now[name] == _normal(prepared.content.get(name))
        )

    return tuple(
        name
        for name in APPROVED_FIELDS
        if name in approved and now[name] != _normal(approved[name]) and not filled_since(name)
    )
