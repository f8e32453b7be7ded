"""Instagram's content-publishing limit (API posts per account per rolling 24 h), read ahead of time.

The design wants one HTTP round trip — ``media_publish`` — between the scheduled instant and the live post. So
the limit is read while staging (minutes before) and remembered per account; at the scheduled instant a recent
reading with room left is trusted, and only a stale or nearly full one is read again.

The reading is shared through the database (``accounts.quota_*``), and every replica's publish adds one to it
there, so a replica that did not stage a post still trusts the reading at the scheduled instant: it comes with
the account, which the publish step loads anyway, at no extra round trip.

Trusting a reading is safe: the check only spares a doomed call. If another replica (or a person in the
Instagram app) used the last slots meanwhile, Meta refuses ``media_publish`` with its quota error, which
publishes nothing and is deferred the same way (``error_table``: 9 / 2207042).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from postpilot.domain import errors
from postpilot.domain.model import Account
from postpilot.instagram.graph_api import GraphApi, PublishingLimit

QUOTA_RETRY_S = 600.0


class QuotaStore(Protocol):
    """Where readings are shared between replicas (``db/accounts.py``)."""

    def save_quota_reading(self, account_id: int, *, usage: int, total: int | None) -> None: ...

    def count_quota_publish(self, account_id: int) -> None: ...

    def forget_quota_reading(self, account_id: int) -> None: ...


@dataclass(slots=True)
class _Reading:
    usage: int
    total: int | None
    read_at: float  # seconds since the epoch
    published_since: int = 0  # our own successful publishes after the reading (memory only)

    def has_room(self, margin: int) -> bool:
        return self.total is None or self.usage + self.published_since + margin < self.total


class PublishingQuota:
    """Each account's last ``content_publishing_limit`` reading: in this process's memory, and with a ``store``
    in the database for every replica."""

    def __init__(
        self,
        *,
        store: QuotaStore | None = None,
        fresh_s: float = 3600.0,
        margin: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # ``margin`` keeps a reading from being trusted when only a slot or two is left: then we read again.
        self._store = store
        self._fresh_s = fresh_s
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._readings: dict[tuple[int, bool], _Reading] = {}

    def check(self, graph: GraphApi, account: Account) -> None:
        """Raise ``QuotaExhausted`` when the account has no slot left; reads Instagram only when needed."""
        reading = self._recent(account)
        if reading is not None and reading.has_room(self._margin):
            return
        limit = self.read(graph, account)
        if limit.quota_total is not None and limit.quota_usage >= limit.quota_total:
            raise errors.QuotaExhausted(
                f"the account reached Instagram's limit of {limit.quota_total} API posts per 24 hours; "
                "the post waits for a free slot",
                retry_after_s=QUOTA_RETRY_S,
            )

    def read(self, graph: GraphApi, account: Account) -> PublishingLimit:
        limit = graph.publishing_limit(account.ig_user_id)
        with self._lock:
            self._readings[_key(account)] = _Reading(limit.quota_usage, limit.quota_total, self._clock())
        if self._shared(account):
            assert self._store is not None
            with contextlib.suppress(Exception):  # sharing is an optimisation; the reading in hand stands
                self._store.save_quota_reading(account.id, usage=limit.quota_usage, total=limit.quota_total)
        return limit

    def refresh_if_stale(self, graph: GraphApi, account: Account) -> None:
        """Best effort, while staging: keep a fresh reading for the scheduled instant. Errors are ignored here;
        the publish step reads again if it has nothing recent."""
        reading = self._recent(account)
        if reading is not None and self._clock() - reading.read_at < self._fresh_s / 2:
            return
        with contextlib.suppress(errors.PostpilotError):
            self.read(graph, account)

    def published(self, account: Account) -> None:
        with self._lock:
            reading = self._readings.get(_key(account))
            if reading is not None:
                reading.published_since += 1
        if self._shared(account):
            assert self._store is not None
            with contextlib.suppress(Exception):
                self._store.count_quota_publish(account.id)

    def forget(self, account: Account) -> None:
        with self._lock:
            self._readings.pop(_key(account), None)
        if self._shared(account):
            assert self._store is not None
            with contextlib.suppress(Exception):
                self._store.forget_quota_reading(account.id)

    def _shared(self, account: Account) -> bool:
        # Dry-run readings are invented by the recording client: never let them stand in for a real account's.
        return self._store is not None and not account.dry_run

    def _recent(self, account: Account) -> _Reading | None:
        """The newest fresh reading: this process's, or the shared one that came with ``account`` (which also
        counts every replica's publishes since). The shared one wins a tie."""
        with self._lock:
            mine = self._readings.get(_key(account))
        shared = None
        if self._shared(account) and account.quota_read_at is not None and account.quota_usage is not None:
            shared = _Reading(account.quota_usage, account.quota_total, account.quota_read_at.timestamp())
        candidates = [r for r in (shared, mine) if r is not None and self._clock() - r.read_at <= self._fresh_s]
        if not candidates:
            return None
        return max(candidates, key=lambda r: r.read_at)


def _key(account: Account) -> tuple[int, bool]:
    return (account.id, account.dry_run)
