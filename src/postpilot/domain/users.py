"""The people who may use the review page: their roles and the rules for names, passwords and lockout.

Pure: the repository (``db/users.py``) stores them, ``review/auth.py`` checks them at the door.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from postpilot.domain.errors import InvalidInput


class Role(enum.StrEnum):
    REVIEWER = "reviewer"  # looks and acts: approve, reject, regenerate, retry, cancel, prepare now
    VIEWER = "viewer"  # looks only; every action is refused


# Consecutive wrong passwords before a name is locked, and for how long. Five tries cover typing mistakes;
# fifteen minutes make guessing through the form hopeless (a few hundred tries a day at most).
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ReviewUser:
    id: int
    name: str
    role: Role
    password_hash: str
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime | None = None

    @property
    def may_act(self) -> bool:
        return self.role is Role.REVIEWER

    @property
    def actor(self) -> str:
        """How the history names this person (``post_events.actor``), beside ``cli:NAME`` for the CLI."""
        return f"web:{self.name}"

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"the user name {name!r} is not usable: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not password.strip():
        raise InvalidInput("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return password


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}; one of: reviewer (looks and acts), viewer (looks only)") from None
