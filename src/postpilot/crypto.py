"""Access tokens at rest: Fernet (AES-128-CBC + HMAC) with POSTPILOT_SECRET_KEY.

``cryptography`` (about 7 MB of RSS) is imported when a cipher is first built (``App.cipher`` is lazy): a
daemon with only dry-run accounts never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postpilot.domain.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

HOW_TO_MAKE_A_KEY = (
    "set POSTPILOT_SECRET_KEY to a Fernet key; make one with: "
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def generate_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class TokenCipher:
    def __init__(self, key: str | None) -> None:
        if not key:
            raise ConfigError(f"no secret key to encrypt access tokens: {HOW_TO_MAKE_A_KEY}")
        from cryptography.fernet import Fernet

        try:
            self._fernet: Fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"POSTPILOT_SECRET_KEY is not a valid Fernet key: {HOW_TO_MAKE_A_KEY}") from exc

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError(
                "a stored access token cannot be decrypted: POSTPILOT_SECRET_KEY is not the key it was stored with"
            ) from exc
