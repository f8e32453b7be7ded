"""Argon2 password hashes for the review page's users (argon2-cffi's defaults: Argon2id, RFC 9106's
low-memory profile). Kept apart from the Flask app so ``postpilot user`` hashes without loading a web stack."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rehash: str | None = None  # a new hash when the stored one was made with weaker parameters


def verify_password(stored_hash: str, password: str) -> Verdict:
    hasher = _hasher()
    try:
        hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return Verdict(ok=False)
    return Verdict(ok=True, rehash=hasher.hash(password) if hasher.check_needs_rehash(stored_hash) else None)


@cache
def _decoy_hash() -> str:
    return _hasher().hash("postpilot: no such user")


def spend_like_a_check(password: str) -> None:
    """An unknown name costs as long as a wrong password, so the login's timing does not tell names apart."""
    verify_password(_decoy_hash(), password)
