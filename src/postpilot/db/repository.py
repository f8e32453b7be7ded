"""The repository: the only code that changes a post's state.

Every state change is one guarded ``UPDATE … WHERE id = :id AND status = :expected [AND lease_owner = :me]``
plus a ``post_events`` row, in one transaction. A guarded update that matches no row means another actor
(a replica, a marketer's cancel) got there first: the caller stops touching that post.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from postpilot.db import claims
from postpilot.db.rows import (
    NewMedia,
    account_from_row,
    accounts,
    container_rule,
    events,
    media,
    media_from_row,
    post_from_row,
    posts,
)
from postpilot.db.types import db_now, db_now_plus
from postpilot.domain.errors import Conflict, NotFound
from postpilot.domain.model import (
    Account,
    LoginKind,
    Post,
    PostEvent,
    PostMedia,
    PostStatus,
)

USER_FIELDS = (
    "account_id",
    "post_type",
    "caption",
    "prompt",
    "image_url",
    "media_urls",
    "video_url",
    "cover_url",
    "image_count",
    "aspect",
    "alt_text",
    "scheduled_at",
    "is_active",
)


class Repository:
    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # ------------------------------------------------------------------ events
    @staticmethod
    def _event(
        conn: Connection,
        post_id: int,
        kind: str,
        *,
        from_status: str | None = None,
        to_status: str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        conn.execute(
            insert(events).values(
                post_id=post_id,
                kind=kind,
                from_status=from_status,
                to_status=to_status,
                message=message,
                detail=detail,
                actor=actor,
            )
        )

    def add_event(
        self,
        post_id: int,
        kind: str,
        *,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        with self._tx() as conn:
            self._event(conn, post_id, kind, message=message, detail=detail, actor=actor)

    def events(self, post_id: int) -> list[PostEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events).where(events.c.post_id == post_id).order_by(events.c.id)).mappings()
            return [
                PostEvent(
                    id=r["id"],
                    post_id=r["post_id"],
                    at=r["at"],
                    kind=r["kind"],
                    from_status=r["from_status"],
                    to_status=r["to_status"],
                    message=r["message"],
                    detail=r["detail"] if isinstance(r["detail"], dict) else {},
                )
                for r in rows
            ]

    # ------------------------------------------------------------------ accounts
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
    ) -> int:
        try:
            with self._tx() as conn:
                result = conn.execute(
                    insert(accounts)
                    .values(
                        name=name,
                        ig_user_id=ig_user_id,
                        login_kind=login_kind.value,
                        dry_run=dry_run,
                        access_token_encrypted=token_encrypted,
                        token_expires_at=token_expires_at,
                        token_issued_at=token_issued_at,
                    )
                    .returning(accounts.c.id)
                )
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
    ) -> None:
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
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(needs_reconnect=True, last_error=message, updated_at=db_now())
            )

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

    # ------------------------------------------------------------------ posts: create / read
    def add_post(self, values: dict[str, Any], *, actor: str = "cli") -> int:
        unknown = set(values) - set(USER_FIELDS)
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        clean = {k: v for k, v in values.items() if v is not None}
        with self._tx() as conn:
            post_id = int(conn.execute(insert(posts).values(**clean).returning(posts.c.id)).scalar_one())
            self._event(conn, post_id, "created", to_status="scheduled", actor=actor)
            return post_id

    def add_posts(self, rows: Sequence[dict[str, Any]], *, actor: str = "import") -> list[int]:
        """All or nothing: one transaction."""
        ids = []
        with self._tx() as conn:
            for values in rows:
                clean = {k: v for k, v in values.items() if v is not None}
                post_id = int(conn.execute(insert(posts).values(**clean).returning(posts.c.id)).scalar_one())
                self._event(conn, post_id, "created", to_status="scheduled", actor=actor)
                ids.append(post_id)
        return ids

    def post(self, post_id: int) -> Post | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(posts).where(posts.c.id == post_id)).mappings().first()
            return post_from_row(row) if row else None

    def require_post(self, post_id: int) -> Post:
        found = self.post(post_id)
        if found is None:
            raise NotFound(f"no post with id {post_id}")
        return found

    def posts_by_ids(self, ids: Iterable[int]) -> list[Post]:
        ids = list(ids)
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(posts).where(posts.c.id.in_(ids)).order_by(posts.c.scheduled_at, posts.c.id))
            return [post_from_row(r) for r in rows.mappings()]

    def list_posts(
        self, *, status: str | None = None, account_id: int | None = None, limit: int | None = None
    ) -> list[Post]:
        query = select(posts).order_by(posts.c.scheduled_at, posts.c.id)
        if status:
            query = query.where(posts.c.status == status)
        if account_id is not None:
            query = query.where(posts.c.account_id == account_id)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [post_from_row(r) for r in conn.execute(query).mappings()]

    def media(self, post_id: int) -> list[PostMedia]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(media).where(media.c.post_id == post_id).order_by(media.c.position))
            return [media_from_row(r) for r in rows.mappings()]

    # ------------------------------------------------------------------ claims
    def _claim(
        self,
        *,
        where: str,
        set_: str,
        params: dict[str, Any],
        batch: int,
        owner: str,
        from_status: str | None,
        to_status: str | None,
        kind: str,
    ) -> list[Post]:
        with self._tx() as conn:
            ids = claims.claim(conn, where=where, set_=set_, params={**params, "owner": owner}, batch=batch)
            if ids and kind:
                conn.execute(
                    insert(events),
                    [
                        {
                            "post_id": i,
                            "kind": kind,
                            "from_status": from_status,
                            "to_status": to_status,
                            "actor": owner,
                            "message": None,
                            "detail": None,
                        }
                        for i in ids
                    ],
                )
            if not ids:
                return []
            rows = conn.execute(select(posts).where(posts.c.id.in_(ids)).order_by(posts.c.scheduled_at))
            return [post_from_row(r) for r in rows.mappings()]

    def _lease_set(self, status: str | None = None) -> str:
        now = claims.now_sql(self.dialect)
        set_ = f"lease_owner = :owner, lease_until = {claims.plus_sql(self.dialect, 'lease')}, updated_at = {now}"
        if status:
            set_ = f"status = '{status}', " + set_
        return set_

    def claim_for_prepare(self, *, owner: str, ahead_s: float, lease_s: float, batch: int) -> list[Post]:
        return self._claim(
            where=claims.due_for_prepare_where(self.dialect),
            set_=self._lease_set("preparing"),
            params={"ahead": ahead_s, "lease": lease_s},
            batch=batch,
            owner=owner,
            from_status="scheduled",
            to_status="preparing",
            kind="claimed",
        )

    def claim_for_stage(self, *, owner: str, ahead_s: float, lease_s: float, batch: int) -> list[Post]:
        return self._claim(
            where=claims.due_for_stage_where(self.dialect),
            set_=self._lease_set(),
            params={"ahead": ahead_s, "lease": lease_s},
            batch=batch,
            owner=owner,
            from_status=None,
            to_status=None,
            kind="",
        )

    def claim_for_publish(self, *, owner: str, lease_s: float, batch: int, post_id: int | None = None) -> list[Post]:
        params: dict[str, Any] = {"lease": lease_s}
        if post_id is not None:
            params["post_id"] = post_id
        return self._claim(
            where=claims.due_for_publish_where(self.dialect, one=post_id is not None),
            set_=self._lease_set("publishing"),
            params=params,
            batch=batch,
            owner=owner,
            from_status="ready",
            to_status="publishing",
            kind="claimed",
        )

    def claim_stale_publishing(self, *, owner: str, lease_s: float, batch: int) -> list[Post]:
        return self._claim(
            where=claims.stale_publishing_where(self.dialect),
            set_=self._lease_set(),
            params={"lease": lease_s},
            batch=batch,
            owner=owner,
            from_status="publishing",
            to_status="publishing",
            kind="reconcile",
        )

    def renew_leases(self, post_ids: Sequence[int], *, owner: str, lease_s: float) -> int:
        if not post_ids:
            return 0
        with self._tx() as conn:
            result = conn.execute(
                update(posts)
                .where(posts.c.id.in_(list(post_ids)), posts.c.lease_owner == owner)
                .values(lease_until=db_now_plus(lease_s))
            )
            return result.rowcount

    def upcoming_ready(self, *, within_s: float, limit: int = 1000) -> list[tuple[int, datetime]]:
        """Prepared posts due within ``within_s`` seconds: each replica schedules a precise publish job for
        them; the claim at that instant decides which replica publishes."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posts.c.id, posts.c.scheduled_at)
                .where(
                    posts.c.status == "ready",
                    posts.c.is_active,
                    posts.c.scheduled_at <= db_now_plus(within_s),
                    posts.c.scheduled_at > db_now(),
                )
                .order_by(posts.c.scheduled_at)
                .limit(limit)
            ).all()
            return [(int(r[0]), r[1]) for r in rows]

    def unclaim(self, post_id: int, *, owner: str, status: PostStatus) -> bool:
        """Give back a claimed post whose work never started (shutdown): back to the status it was claimed from.
        A post with a publish attempt on record cannot go back to ready (it may be live): it keeps its status
        and only loses the lease, so a reconcile picks it up."""
        back = {PostStatus.PREPARING: PostStatus.SCHEDULED, PostStatus.PUBLISHING: PostStatus.READY}.get(status)
        if back is None:
            return self.release_lease(post_id, owner=owner)
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(
                    posts.c.id == post_id,
                    posts.c.status == status.value,
                    posts.c.lease_owner == owner,
                    posts.c.publish_attempted_at.is_(None),
                )
                .values(status=back.value, lease_owner=None, lease_until=None, updated_at=db_now())
                .returning(posts.c.id)
            ).first()
            if row is None:
                released = conn.execute(
                    update(posts)
                    .where(posts.c.id == post_id, posts.c.status == status.value, posts.c.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )
                return released.rowcount == 1
            self._event(
                conn,
                post_id,
                "released",
                from_status=status.value,
                to_status=back.value,
                message="work not started before shutdown",
                actor=owner,
            )
            return True

    def release_lease(self, post_id: int, *, owner: str, delay_s: float = 0.0) -> bool:
        """Give a post back without changing its status (used after staging and on shutdown)."""
        with self._tx() as conn:
            result = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=db_now_plus(delay_s) if delay_s else None)
            )
            return result.rowcount == 1

    # ------------------------------------------------------------------ guarded transitions
    def transition(
        self,
        post_id: int,
        *,
        expected: PostStatus | Sequence[PostStatus],
        to: PostStatus,
        owner: str | None,
        kind: str,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        release: bool = True,
    ) -> bool:
        """Move a post from ``expected`` to ``to`` if it is still there (and still ours when ``owner``
        is given). Returns False when the guard did not match: someone else owns the post now."""
        expected_list = [expected] if isinstance(expected, PostStatus) else list(expected)
        conditions = [posts.c.id == post_id, posts.c.status.in_([s.value for s in expected_list])]
        if owner is not None:
            conditions.append(posts.c.lease_owner == owner)
        new_values: dict[str, Any] = {"status": to.value, "updated_at": db_now(), **container_rule(values or {})}
        if release:
            new_values.update(lease_owner=None, lease_until=None)
        with self._tx() as conn:
            row = conn.execute(
                update(posts).where(and_(*conditions)).values(**new_values).returning(posts.c.status)
            ).first()
            if row is None:
                return False
            from_status = expected_list[0].value if len(expected_list) == 1 else None
            self._event(
                conn,
                post_id,
                kind,
                from_status=from_status,
                to_status=to.value,
                message=message,
                detail=detail,
                actor=owner,
            )
            return True

    def update_owned(
        self,
        post_id: int,
        *,
        owner: str,
        status: PostStatus,
        values: dict[str, Any],
        kind: str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Change bookkeeping fields of a post we hold, without changing its status (container ids, the
        publish attempt marker, the media id)."""
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.status == status.value, posts.c.lease_owner == owner)
                .values(**container_rule(values), updated_at=db_now())
                .returning(posts.c.id)
            ).first()
            if row is None:
                return False
            if kind:
                self._event(conn, post_id, kind, message=message, detail=detail, actor=owner)
            return True

    def fail_missed(self, *, max_lateness_s: float, batch: int = 500) -> list[int]:
        """Posts more than ``max_lateness_s`` late that never started publishing are failed as missed:
        publishing a post a day late would surprise everyone. ``publishing`` rows are never touched here:
        they may be live and are reconciled instead."""
        now = claims.now_sql(self.dialect)
        where = (
            f"status IN ('scheduled', 'preparing', 'ready') AND is_active"
            f" AND scheduled_at < {claims.plus_sql(self.dialect, 'late')}"
            f" AND {claims.lease_free_sql(self.dialect)}"
        )
        message = "missed: it was not published within the allowed lateness"
        with self._tx() as conn:
            ids = claims.claim(
                conn,
                where=where,
                set_=(
                    f"status = 'failed', lease_owner = NULL, lease_until = NULL, updated_at = {now},"
                    " last_error = CASE WHEN last_error IS NULL THEN :msg"
                    " ELSE :msg || ' (last problem: ' || last_error || ')' END"
                ),
                params={"late": -max_lateness_s, "msg": message},
                batch=batch,
            )
            if ids:
                conn.execute(
                    insert(events),
                    [
                        {
                            "post_id": i,
                            "kind": "missed",
                            "from_status": None,
                            "to_status": "failed",
                            "message": message,
                            "detail": None,
                            "actor": None,
                        }
                        for i in ids
                    ],
                )
            return ids

    # ------------------------------------------------------------------ marketer actions
    def cancel(self, post_id: int, *, actor: str = "cli") -> Post:
        post = self.require_post(post_id)
        if post.status is PostStatus.CANCELLED:
            return post
        if post.status in (PostStatus.PUBLISHED, PostStatus.SIMULATED):
            raise Conflict(f"post {post_id} is already {post.status.value}; delete it on Instagram instead")
        if post.status is PostStatus.PUBLISHING:
            raise Conflict(f"post {post_id} is being published right now and can no longer be cancelled")
        ok = self.transition(
            post_id,
            expected=[
                PostStatus.SCHEDULED,
                PostStatus.PREPARING,
                PostStatus.READY,
                PostStatus.FAILED,
                PostStatus.UNCONFIRMED,
            ],
            to=PostStatus.CANCELLED,
            owner=None,
            kind="cancelled",
            message="cancelled by a user",
            detail=None,
        )
        if not ok:
            raise Conflict(f"post {post_id} changed while cancelling; look at it again (postpilot post show {post_id})")
        return self.require_post(post_id)

    def retry(self, post_id: int, *, force: bool = False, actor: str = "cli") -> Post:
        post = self.require_post(post_id)
        if post.status is PostStatus.UNCONFIRMED and not force:
            raise Conflict(
                f"post {post_id} is unconfirmed: Instagram may already show it. Check the account on Instagram; "
                f"if the post is not there, run: postpilot post retry {post_id} --force"
            )
        if post.status not in (PostStatus.FAILED, PostStatus.UNCONFIRMED, PostStatus.CANCELLED, PostStatus.SIMULATED):
            raise Conflict(
                f"post {post_id} is {post.status.value}; only failed, unconfirmed, cancelled or simulated posts "
                "can be retried"
            )
        values: dict[str, Any] = {
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": None,
            "container_attempts": 0,
            "publish_attempted_at": None,
        }
        if post.status is PostStatus.SIMULATED:
            values.update(ig_media_id=None, permalink=None, published_at=None)
        if post.status is PostStatus.UNCONFIRMED or post.container_id:
            values["container_id"] = None  # a forced retry starts from fresh containers
        ok = self.transition(
            post_id,
            expected=post.status,
            to=PostStatus.SCHEDULED,
            owner=None,
            kind="retry",
            message="forced retry by a user" if force else "retry requested by a user",
            values=values,
        )
        if ok:
            with self._tx() as conn:
                conn.execute(update(media).where(media.c.post_id == post_id).values(container_id=None))
        else:
            raise Conflict(f"post {post_id} changed while retrying; look at it again")
        return self.require_post(post_id)

    # ------------------------------------------------------------------ media
    def record_media(self, post_id: int, item: NewMedia) -> PostMedia:
        """Record one stored item as soon as it exists. Idempotent per (post, position)."""
        with self._tx() as conn:
            existing = (
                conn.execute(select(media).where(media.c.post_id == post_id, media.c.position == item.position))
                .mappings()
                .first()
            )
            if existing:
                return media_from_row(existing)
            conn.execute(
                insert(media).values(
                    post_id=post_id,
                    position=item.position,
                    kind=item.kind,
                    source=item.source.value,
                    source_url=item.source_url,
                    prompt=item.prompt,
                    model=item.model,
                    cost_usd=item.cost_usd,
                    stored_url=item.stored_url,
                    width=item.width,
                    height=item.height,
                    bytes=item.bytes,
                    checksum=item.checksum,
                    alt_text=item.alt_text,
                )
            )
            row = (
                conn.execute(select(media).where(media.c.post_id == post_id, media.c.position == item.position))
                .mappings()
                .one()
            )
            return media_from_row(row)

    def set_media_container(self, media_id: int, container_id: str | None) -> None:
        with self._tx() as conn:
            conn.execute(update(media).where(media.c.id == media_id).values(container_id=container_id))

    def set_permalink(self, post_id: int, *, media_id: str, permalink: str) -> bool:
        """Fill the permalink of a published post, read after the post was recorded live."""
        with self._tx() as conn:
            row = conn.execute(
                update(posts)
                .where(posts.c.id == post_id, posts.c.ig_media_id == media_id, posts.c.permalink.is_(None))
                .values(permalink=permalink, updated_at=db_now())
                .returning(posts.c.id)
            ).first()
            return row is not None

    def missing_permalinks(self, *, older_than_s: float, within_s: float, limit: int = 20) -> list[Post]:
        """Published posts whose permalink read never happened (a crash or a drain timeout came first),
        newest first. Served by the partial index ``ix_scheduled_posts_permalink_missing``."""
        now = datetime.now(UTC)
        query = (
            select(posts)
            .where(
                posts.c.status == PostStatus.PUBLISHED.value,
                posts.c.ig_media_id.is_not(None),
                posts.c.permalink.is_(None),
                posts.c.published_at <= now - timedelta(seconds=older_than_s),
                posts.c.published_at >= now - timedelta(seconds=within_s),
            )
            .order_by(posts.c.published_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [post_from_row(r) for r in conn.execute(query).mappings()]

    def clear_containers(self, post_id: int) -> None:
        with self._tx() as conn:
            conn.execute(update(media).where(media.c.post_id == post_id).values(container_id=None))

    def image_spend_since(self, since: datetime) -> float:
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(media.c.cost_usd), 0.0)).where(media.c.created_at >= since)
            ).scalar_one()
            return float(total or 0.0)

    def spend_today(self) -> float:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.image_spend_since(start)

    # ------------------------------------------------------------------ status summaries
    def counts_by_status(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(posts.c.status, func.count()).group_by(posts.c.status)).all()
            return {str(s): int(n) for s, n in rows}

    def next_due(self, limit: int = 5) -> list[Post]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posts)
                .where(posts.c.status.in_(["scheduled", "preparing", "ready"]), posts.c.is_active)
                .order_by(posts.c.scheduled_at)
                .limit(limit)
            ).mappings()
            return [post_from_row(r) for r in rows]

    def overdue(self) -> tuple[int, datetime | None]:
        """How many active posts are past their time, and the oldest one's scheduled_at."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(func.count(), func.min(posts.c.scheduled_at)).where(
                    posts.c.status.in_(["scheduled", "preparing", "ready", "publishing"]),
                    posts.c.is_active,
                    posts.c.scheduled_at <= db_now(),
                )
            ).first()
            assert row is not None
            oldest = row[1]
            if isinstance(oldest, str):  # SQLite's MIN() over text loses the column type
                oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
            return int(row[0]), oldest

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

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1)).scalar_one()
