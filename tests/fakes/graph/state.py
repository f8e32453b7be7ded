"""Everything the fake knows (``GraphState``), and the test-facing API to arrange and inspect it."""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from tests.fakes.graph.records import (
    _STATUS_TEXT,
    DAY_S,
    FAULT_KINDS,
    FB_SCOPES,
    IG_SCOPES,
    LONG_LIVED_TTL_S,
    FakeAccount,
    FakeApp,
    FakeCode,
    FakeContainer,
    FakeMedia,
    FakePage,
    FakeToken,
    Fault,
    RequestRecord,
    _Script,
)

# --- state --------------------------------------------------------------------------------------------------


class GraphState:
    """Everything the fake knows, and the test-facing API to arrange and inspect it. Thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        latency: dict[str, float] | None = None,
        image_delay_s: float = 0.0,
        video_delay_s: float = 0.2,
        carousel_delay_s: float = 0.0,
        fetch_media: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self._clock = clock or time.time
        self._offset = 0.0
        self._ids = itertools.count(1)

        # -- settings (plain attributes: set them directly, or through POST /_fake/config) --
        self.latency: dict[str, float] = dict(latency or {})  # seconds per endpoint kind, slept before answering
        self.image_delay_s = image_delay_s  # IN_PROGRESS → FINISHED for images
        self.video_delay_s = video_delay_s  # ... for reels and video carousel items
        self.carousel_delay_s = carousel_delay_s  # ... for a carousel parent
        self.container_lifetime_s: float = DAY_S  # unpublished containers read EXPIRED after this
        self.container_limit = 400  # containers per account per rolling 24 h
        self.fetch_media = fetch_media  # download image_url from 127.0.0.1/localhost and check it like Meta
        self.fetch_timeout_s = 5.0
        self.accept_png = False  # Meta documents JPEG only; PNG often works in practice
        self.media_errors_sync = False  # bad fetched media: False → container ERROR; True → error on POST /media
        self.republish_behavior = "error"  # publishing a PUBLISHED container: "error" | "same_id" | "duplicate"
        self.republish_error: tuple[int, int | None] = (100, None)
        self.ig_code_response_style = "flat"  # api.instagram.com code exchange: "flat" | "data"
        self.hidden_reads_for_new_objects = 0  # reads of each new container/media that fail with 100/33
        # Rate-limit budgets per rolling hour, reported on every answer as X-App-Usage (the app) and
        # X-Business-Use-Case-Usage (per Instagram account) percentages that climb with calls; at 100 %
        # calls are refused (code 4 for the app, 80002 for an account) with estimated_time_to_regain_access.
        self.app_call_budget = 100_000
        self.account_call_budget = 4_800
        self.report_usage = True  # False: no usage headers and no budgets (to measure without them)

        # -- data --
        self.accounts: dict[str, FakeAccount] = {}
        self.tokens: dict[str, FakeToken] = {}
        self.pages: dict[str, FakePage] = {}
        self.apps: dict[str, FakeApp] = {}
        self.codes: dict[str, FakeCode] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.media: list[FakeMedia] = []  # top-level published media, in publish order
        self.media_by_id: dict[str, FakeMedia] = {}  # also carousel children
        self.publish_calls: dict[str, int] = {}  # creation_id → media_publish calls, successful or not
        self.comments_created = 0  # POST /{media-id}/comments that made a comment
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.token_in_url_count = 0  # Graph data requests that carried access_token in the query string
        self.oauth_token_in_url_count = 0  # same for OAuth endpoints, where Meta documents the query string
        self._scripts: list[_Script] = []
        self._page_tokens: dict[tuple[str, str], str] = {}
        # Call times of the rolling hour, oldest first (pruned as they age out, so a busy run stays cheap).
        self.app_call_times: deque[float] = deque()
        self.account_call_times: dict[str, deque[float]] = {}

    # -- clock --

    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (token expiry, quota window, container lifetime, readiness)."""
        with self.lock:
            self._offset += seconds

    def new_id(self, prefix: str = "179") -> str:
        return f"{prefix}{next(self._ids):014d}"

    # -- arranging accounts, tokens, apps --

    def add_account(
        self,
        ig_user_id: str,
        token: str | None = None,
        *,
        scopes: tuple[str, ...] | list[str] | None = None,
        quota_total: int = 50,
        quota_duration: int = DAY_S,
        username: str | None = None,
        login_kind: str = "facebook",
        token_expires_in: float | None = LONG_LIVED_TTL_S,
        fb_user_id: str | None = None,
        page_id: str | None = None,
        page_name: str | None = None,
    ) -> FakeAccount:
        """Register an IG professional account and (optionally) a long-lived token for it.

        Facebook Login accounts get a Page (``page_id``) managed by ``fb_user_id``; giving one token to
        several accounts makes them Pages of the same Facebook user. ``token_expires_in=None``: never
        expires.
        """
        if login_kind not in ("facebook", "instagram"):
            raise ValueError("login_kind must be 'facebook' or 'instagram'")
        default_scopes = FB_SCOPES if login_kind == "facebook" else IG_SCOPES
        scope_tuple = tuple(scopes) if scopes is not None else default_scopes
        with self.lock:
            existing = self.tokens.get(token) if token else None
            if login_kind == "facebook":
                fb_user_id = fb_user_id or (existing.user_id if existing else None) or self.new_id("100")
                page_id = page_id or self.new_id("101")
            account = FakeAccount(
                ig_user_id=ig_user_id,
                username=username or f"account_{ig_user_id[-6:]}",
                login_kind=login_kind,
                scopes=scope_tuple,
                quota_total=quota_total,
                quota_duration=quota_duration,
                fb_user_id=fb_user_id if login_kind == "facebook" else None,
                page_id=page_id if login_kind == "facebook" else None,
                app_scoped_id=self.new_id("270"),
            )
            self.accounts[ig_user_id] = account
            if account.page_id and account.fb_user_id:
                self.pages[account.page_id] = FakePage(
                    account.page_id, page_name or f"{account.username} Page", account.fb_user_id, ig_user_id
                )
            if token:
                if existing:
                    existing.ig_user_ids.add(ig_user_id)
                else:
                    self.add_token(token, ig_user_id, scopes=scope_tuple, expires_in=token_expires_in)
            return account

    def add_token(
        self,
        token: str,
        ig_user_id: str,
        *,
        scopes: tuple[str, ...] | list[str] | None = None,
        expires_in: float | None = LONG_LIVED_TTL_S,
        kind: str = "long",
        app_id: str | None = None,
    ) -> FakeToken:
        """Another token for an existing account (e.g. a second, narrower-scoped one)."""
        with self.lock:
            account = self.accounts[ig_user_id]
            now = self.now()
            tok = FakeToken(
                value=token,
                login_kind=account.login_kind,
                ig_user_ids={ig_user_id},
                scopes=tuple(scopes) if scopes is not None else account.scopes,
                issued_at=now,
                expires_at=None if expires_in is None else now + expires_in,
                kind=kind,
                user_id=account.fb_user_id or ig_user_id,
                app_id=app_id,
            )
            if account.fb_user_id:  # a Facebook user token reaches every Page of that user
                tok.ig_user_ids |= {a.ig_user_id for a in self.accounts.values() if a.fb_user_id == account.fb_user_id}
            self.tokens[token] = tok
            return tok

    def add_page(self, fb_user_id: str, name: str, *, page_id: str | None = None) -> FakePage:
        """A Page of ``fb_user_id`` with no Instagram account linked (``/me/accounts`` lists it bare)."""
        with self.lock:
            page = FakePage(page_id or self.new_id("101"), name, fb_user_id, None)
            self.pages[page.page_id] = page
            return page

    def add_app(self, app_id: str, secret: str, *, redirect_uri: str, login_kind: str = "facebook") -> FakeApp:
        """An OAuth app; its ``login_kind`` decides which host's style its code exchange answers in."""
        with self.lock:
            app = FakeApp(app_id, secret, redirect_uri, login_kind)
            self.apps[app_id] = app
            return app

    def issue_code(
        self,
        app_id: str,
        ig_user_id: str,
        *,
        scopes: tuple[str, ...] | list[str] | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """What the login dialog would put in the redirect: a single-use code for ``ig_user_id``'s owner."""
        with self.lock:
            app = self.apps[app_id]
            account = self.accounts[ig_user_id]
            code = "AQ" + secrets.token_urlsafe(24)
            self.codes[code] = FakeCode(
                code=code,
                app_id=app_id,
                ig_user_id=ig_user_id,
                scopes=tuple(scopes) if scopes is not None else account.scopes,
                redirect_uri=redirect_uri or app.redirect_uri,
                issued_at=self.now(),
            )
            return code

    def expire_token(self, token: str) -> None:
        with self.lock:
            if token in self.tokens:
                self.tokens[token].expired = True

    def revoke_token(self, token: str, *, subcode: int = 460) -> None:
        """Invalidate a token as if the user changed their password (460) or removed the app (458)."""
        with self.lock:
            self.tokens[token].revoked_subcode = subcode

    def backdate_token(self, token: str, seconds: float) -> None:
        """Pretend the token was issued ``seconds`` earlier (its expiry moves back too)."""
        with self.lock:
            tok = self.tokens[token]
            tok.issued_at -= seconds
            if tok.expires_at is not None:
                tok.expires_at -= seconds

    def consume_quota(self, ig_user_id: str, n: int = 1) -> None:
        """Use up ``n`` publishing slots now, without creating media (to reach the limit quickly)."""
        with self.lock:
            self.accounts[ig_user_id].publish_times.extend([self.now()] * n)

    # -- arranging containers --

    def script_containers(self, outcome: str, *, error_subcode: int | None = None, count: int = 1) -> None:
        """The next ``count`` containers created end in ``outcome`` (ERROR, EXPIRED, IN_PROGRESS forever)."""
        if outcome not in ("FINISHED", "ERROR", "EXPIRED", "IN_PROGRESS"):
            raise ValueError(f"unknown outcome {outcome}")
        with self.lock:
            self._scripts.append(_Script(outcome, error_subcode or (2207001 if outcome == "ERROR" else None), count))

    def set_container_status(self, container_id: str, status_code: str, *, error_subcode: int | None = None) -> None:
        with self.lock:
            c = self.containers[container_id]
            c.forced_status = status_code
            if error_subcode is not None:
                c.error_subcode = error_subcode

    def expire_container(self, container_id: str) -> None:
        self.set_container_status(container_id, "EXPIRED")

    def hide_fresh_objects(self, reads: int) -> None:
        """From now on, the first ``reads`` reads of every new container or media fail with 100/33."""
        with self.lock:
            self.hidden_reads_for_new_objects = reads

    # -- faults --

    def inject(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        with self.lock:
            self.faults.append(fault)
        return fault

    def inject_error(
        self,
        kind: str,
        code: int,
        subcode: int | None = None,
        *,
        count: int = 1,
        message: str | None = None,
        transient: bool | None = None,
        http_status: int = 400,
        headers: dict[str, str] | None = None,
        commit: bool = False,
    ) -> Fault:
        """Any Graph error, e.g. ``inject_error("publish", 24, 2207008)`` or ``("create", -2, 2207003)``."""
        return self.inject(
            Fault(
                kind=kind,
                remaining=count,
                code=code,
                subcode=subcode,
                message=message,
                transient=transient,
                http_status=http_status,
                headers=dict(headers or {}),
                commit=commit,
            )
        )

    def inject_token_expired(self, kind: str = "any", *, count: int = 1) -> Fault:
        """190/463, and the token used stays expired afterwards."""
        return self.inject(
            Fault(
                kind=kind,
                remaining=count,
                code=190,
                subcode=463,
                message="Error validating access token: Session has expired.",
                expire_token=True,
            )
        )

    def inject_rate_limit(
        self,
        kind: str = "any",
        *,
        code: int = 4,
        count: int = 1,
        regain_minutes: int = 5,
        subcode: int | None = None,
    ) -> Fault:
        """4 (app), 17 (user), 32/613 or 80002 (Instagram business use case), with Meta's usage headers."""
        return self.inject(Fault(kind=kind, remaining=count, code=code, subcode=subcode, regain_minutes=regain_minutes))

    def inject_transient(self, kind: str = "any", *, code: int = 1, count: int = 1) -> Fault:
        """1 or 2 with ``is_transient: true``."""
        return self.inject(Fault(kind=kind, remaining=count, code=code, transient=True))

    def inject_server_error(self, kind: str = "any", *, status: int = 500, html: bool = False, count: int = 1) -> Fault:
        """A 5xx; ``html=True`` answers an HTML page as a proxy in front of the API would."""
        return self.inject(Fault(kind=kind, remaining=count, code=None if html else 2, http_status=status, html=html))

    def inject_spam_block(self, *, published: bool = True, count: int = 1) -> Fault:
        """4/2207051 on publish; with ``published=True`` the post goes live anyway, as Meta warns it may."""
        return self.inject(Fault(kind="publish", remaining=count, code=4, subcode=2207051, commit=published))

    def inject_slow(self, kind: str, seconds: float, *, count: int = 1, commit_first: bool = False) -> Fault:
        """Sleep before answering; ``commit_first`` does the work before sleeping (the post is live early)."""
        return self.inject(Fault(kind=kind, remaining=count, delay_s=seconds, commit=commit_first))

    def inject_lost_response(self, kind: str = "publish", *, count: int = 1) -> Fault:
        """Commit the request (a publish goes live, counters move), then close the connection unanswered."""
        return self.inject(Fault(kind=kind, remaining=count, drop=True, commit=True))

    def inject_drop(self, kind: str, *, count: int = 1, commit: bool = False) -> Fault:
        """Close the connection unanswered; nothing is done unless ``commit``."""
        return self.inject(Fault(kind=kind, remaining=count, drop=True, commit=commit))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self._scripts.clear()

    def take_fault(self, kind: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.kind in (kind, "any"):
                    fault.remaining -= 1
                    fault.fired += 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
            return None

    # -- inspecting --

    def total_publish_calls(self) -> int:
        with self.lock:
            return sum(self.publish_calls.values())

    def published_count(self, ig_user_id: str) -> int:
        """Top-level media live on the account (a carousel is one)."""
        with self.lock:
            return sum(1 for m in self.media if m.ig_user_id == ig_user_id)

    def quota_usage(self, ig_user_id: str) -> int:
        with self.lock:
            account = self.accounts[ig_user_id]
            since = self.now() - account.quota_duration
            return sum(1 for t in account.publish_times if t > since)

    def container_status(self, container_id: str) -> str:
        with self.lock:
            return self.status_of(self.containers[container_id])[0]

    def status_of(self, c: FakeContainer) -> tuple[str, str]:
        """``(status_code, status)`` as ``GET /{container-id}`` reports them now."""
        now = self.now()
        if c.forced_status:
            code = c.forced_status
        elif c.published_media_id:
            code = "PUBLISHED"
        elif now - c.created_at >= self.container_lifetime_s:
            code = "EXPIRED"
        elif now < c.ready_at:
            code = "IN_PROGRESS"
        else:
            code = c.outcome
        if code == "ERROR":
            return code, f"Error: Media upload has failed with error code {c.error_subcode or 2207001}"
        return code, _STATUS_TEXT.get(code, code)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "token_in_url_count": self.token_in_url_count,
                "oauth_token_in_url_count": self.oauth_token_in_url_count,
                "publish_calls": dict(self.publish_calls),
                "total_publish_calls": sum(self.publish_calls.values()),
                "published": {ig: self.published_count(ig) for ig in self.accounts},
                "quota_usage": {ig: self.quota_usage(ig) for ig in self.accounts},
                "containers": len(self.containers),
                "media": len(self.media),
                "requests": len(self.requests),
                "faults_pending": sum(f.remaining for f in self.faults),
            }

    def reset(self) -> None:
        """Forget containers, media, counters, faults and quota use; keep accounts, tokens and apps."""
        with self.lock:
            self.containers.clear()
            self.media.clear()
            self.media_by_id.clear()
            self.publish_calls.clear()
            self.comments_created = 0
            self.faults.clear()
            self._scripts.clear()
            self.requests.clear()
            self.token_in_url_count = 0
            self.oauth_token_in_url_count = 0
            self.app_call_times.clear()
            self.account_call_times.clear()
            for account in self.accounts.values():
                account.publish_times.clear()
                account.container_times.clear()

    # -- rate-limit usage --

    def usage_percent(self, ig_user_id: str | None) -> tuple[int, int]:
        """(app %, account %) of the rolling-hour call budgets."""
        with self.lock:
            since = self.now() - 3600
            app_calls = len(_prune(self.app_call_times, since))
            account_times = self.account_call_times.get(ig_user_id or "")
            account_calls = len(_prune(account_times, since)) if account_times is not None else 0
            return (
                min(100, app_calls * 100 // max(1, self.app_call_budget)),
                min(100, account_calls * 100 // max(1, self.account_call_budget)),
            )

    def count_call(self, ig_user_id: str | None) -> None:
        with self.lock:
            now = self.now()
            self.app_call_times.append(now)
            if ig_user_id:
                self.account_call_times.setdefault(ig_user_id, deque()).append(now)

    def regain_minutes(self, times: Iterable[float]) -> int:
        """Minutes until the oldest call of the rolling hour leaves it."""
        since = self.now() - 3600
        live = [t for t in times if t > since]
        return max(1, round((min(live) - since) / 60)) if live else 0

    def inject_media_fetch_failure(self, *, count: int = 1) -> Fault:
        """Instagram fails to download the media at container creation (9004/2207052), as happens now and
        then with URLs that work: nothing is created, and a later try usually succeeds."""
        return self.inject_error(
            "create", code=9004, subcode=2207052, message="Media download has failed.", count=count
        )

    # -- used by the API (lock held by the caller) --

    def _next_script(self) -> _Script | None:
        for script in self._scripts:
            if script.remaining > 0:
                script.remaining -= 1
                if script.remaining == 0:
                    self._scripts.remove(script)
                return script
        return None

    def _page_token(self, page: FakePage, user_token: FakeToken) -> str:
        key = (page.page_id, user_token.value)
        if key not in self._page_tokens:
            value = "EAAP" + secrets.token_urlsafe(24)
            self.tokens[value] = FakeToken(
                value=value,
                login_kind="facebook",
                ig_user_ids={page.ig_user_id} if page.ig_user_id else set(),
                scopes=user_token.scopes,
                issued_at=self.now(),
                # A Page token from a long-lived user token never expires; from a short one it lives as long.
                expires_at=None if user_token.kind == "long" else user_token.expires_at,
                kind="page",
                user_id=page.page_id,
                app_id=user_token.app_id,
            )
            self._page_tokens[key] = value
        return self._page_tokens[key]


def _usage_headers(regain_minutes: int, object_id: str = "0") -> dict[str, str]:
    usage = {"call_count": 100, "total_cputime": 40, "total_time": 60}
    buc = {object_id: [{"type": "instagram", **usage, "estimated_time_to_regain_access": regain_minutes}]}
    return {"X-Business-Use-Case-Usage": json.dumps(buc), "X-App-Usage": json.dumps(usage)}


def _prune(times: deque[float], since: float) -> deque[float]:
    """Drop the calls older than the rolling hour (they are stored oldest first)."""
    while times and times[0] <= since:
        times.popleft()
    return times
