"""Keeping Instagram Login tokens alive without a person: they live 60 days and die unless refreshed.

Meta refreshes a long-lived Instagram Login token that is at least 24 hours old and not expired
(``GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token``; a new 60-day token). The daemon
looks every hour (``run-once`` on each run) for accounts whose token is older than a day and ends within
``REFRESH_WITHIN`` and refreshes them. Facebook Login accounts hold a Page token, which does not expire.

- The new token replaces the old one only if the stored token is still the one that was refreshed (the
  repository compares its issue time), so two replicas refreshing at once, or a reconnect meanwhile, never
  go backwards; both new tokens are valid anyway.
- A refusal that means the token is dead marks the account *needs reconnect* (its posts wait, ``/status``
  lists it); any other failure is recorded as the account's ``token_refresh_error``, which puts it on
  ``/status``'s ``accounts_at_risk`` with the date the token runs out, and is tried again an hour later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from postpilot.crypto import TokenCipher
from postpilot.db.repository import Repository
from postpilot.domain.errors import Conflict, NeedsReconnect, PostpilotError
from postpilot.domain.model import Account, utcnow
from postpilot.logging import get_logger, register_secret

log = get_logger("postpilot.tokens")

REFRESH_WITHIN = timedelta(days=10)
REFRESH_MIN_AGE = timedelta(hours=24)
REFRESH_EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class RefreshResult:
    account: str
    refreshed: bool
    expires_at: datetime | None
    problem: str | None = None


class TokenRefresher:
    def __init__(
        self,
        *,
        repo: Repository,
        cipher: Callable[[], TokenCipher],
        http: httpx.Client,
        instagram_graph_url: str,
        timeout_s: float,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._repo = repo
        self._cipher = cipher  # asked for only when a token is due: a deployment without accounts needs no key
        self._http = http
        self._graph_url = instagram_graph_url
        self._timeout_s = timeout_s
        self._now = now

    def due(self) -> list[Account]:
        now = self._now()
        return self._repo.accounts_due_for_refresh(
            expiring_before=now + REFRESH_WITHIN, issued_before=now - REFRESH_MIN_AGE
        )

    def refresh_due(self) -> list[RefreshResult]:
        """Refresh every account that is due; one account's failure never stops the others."""
        return [self.refresh(account) for account in self.due()]

    def refresh(self, account: Account) -> RefreshResult:
        # requests-oauthlib costs memory: loaded only when a token is due.
        from postpilot.instagram.oauth import refresh_instagram_token

        until = f"{account.token_expires_at:%Y-%m-%d %H:%M} UTC" if account.token_expires_at else "soon"
        try:
            ciphertext = self._repo.account_token_encrypted(account.id)
            if not ciphertext:
                raise NeedsReconnect(f"the account has no token. Run: postpilot account connect {account.name}")
            token = self._cipher().decrypt(ciphertext)
            register_secret(token)
            fresh = refresh_instagram_token(
                http=self._http,
                graph_url=self._graph_url,
                token=token,
                expires_at=account.token_expires_at,
                issued_at=account.token_issued_at,
                timeout_s=self._timeout_s,
                account=account.name,
                now=self._now(),
            )
            register_secret(fresh.access_token)
        except (NeedsReconnect, Conflict) as exc:
            # Meta says the token is dead, or it already expired: only a new login helps.
            message = f"{exc.message}".rstrip(".") + "."
            if "account connect" not in message:
                message += f" Run: postpilot account connect {account.name}"
            self._repo.mark_account_needs_reconnect(account.id, message)
            log.warning("token_refresh_failed", account=account.name, reconnect=True, reason=message)
            return RefreshResult(account.name, False, account.token_expires_at, message)
        except PostpilotError as exc:
            message = (
                f"The automatic refresh of the Instagram token failed ({exc.message}); it is tried again within "
                f"an hour. The token stops working on {until}: if this persists, run: postpilot account refresh "
                f"{account.name}"
            )
            self._repo.set_token_refresh_error(account.id, message)
            log.warning("token_refresh_failed", account=account.name, reconnect=False, reason=exc.message)
            return RefreshResult(account.name, False, account.token_expires_at, message)
        stored = self._repo.replace_refreshed_token(
            account.id,
            token_encrypted=self._cipher().encrypt(fresh.access_token),
            expires_at=fresh.expires_at,
            issued_at=fresh.issued_at,
            was_issued_at=account.token_issued_at,
        )
        if not stored:
            log.info("token_refresh_superseded", account=account.name)
            return RefreshResult(account.name, False, account.token_expires_at, "another process renewed it first")
        log.info("token_refreshed", account=account.name, expires_at=fresh.expires_at)
        return RefreshResult(account.name, True, fresh.expires_at)
