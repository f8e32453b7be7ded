"""The outbox's sender: claims queued notifications, delivers each to every channel that wants its kind and
does not have it yet, and records the result per channel. Its own thread in the daemon (never a publish
worker: a channel that hangs must not slow publishing); at the end of each ``run-once`` pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from postpilot.db.outbox import GIVE_UP_AFTER_S, AccountChannel, PendingNotice
from postpilot.domain.model import utcnow
from postpilot.domain.notifications import DEFAULT_KINDS, NoticeKind, parse_kinds
from postpilot.logging import get_logger
from postpilot.notify.channels import Channel, DeliveryError, channel_id

log = get_logger("postpilot.notify")

SEND_EVERY_S = 2.0
LEASE_S = 120.0
# A failing channel is tried again after 30 s, then less and less often, up to every 30 minutes.
BACKOFF_S = (30.0, 60.0, 300.0, 900.0, 1800.0)


class OutboxStore(Protocol):
    def claim_notices(self, *, owner: str, lease_s: float, batch: int = 20) -> list[PendingNotice]: ...

    def record_delivery(
        self, notice_id: int, channel: str, *, label: str, sent: bool, error: str | None, give_up: bool
    ) -> None: ...

    def finish_notice(self, notice_id: int, *, owner: str, retry_in_s: float | None) -> None: ...

    def account_channels(self, account_id: int | None = None) -> list[AccountChannel]: ...


class Transport(Protocol):
    def send(self, url: str, *, title: str, body: str) -> None: ...


class NoticeSender:
    def __init__(
        self,
        *,
        store: OutboxStore,
        transport: Transport,
        owner: str,
        global_urls: Sequence[str],
        published_too: bool,
        decrypt: Callable[[str], str],
        on_result: Callable[[str, bool], None] | None = None,
        review_url: str | None = None,
    ) -> None:
        self._store = store
        self._transport = transport
        self._owner = owner
        kinds = DEFAULT_KINDS | ({NoticeKind.PUBLISHED} if published_too else set())
        self._global = [Channel(url=u, kinds=frozenset(kinds)) for u in global_urls if u.strip()]
        self._decrypt = decrypt
        self._on_result = on_result
        self._review_url = review_url  # POSTPILOT_WEB_PUBLIC_URL: messages about a post link to its page
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ one pass
    def deliver_pending(self, *, batch: int = 20, clock: Callable[[], float] = time.monotonic) -> int:
        """Deliver what is queued now; returns how many notifications were looked at.

        A channel that fails is not tried again in the same pass: a channel that hangs until the send timeout
        then costs one timeout per pass instead of one per notice. And what is left when half the claim's
        lease has gone is handed back before the lease runs out, so another replica never claims a notice
        this one is still sending (it would deliver it to the other channels a second time)."""
        notices = self._store.claim_notices(owner=self._owner, lease_s=LEASE_S, batch=batch)
        started = clock()
        failing: set[str] = set()
        for index, notice in enumerate(notices):
            if clock() - started > LEASE_S / 2:
                for rest in notices[index:]:
                    self._store.finish_notice(rest.id, owner=self._owner, retry_in_s=0.0)
                log.warning("notify_pass_cut_short", handed_back=len(notices) - index)
                break
            self._deliver(notice, failing)
        return len(notices)

    def _channels_for(self, notice: PendingNotice) -> list[Channel]:
        chosen = [c for c in self._global if NoticeKind(notice.kind) in c.kinds]
        if notice.account_id is not None or notice.post_id is not None:
            for row in self._store.account_channels(notice.account_id) if notice.account_id is not None else []:
                try:
                    kinds = parse_kinds(row.events)
                    chosen.append(Channel(url=self._decrypt(row.url_encrypted), kinds=kinds, account_id=row.account_id))
                except Exception as exc:  # a channel that cannot be read is skipped, never the message
                    log.warning("notify_channel_unreadable", channel=row.channel, error=type(exc).__name__)
        unique: dict[str, Channel] = {}
        for c in chosen:
            if NoticeKind(notice.kind) in c.kinds:
                unique.setdefault(c.id, c)
        return list(unique.values())

    def _body(self, notice: PendingNotice) -> str:
        """The message, with a link to the post's review page when people have one (added at delivery: the
        address is a setting, and may change while a notice waits)."""
        if self._review_url and notice.post_id is not None:
            return f"{notice.body}\nReview page: {self._review_url}/posts/{notice.post_id}"
        return notice.body

    def _deliver(self, notice: PendingNotice, failing: set[str]) -> None:
        retry = False
        tries = 0
        for channel in self._channels_for(notice):
            if channel.id in notice.sent:
                continue
            if channel.id in failing:  # failed earlier in this pass: the next pass tries it
                retry = True
                tries = max(tries, notice.attempts.get(channel.id, 0) + 1)
                continue
            try:
                self._transport.send(channel.url, title=notice.title, body=self._body(notice))
            except Exception as exc:
                error = str(exc) if isinstance(exc, DeliveryError) else f"{channel.label}: {type(exc).__name__}"
                old = (utcnow() - notice.created_at).total_seconds() > GIVE_UP_AFTER_S
                self._store.record_delivery(
                    notice.id, channel.id, label=channel.label, sent=False, error=error, give_up=old
                )
                log.warning("notification_not_delivered", channel=channel.label, notice=notice.id, error=error)
                if self._on_result:
                    self._on_result(channel.label, False)
                retry = retry or not old
                tries = max(tries, notice.attempts.get(channel.id, 0) + 1)
                failing.add(channel.id)
                continue
            self._store.record_delivery(
                notice.id, channel.id, label=channel.label, sent=True, error=None, give_up=False
            )
            if self._on_result:
                self._on_result(channel.label, True)
        delay = BACKOFF_S[min(tries, len(BACKOFF_S)) - 1] if retry else None
        self._store.finish_notice(notice.id, owner=self._owner, retry_in_s=delay)

    # ------------------------------------------------------------------ the daemon's thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="postpilot-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(SEND_EVERY_S):
            try:
                while self.deliver_pending() and not self._stop.is_set():
                    time.sleep(0)  # drain a backlog before waiting again
            except Exception as exc:  # the database is away: the outbox keeps everything for the next try
                log.warning("notify_pass_failed", error=type(exc).__name__)


__all__ = ["NoticeSender", "channel_id"]
