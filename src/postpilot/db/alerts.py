"""Looking ahead for trouble a person can still fix (issue 14): tokens that run out within days, posts due
within the hour whose account cannot publish them, and one-off notices from outside a post's transaction
(the daily image budget, the end of a dependency).

Each check is a plain query followed by ``outbox.enqueue`` in the same transaction; the dedupe keys make
every replica's run of the same check queue each notice once.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from postpilot.db import outbox
from postpilot.db.base import RepoBase
from postpilot.db.rows import accounts, posts
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain.model import ACTIVE_STATUSES
from postpilot.domain.notifications import Notice, at_risk_notice, token_expiring_notice

TOKEN_WARN_S = 7 * 86400.0  # "its token expires within 7 days" (issue 14)
AT_RISK_WITHIN_S = 3600.0  # checked an hour before a post is due, as the best peers do
# An unapproved post is brought up once more in the quarter hour before it: late enough to be a reminder (the
# first notice comes when it is prepared, an hour ahead by default), early enough to approve it in time. A
# post whose first notice is younger than that (prepared minutes before its time) is not told twice at once.
APPROVAL_REMINDER_BEFORE_S = 900.0


class Alerts(RepoBase):
    def look_ahead(self) -> int:
        """Both checks, as the daemon runs them every few minutes and ``run-once`` on each pass."""
        return self.queue_token_expiry_notices() + self.queue_posts_at_risk()

    def queue_notice(self, notice: Notice) -> bool:
        """Queue a notice that belongs to no post transaction; False when the same event is queued already."""
        with self._tx() as conn:
            return outbox.enqueue(conn, notice)

    def queue_token_expiry_notices(self, *, within_s: float = TOKEN_WARN_S) -> int:
        """Live accounts whose token runs out within ``within_s``. Instagram Login tokens are refreshed ten
        days ahead (``tokens.py``), so one that gets this close is one whose refresh keeps failing."""
        queued = 0
        with self._tx() as conn:
            rows = conn.execute(
                select(
                    accounts.c.id,
                    accounts.c.name,
                    accounts.c.token_expires_at,
                    accounts.c.time_zone,
                    accounts.c.token_refresh_error,
                ).where(
                    accounts.c.is_active,
                    accounts.c.dry_run.is_(False),
                    accounts.c.needs_reconnect.is_(False),  # already told: it must be reconnected
                    accounts.c.token_expires_at.is_not(None),
                    accounts.c.token_expires_at <= db_now_plus(within_s),
                )
            ).all()
            for account_id, name, expires_at, zone, refresh_error in rows:
                notice = token_expiring_notice(
                    int(account_id),
                    str(name),
                    expires_at=expires_at,
                    time_zone=str(zone or "UTC"),
                    refresh_error=refresh_error,
                )
                queued += outbox.enqueue(conn, notice)
        return queued

    def queue_posts_at_risk(self, *, within_s: float = AT_RISK_WITHIN_S) -> int:
        """Posts due within ``within_s`` whose account cannot publish them as things stand: it must be
        reconnected, it holds no token, or its token runs out before the post's time."""
        queued = 0
        with self._tx() as conn:
            rows = conn.execute(
                select(
                    posts.c.id,
                    accounts.c.needs_reconnect,
                    accounts.c.access_token_encrypted.is_(None),
                    accounts.c.token_expires_at,
                )
                .select_from(posts.join(accounts, accounts.c.id == posts.c.account_id))
                .where(
                    posts.c.status.in_([s.value for s in ACTIVE_STATUSES]),
                    posts.c.is_active,
                    posts.c.scheduled_at > db_now(),
                    posts.c.scheduled_at <= db_now_plus(within_s),
                    accounts.c.is_active,
                    accounts.c.dry_run.is_(False),
                    or_(
                        accounts.c.needs_reconnect,
                        accounts.c.access_token_encrypted.is_(None),
                        and_(
                            accounts.c.token_expires_at.is_not(None),
                            accounts.c.token_expires_at <= posts.c.scheduled_at,
                        ),
                    ),
                )
            ).all()
            for post_id, needs_reconnect, no_token, expires_at in rows:
                facts = outbox.post_facts(conn, int(post_id))
                if facts is None:
                    continue
                if needs_reconnect:
                    reason = "its account must be reconnected: Instagram refused its token"
                elif no_token:
                    reason = "its account has no access token"
                else:
                    reason = f"its account's token runs out at {expires_at:%Y-%m-%d %H:%M} UTC, before the post's time"
                queued += outbox.enqueue(conn, at_risk_notice(facts, reason=reason))
        return queued
