"""What the pipeline needs from the outside, as small Protocols: the post records it changes, the media
ledger, the accounts, and a Graph API session per account. ``db.repository.Repository`` and the clients in
``instagram/`` satisfy them structurally; tests can pass anything shaped the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from postpilot.domain.changes import NewMedia, PostChange
from postpilot.domain.events import EventKind
from postpilot.domain.model import Account, Post, PostMedia, PostStatus
from postpilot.domain.notifications import Notice
from postpilot.instagram.graph_api import GraphApi


class PostStore(Protocol):
    """Guarded changes to posts the pipeline holds (``db/transitions.py``, ``db/leases.py``, ``db/approval.py``)."""

    def post(self, post_id: int) -> Post | None: ...

    def transition(
        self,
        post_id: int,
        *,
        expected: PostStatus | Sequence[PostStatus],
        to: PostStatus,
        owner: str | None,
        kind: EventKind | str,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        change: PostChange | None = None,
    ) -> bool: ...

    def update_owned(
        self,
        post_id: int,
        *,
        owner: str,
        status: PostStatus,
        change: PostChange | None = None,
        kind: EventKind | str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool: ...

    def release_lease(self, post_id: int, *, owner: str, delay_s: float = 0.0) -> bool: ...

    def await_approval(self, post_id: int, *, owner: str) -> None: ...

    def withdraw_edited_approval(
        self, post_id: int, *, owner: str, expected: PostStatus, changed: tuple[str, ...]
    ) -> str | None: ...

    def reopen_edited(
        self,
        post_id: int,
        *,
        owner: str,
        expected: PostStatus,
        clear_fields: Sequence[str],
        drop_media: Sequence[int],
        media_alt_text: dict[int, str | None],
        message: str,
        detail: dict[str, Any],
    ) -> bool: ...

    def add_event(
        self,
        post_id: int,
        kind: EventKind | str,
        *,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None: ...

    def set_permalink(self, post_id: int, *, media_id: str, permalink: str) -> bool: ...

    # The media of a post, read by staging and written by preparation (``db/media.py``).
    def media(self, post_id: int) -> list[PostMedia]: ...

    def set_media_container(self, media_id: int, container_id: str | None) -> None: ...


class MediaLedger(Protocol):
    """What preparation records: each stored item at once, and what images cost (reserved before each request,
    settled after)."""

    def media(self, post_id: int) -> list[PostMedia]: ...

    def record_media(self, post_id: int, item: NewMedia) -> PostMedia: ...

    def set_media_url(self, media_id: int, stored_url: str) -> None: ...

    def spend_today(self) -> float: ...

    def reserve_spend(
        self, *, post_id: int | None, position: int | None, model: str, estimate_usd: float, owner: str | None
    ) -> int: ...

    def settle_spend(self, spend_id: int, *, cost_usd: float) -> None: ...

    # A notice that belongs to no post's transaction (the day's image budget is spent; ``db/alerts.py``).
    def queue_notice(self, notice: Notice) -> bool: ...


class AccountStore(Protocol):
    def account(self, account_id: int) -> Account | None: ...

    def account_throttled_until(self, account_id: int) -> datetime | None: ...

    def mark_account_needs_reconnect(self, account_id: int, message: str) -> None: ...

    def set_account_throttled(self, account_id: int, seconds: float, message: str) -> None: ...


class WorkQueue(Protocol):
    """How the runner takes work and gives it back (``db/leases.py``): atomic claims, leases in database time."""

    def claim_for_prepare(self, *, owner: str, ahead_s: float, lease_s: float, batch: int) -> list[Post]: ...

    def claim_for_stage(self, *, owner: str, ahead_s: float, lease_s: float, batch: int) -> list[Post]: ...

    def claim_for_publish(
        self, *, owner: str, lease_s: float, batch: int, post_id: int | None = None
    ) -> list[Post]: ...

    def claim_stale_publishing(self, *, owner: str, lease_s: float, batch: int) -> list[Post]: ...

    def renew_leases(self, post_ids: Sequence[int], *, owner: str, lease_s: float) -> int: ...

    def unclaim(self, post_id: int, *, owner: str, status: PostStatus) -> bool: ...

    def fail_missed(self, *, max_lateness_s: float, batch: int = 500) -> list[int]: ...

    def posts_by_ids(self, ids: Iterable[int]) -> list[Post]: ...

    def missing_permalinks(self, *, older_than_s: float, within_s: float, limit: int = 20) -> list[Post]: ...


class PipelineStore(PostStore, MediaLedger, AccountStore, Protocol):
    """Everything the per-post steps use; the repository is one."""

    # The duplicate guard's look at the account's posts near this one (``db/duplicates.py``).
    def find_duplicate(self, post: Post, *, window_s: float) -> Post | None: ...


@dataclass(frozen=True)
class GraphSession:
    """The Graph API for one account, for one step. ``dry_run``: the calls are recorded, not sent, and
    ``recorded()`` hands them over (each call once) for the post's history."""

    api: GraphApi
    dry_run: bool = False
    recorded: Callable[[], list[dict[str, Any]]] = field(default=list)


class GraphFactory(Protocol):
    """Chooses the real client or the recording one for an account. ``urgent``: the calls are for a post
    due now, so Meta's usage budgets near their limit do not hold them back (``instagram.usage``)."""

    def __call__(self, account: Account, *, urgent: bool = False) -> GraphSession: ...
