"""The notification outbox (issue 14): written in the transaction of the state change that causes it, read and
marked by the sender. Claims use the same lease rules as posts (a dead sender's notifications are taken over),
and ``notification_deliveries`` remembers per channel what was sent, so a retry never repeats a channel that
has it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from postpilot.db import claims
from postpilot.db.base import RepoBase
from postpilot.db.rows import accounts, channels, deliveries, notifications, posts
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain.notifications import Notice, PostFacts

# After this long a channel that keeps failing is given up for that message (and shown on /status).
GIVE_UP_AFTER_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class PendingNotice:
    id: int
    kind: str
    title: str
    body: str
    post_id: int | None
    account_id: int | None
    created_at: datetime
    sent: frozenset[str]  # channels that have it already
    attempts: dict[str, int]


@dataclass(frozen=True, slots=True)
class AccountChannel:
    id: int
    account_id: int
    url_encrypted: str
    channel: str
    events: str


def enqueue(conn: Connection, notice: Notice) -> bool:
    """Queue ``notice`` inside the caller's transaction; False when the same event is already queued."""
    exists = conn.execute(select(notifications.c.id).where(notifications.c.dedupe_key == notice.dedupe_key)).first()
    if exists:
        return False
    try:
        with conn.begin_nested():
            conn.execute(
                insert(notifications).values(
                    kind=notice.kind.value,
                    dedupe_key=notice.dedupe_key,
                    post_id=notice.post_id,
                    account_id=notice.account_id,
                    title=notice.title,
                    body=notice.body,
                )
            )
    except IntegrityError:  # another replica queued it at the same moment
        return False
    return True


def post_facts(conn: Connection, post_id: int) -> PostFacts | None:
    row = conn.execute(
        select(posts.c.id, posts.c.scheduled_at, posts.c.caption, accounts.c.name, accounts.c.id, accounts.c.time_zone)
        .select_from(posts.join(accounts, accounts.c.id == posts.c.account_id))
        .where(posts.c.id == post_id)
    ).first()
    if row is None:
        return None
    return PostFacts(
        post_id=int(row[0]),
        account=str(row[3]),
        scheduled_at=row[1],
        caption=str(row[2] or ""),
        account_id=int(row[4]),
        time_zone=str(row[5] or "UTC"),
    )


class Outbox(RepoBase):
    def claim_notices(self, *, owner: str, lease_s: float, batch: int = 20) -> list[PendingNotice]:
        due = or_(notifications.c.next_attempt_at.is_(None), notifications.c.next_attempt_at <= db_now())
        with self._tx() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(
                    claims.claim_statement(
                        self.dialect,
                        where=and_(notifications.c.done_at.is_(None), claims.lease_free(notifications), due),
                        values={"lease_owner": owner, "lease_until": db_now_plus(lease_s)},
                        batch=batch,
                        table=notifications,
                        oldest="created_at",
                    )
                )
            ]
            if not ids:
                return []
            rows = conn.execute(select(notifications).where(notifications.c.id.in_(ids))).mappings().all()
            done = conn.execute(
                select(
                    deliveries.c.notification_id, deliveries.c.channel, deliveries.c.state, deliveries.c.attempts
                ).where(deliveries.c.notification_id.in_(ids))
            ).all()
        sent: dict[int, set[str]] = {}
        attempts: dict[int, dict[str, int]] = {}
        for nid, channel, state, tries in done:
            attempts.setdefault(int(nid), {})[str(channel)] = int(tries)
            if state in ("sent", "gave_up"):
                sent.setdefault(int(nid), set()).add(str(channel))
        return [
            PendingNotice(
                id=int(r["id"]),
                kind=str(r["kind"]),
                title=str(r["title"]),
                body=str(r["body"]),
                post_id=r["post_id"],
                account_id=r["account_id"],
                created_at=r["created_at"],
                sent=frozenset(sent.get(int(r["id"]), set())),
                attempts=attempts.get(int(r["id"]), {}),
            )
            for r in sorted(rows, key=lambda r: int(r["id"]))
        ]

    def record_delivery(
        self, notice_id: int, channel: str, *, label: str, sent: bool, error: str | None, give_up: bool
    ) -> None:
        state = "sent" if sent else ("gave_up" if give_up else "failing")
        with self._tx() as conn:
            changed = conn.execute(
                update(deliveries)
                .where(deliveries.c.notification_id == notice_id, deliveries.c.channel == channel)
                .values(state=state, attempts=deliveries.c.attempts + 1, last_error=error, updated_at=db_now())
            ).rowcount
            if not changed:
                conn.execute(
                    insert(deliveries).values(
                        notification_id=notice_id,
                        channel=channel,
                        label=label,
                        state=state,
                        attempts=1,
                        last_error=error,
                    )
                )

    def finish_notice(self, notice_id: int, *, owner: str, retry_in_s: float | None) -> None:
        """Every channel has it (``retry_in_s`` None), or some must be tried again later."""
        values: dict[str, object] = {"lease_owner": None, "lease_until": None}
        if retry_in_s is None:
            values["done_at"] = db_now()
        else:
            values["next_attempt_at"] = db_now_plus(retry_in_s)
        with self._tx() as conn:
            conn.execute(
                update(notifications)
                .where(notifications.c.id == notice_id, notifications.c.lease_owner == owner)
                .values(**values)
            )

    def failing_channels(self) -> list[tuple[str, int, str | None]]:
        """Channels whose latest attempts failed: (channel, messages waiting for it, last error)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.label, deliveries.c.last_error)
                .where(deliveries.c.state.in_(("failing", "gave_up")))
                .order_by(deliveries.c.updated_at.desc())
            ).all()
        out: dict[str, tuple[int, str | None]] = {}
        for channel, error in rows:
            count, first_error = out.get(str(channel), (0, error))
            out[str(channel)] = (count + 1, first_error)
        return [(c, n, e) for c, (n, e) in out.items()]

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(notifications).where(notifications.c.done_at.is_(None))
                ).scalar_one()
            )

    def notices(self, *, post_id: int | None = None) -> list[tuple[str, str, datetime | None]]:
        """(kind, title, done_at) of queued notifications, oldest first (for tests and ``post show``)."""
        query = select(notifications.c.kind, notifications.c.title, notifications.c.done_at).order_by(
            notifications.c.id
        )
        if post_id is not None:
            query = query.where(notifications.c.post_id == post_id)
        with self.engine.connect() as conn:
            return [(str(k), str(t), d) for k, t, d in conn.execute(query)]

    # --- an account's own channels ---------------------------------------------------------------------------
    def add_account_channel(self, account_id: int, *, url_encrypted: str, channel: str, events: str) -> None:
        with self._tx() as conn:
            changed = conn.execute(
                update(channels)
                .where(and_(channels.c.account_id == account_id, channels.c.channel == channel))
                .values(url_encrypted=url_encrypted, events=events)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(channels).values(
                        account_id=account_id, url_encrypted=url_encrypted, channel=channel, events=events
                    )
                )

    def remove_account_channels(self, account_id: int) -> int:
        with self._tx() as conn:
            return conn.execute(delete(channels).where(channels.c.account_id == account_id)).rowcount

    def account_channels(self, account_id: int | None = None) -> list[AccountChannel]:
        query = select(channels).order_by(channels.c.id)
        if account_id is not None:
            query = query.where(channels.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [
                AccountChannel(
                    id=int(r["id"]),
                    account_id=int(r["account_id"]),
                    url_encrypted=str(r["url_encrypted"]),
                    channel=str(r["channel"]),
                    events=str(r["events"]),
                )
                for r in conn.execute(query).mappings()
            ]
