"""Accounts: who posts are published as, their encrypted tokens, and whether they can publish now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from postpilot.db.base import RepoBase
from postpilot.db.rows import account_from_row, accounts
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain.errors import Conflict, InvalidInput, NotFound
from postpilot.domain.model import Account, LoginKind, utcnow


class AccountRecords(RepoBase):
    def create_account(
        self,
        *,
        name: str,
        ig_user_id: str,
        login_kind: LoginKind,
        dry_run: bool,
        token_encrypted: str | None,
        token_expires_at: datetime | None = None,
        token_issued_at: datetime | None = None,
        granted_scopes: Sequence[str] | None = None,
    ) -> int:
        values: dict[str, Any] = {
            "name": name,
            "ig_user_id": ig_user_id,
            "login_kind": login_kind.value,
            "dry_run": dry_run,
            "access_token_encrypted": token_encrypted,
            "token_expires_at": token_expires_at,
            "token_issued_at": token_issued_at,
        }
        if granted_scopes:  # only when known: the column's default (NULL) says "not known"
            values["granted_scopes"] = " ".join(granted_scopes)
        try:
            with self._tx() as conn:
                result = conn.execute(insert(accounts).values(**values).returning(accounts.c.id))
                return int(result.scalar_one())
        except IntegrityError as exc:
            raise Conflict(f"an account named {name!r} already exists") from exc

    def account(self, account_id: int) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
            return account_from_row(row) if row else None

    def account_by_name(self, name: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(accounts).where(accounts.c.name == name)).mappings().first()
            return account_from_row(row) if row else None

    def require_account(self, name: str) -> Account:
        found = self.account_by_name(name)
        if found is None:
            raise NotFound(f"no account named {name!r} (see postpilot account list)")
        return found

    def list_accounts(self) -> list[Account]:
        with self.engine.connect() as conn:
            return [account_from_row(r) for r in conn.execute(select(accounts).order_by(accounts.c.id)).mappings()]

    def account_token_encrypted(self, account_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(accounts.c.access_token_encrypted).where(accounts.c.id == account_id)
            ).scalar_one_or_none()

    def account_token_times(self, account_id: int) -> tuple[datetime | None, datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(accounts.c.token_issued_at, accounts.c.token_expires_at).where(accounts.c.id == account_id)
            ).first()
            return (row[0], row[1]) if row else (None, None)

    def set_account_token(
        self,
        account_id: int,
        *,
        token_encrypted: str,
        expires_at: datetime | None,
        issued_at: datetime | None,
        ig_user_id: str | None = None,
        granted_scopes: Sequence[str] | None = None,
        keep_scopes: bool = False,
    ) -> None:
        """A new token. ``granted_scopes``: what Meta granted it (``account connect``); a token given by hand is
        of unknown permissions (None), a refreshed one keeps its token's (``keep_scopes``)."""
        values: dict[str, Any] = {
            "access_token_encrypted": token_encrypted,
            "token_expires_at": expires_at,
            "token_issued_at": issued_at,
            "needs_reconnect": False,
            "last_error": None,
            "token_refresh_error": None,
            "updated_at": db_now(),
        }
        if ig_user_id:
            values["ig_user_id"] = ig_user_id
        if not keep_scopes:
            values["granted_scopes"] = " ".join(granted_scopes) if granted_scopes else None
        with self._tx() as conn:
            conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))

    def replace_refreshed_token(
        self,
        account_id: int,
        *,
        token_encrypted: str,
        expires_at: datetime | None,
        issued_at: datetime,
        was_issued_at: datetime | None,
    ) -> bool:
        """Store a refreshed token only if the stored one is still the one refreshed (compare-and-set on its
        issue time), so two replicas refreshing at once, or a reconnect meanwhile, never go backwards."""
        issued_then = (
            accounts.c.token_issued_at.is_(None)
            if was_issued_at is None
            else accounts.c.token_issued_at == was_issued_at
        )
        with self._tx() as conn:
            done = conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id, issued_then)
                .values(
                    access_token_encrypted=token_encrypted,
                    token_expires_at=expires_at,
                    token_issued_at=issued_at,
                    token_refresh_error=None,
                    updated_at=db_now(),
                )
            )
            return bool(done.rowcount)

    def set_token_refresh_error(self, account_id: int, message: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(token_refresh_error=message, updated_at=db_now())
            )

    def accounts_due_for_refresh(self, *, expiring_before: datetime, issued_before: datetime) -> list[Account]:
        """Live Instagram Login accounts whose token is old enough to refresh and close enough to its end."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(accounts).where(
                    accounts.c.login_kind == LoginKind.INSTAGRAM.value,
                    accounts.c.dry_run.is_(False),
                    accounts.c.needs_reconnect.is_(False),
                    accounts.c.access_token_encrypted.is_not(None),
                    accounts.c.token_expires_at.is_not(None),
                    accounts.c.token_expires_at <= expiring_before,
                    or_(accounts.c.token_issued_at.is_(None), accounts.c.token_issued_at <= issued_before),
                )
            ).mappings()
            return [account_from_row(r) for r in rows]

    def mark_account_needs_reconnect(self, account_id: int, message: str) -> None:
        with self._tx() as conn:
            newly = conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id, accounts.c.needs_reconnect.is_(False))
                .values(needs_reconnect=True, last_error=message, updated_at=db_now())
                .returning(accounts.c.name)
            ).first()
            if newly is None:  # already known: told once, when it started
                conn.execute(
                    update(accounts).where(accounts.c.id == account_id).values(last_error=message, updated_at=db_now())
                )
                return
            from postpilot.db import outbox
            from postpilot.domain.notifications import reconnect_notice

            outbox.enqueue(conn, reconnect_notice(account_id, str(newly[0]), message, since=utcnow()))

    def set_account_throttled(self, account_id: int, seconds: float, message: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(throttled_until=db_now_plus(seconds), last_error=message, updated_at=db_now())
            )

    def account_throttled_until(self, account_id: int) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(accounts.c.throttled_until).where(accounts.c.id == account_id)
            ).scalar_one_or_none()

    def accounts_at_risk(self, *, within: timedelta = timedelta(days=7)) -> list[Account]:
        limit = datetime.now(UTC) + within
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(accounts).where(
                    or_(
                        accounts.c.needs_reconnect,
                        accounts.c.token_refresh_error.is_not(None),
                        and_(accounts.c.token_expires_at.is_not(None), accounts.c.token_expires_at <= limit),
                    )
                )
            ).mappings()
            return [account_from_row(r) for r in rows]

    # --- the publishing quota, shared by the replicas (``instagram/quota.py``) ---
    def save_quota_reading(self, account_id: int, *, usage: int, total: int | None) -> None:
        with self._tx() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(quota_usage=usage, quota_total=total, quota_read_at=db_now())
            )

    def count_quota_publish(self, account_id: int) -> None:
        """One more post used, by whichever replica: the shared reading stays true between reads."""
        with self._tx() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id, accounts.c.quota_usage.is_not(None))
                .values(quota_usage=accounts.c.quota_usage + 1)
            )

    def forget_quota_reading(self, account_id: int) -> None:
        with self._tx() as conn:
            conn.execute(update(accounts).where(accounts.c.id == account_id).values(quota_read_at=None))

    def rename_account(self, account_id: int, new_name: str) -> None:
        if not new_name:
            raise InvalidInput("the new name is empty")
        with self._tx() as conn:
            taken = conn.execute(
                select(accounts.c.id).where(accounts.c.name == new_name, accounts.c.id != account_id)
            ).first()
            if taken:
                raise Conflict(f"there is already an account named {new_name!r}")
            conn.execute(update(accounts).where(accounts.c.id == account_id).values(name=new_name, updated_at=db_now()))

    def remove_account(self, account_id: int, *, with_posts: bool) -> int:
        """Delete an account; returns how many finished posts went with it."""
        from postpilot.db.rows import posts

        open_statuses = ("scheduled", "preparing", "ready", "publishing", "unconfirmed")
        with self._tx() as conn:
            rows = conn.execute(
                select(posts.c.status, func.count()).where(posts.c.account_id == account_id).group_by(posts.c.status)
            ).all()
            counts: dict[str, int] = {str(r[0]): int(r[1]) for r in rows}
            pending = sum(n for status, n in counts.items() if status in open_statuses)
            if pending:
                raise Conflict(
                    f"the account has {pending} post(s) still to publish or to check (scheduled, preparing, ready, "
                    "publishing or unconfirmed): cancel them first (postpilot post cancel ID)"
                )
            finished = sum(counts.values())
            if finished and not with_posts:
                raise Conflict(
                    f"the account has {finished} finished post(s) with their history: add --with-posts to delete "
                    "them too"
                )
            if finished:
                conn.execute(delete(posts).where(posts.c.account_id == account_id))
            conn.execute(delete(accounts).where(accounts.c.id == account_id))
            return int(finished)

    def set_account_require_approval(self, account_id: int, required: bool) -> None:
        with self._tx() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(require_approval=required, updated_at=db_now())
            )

    def set_account_duplicate_guard(self, account_id: int, on: bool) -> None:
        with self._tx() as conn:
            conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(duplicate_guard=on, updated_at=db_now())
            )

    def set_account_prepare_ahead(self, account_id: int, seconds: int | None) -> None:
        """How long before its time a post of this account is prepared; None follows the setting."""
        with self._tx() as conn:
            conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(prepare_ahead_s=seconds, updated_at=db_now())
            )

    def set_account_time_zone(self, account_id: int, zone: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(time_zone=zone, updated_at=db_now())
            )
