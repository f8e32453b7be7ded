"""The review page's users (``review_users``): created and reset by ``postpilot user``, checked at its login.

Only Argon2 hashes are stored (``review/auth.py`` makes and checks them); a failed login is counted in the
same transaction that reads the count, so two wrong passwords sent at once both count.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, RowMapping, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from postpilot.db.base import RepoBase
from postpilot.db.models import ReviewUserRow
from postpilot.db.types import db_now
from postpilot.domain.errors import Conflict, NotFound
from postpilot.domain.model import utcnow
from postpilot.domain.users import LOCKOUT, MAX_FAILED_LOGINS, ReviewUser, Role

review_users = cast(Table, ReviewUserRow.__table__)


def _user(row: RowMapping) -> ReviewUser:
    return ReviewUser(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        failed_logins=int(row["failed_logins"] or 0),
        locked_until=row["locked_until"],
        last_login_at=row["last_login_at"],
        created_at=row["created_at"],
    )


class ReviewUsers(RepoBase):
    def add_review_user(self, *, name: str, password_hash: str, role: Role) -> int:
        try:
            with self._tx() as conn:
                return int(
                    conn.execute(
                        insert(review_users)
                        .values(name=name, password_hash=password_hash, role=role.value)
                        .returning(review_users.c.id)
                    ).scalar_one()
                )
        except IntegrityError as exc:
            raise Conflict(
                f"there is already a user named {name!r} (postpilot user password {name} resets it)"
            ) from exc

    def review_user(self, name: str) -> ReviewUser | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(review_users).where(review_users.c.name == name)).mappings().first()
            return _user(row) if row else None

    def review_user_by_id(self, user_id: int) -> ReviewUser | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(review_users).where(review_users.c.id == user_id)).mappings().first()
            return _user(row) if row else None

    def require_review_user(self, name: str) -> ReviewUser:
        found = self.review_user(name)
        if found is None:
            raise NotFound(f"no user named {name!r} (see postpilot user list)")
        return found

    def list_review_users(self) -> list[ReviewUser]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(review_users).order_by(review_users.c.name)).mappings()
            return [_user(r) for r in rows]

    def remove_review_user(self, name: str) -> None:
        with self._tx() as conn:
            if not conn.execute(delete(review_users).where(review_users.c.name == name)).rowcount:
                raise NotFound(f"no user named {name!r} (see postpilot user list)")

    def set_review_user_password(self, name: str, password_hash: str) -> None:
        """A new password, which also lifts a lockout (an administrator vouched for the person)."""
        with self._tx() as conn:
            changed = conn.execute(
                update(review_users)
                .where(review_users.c.name == name)
                .values(password_hash=password_hash, failed_logins=0, locked_until=None, updated_at=db_now())
            ).rowcount
            if not changed:
                raise NotFound(f"no user named {name!r} (see postpilot user list)")

    def record_failed_login(self, user_id: int) -> ReviewUser | None:
        """One more wrong password; the last one allowed locks the name for ``LOCKOUT``. A lock that has run out
        starts the count again."""
        now = utcnow()
        with self._tx() as conn:
            current = self._locked_row(conn, user_id)
            if current is None:
                return None
            expired = current.locked_until is not None and current.locked_until <= now
            failures = 1 if expired else current.failed_logins + 1
            locked_until: datetime | None = None if expired else current.locked_until
            if failures >= MAX_FAILED_LOGINS:
                locked_until = now + LOCKOUT
            conn.execute(
                update(review_users)
                .where(review_users.c.id == user_id)
                .values(failed_logins=failures, locked_until=locked_until, updated_at=db_now())
            )
        return self.review_user_by_id(user_id)

    def record_login(self, user_id: int, *, new_hash: str | None = None) -> None:
        """A successful login: the count starts again; ``new_hash`` replaces a hash made with older parameters."""
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": utcnow()}
        if new_hash:
            values["password_hash"] = new_hash
        with self._tx() as conn:
            conn.execute(update(review_users).where(review_users.c.id == user_id).values(**values))

    @staticmethod
    def _locked_row(conn: Connection, user_id: int) -> ReviewUser | None:
        # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE (db/engine.py) already serialises writers.
        row = (
            conn.execute(select(review_users).where(review_users.c.id == user_id).with_for_update()).mappings().first()
        )
        return _user(row) if row else None
