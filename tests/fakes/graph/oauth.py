"""OAuth as Meta's three hosts answer it, and the token checks every Graph route makes."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from tests.fakes.graph.parsing import Req
from tests.fakes.graph.records import (
    _BASIC_SCOPE,
    _COMMENT_SCOPE,
    _PUBLISH_SCOPE,
    CODE_TTL_S,
    DAY_S,
    FB_SHORT_TTL_S,
    IG_SHORT_TTL_S,
    LONG_LIVED_EXPIRES_IN,
    LONG_LIVED_TTL_S,
    FakeAccount,
    FakeApp,
    FakeCode,
    FakeToken,
    GraphError,
    Resp,
    _bad_param,
    _not_found,
)
from tests.fakes.graph.state import GraphState


class AuthAndOAuth:
    """Token checks shared by every route, and Meta's OAuth endpoints (code exchanges, long-lived tokens,
    refresh, ``debug_token``)."""

    def __init__(self, state: GraphState) -> None:
        self.s = state

    # -- auth --

    def _token(self, req: Req) -> FakeToken:
        if not req.token:
            raise GraphError(190, None, "An access token is required to request this resource.")
        tok = self.s.tokens.get(req.token)
        if tok is None:
            raise GraphError(190, 467, "Invalid OAuth access token - Cannot parse access token")
        self._check_valid(tok)
        return tok

    def _check_valid(self, tok: FakeToken) -> None:
        if tok.revoked_subcode is not None:
            raise GraphError(
                190,
                tok.revoked_subcode,
                "Error validating access token: The session has been invalidated because the user "
                "changed their password or Facebook has changed the session for security reasons.",
            )
        now = self.s.now()
        if tok.is_expired(now):
            when = tok.expires_at if tok.expires_at is not None and tok.expires_at <= now else now
            raise GraphError(
                190,
                463,
                f"Error validating access token: Session has expired on "
                f"{datetime.fromtimestamp(when, UTC):%A, %d-%b-%y %H:%M:%S} UTC. The current time is "
                f"{datetime.fromtimestamp(now, UTC):%A, %d-%b-%y %H:%M:%S} UTC.",
            )

    def _need(self, tok: FakeToken, what: str) -> None:
        table = {"publish": _PUBLISH_SCOPE, "comment": _COMMENT_SCOPE}.get(what, _BASIC_SCOPE)
        scope = table[tok.login_kind]
        if scope not in tok.scopes:
            if what in ("publish", "comment"):
                raise GraphError(10, None, user_msg=f"The {scope} permission is missing.")
            raise GraphError(200, None, f"(#200) Requires {scope} permission to access this object")

    def _account(self, tok: FakeToken, ig_user_id: str, method: str) -> FakeAccount:
        if ig_user_id == "me" and tok.login_kind == "instagram" and len(tok.ig_user_ids) == 1:
            ig_user_id = next(iter(tok.ig_user_ids))
        account = self.s.accounts.get(ig_user_id)
        if account is None or ig_user_id not in tok.ig_user_ids:
            raise _not_found(ig_user_id, method)
        page = self.s.pages.get(account.page_id or "")
        if page is not None and page.role_via_business_manager and not {"ads_read", "ads_management"} & set(tok.scopes):
            raise GraphError(
                200,
                None,
                "(#200) Requires ads_management or ads_read permission: the user's role on the Page was "
                "granted through Business Manager",
            )
        return account

    # -- OAuth --

    def _app(self, req: Req, *, ig_style: bool) -> FakeApp:
        app = self.s.apps.get(req.param("client_id") or "")
        if app is None:
            raise GraphError(
                101,
                None,
                "Error validating application. Invalid application ID.",
                instagram_oauth_style=ig_style,
            )
        if req.param("client_secret") != app.secret:
            raise GraphError(
                1, None, "Error validating client secret.", transient=False, instagram_oauth_style=ig_style
            )
        return app

    def oauth_access_token(self, req: Req) -> Resp:
        s = self.s
        with s.lock:
            app = s.apps.get(req.param("client_id") or "")
            if app is not None and app.login_kind == "instagram":
                if req.method != "POST":  # api.instagram.com takes the code exchange as a form POST only
                    raise GraphError(400, None, "Unsupported method: use POST", instagram_oauth_style=True)
                return self._ig_code_exchange(req)
            if req.param("grant_type") == "fb_exchange_token":
                return self._fb_exchange(req)
            return self._fb_code_exchange(req)

    def _take_code(self, req: Req, app: FakeApp, *, ig_style: bool) -> FakeCode:
        code = self.s.codes.get(req.param("code") or "")
        if code is None or code.app_id != app.app_id:
            raise GraphError(100, 36008, "Invalid verification code format.", instagram_oauth_style=ig_style)
        if code.used:
            raise GraphError(100, 36009, "This authorization code has been used.", instagram_oauth_style=ig_style)
        if self.s.now() - code.issued_at > CODE_TTL_S:
            raise GraphError(100, 36007, "This authorization code has expired.", instagram_oauth_style=ig_style)
        if req.param("redirect_uri") != code.redirect_uri:
            raise GraphError(
                100,
                36008,
                "Error validating verification code. Please make sure your redirect_uri is identical to "
                "the one you used in the OAuth dialog request",
                instagram_oauth_style=ig_style,
            )
        code.used = True
        return code

    def _issue(
        self, account: FakeAccount, app: FakeApp | None, scopes: tuple[str, ...], kind: str, ttl: float | None
    ) -> FakeToken:
        s = self.s
        now = s.now()
        prefix = "EAA" if account.login_kind == "facebook" else "IGQ"
        tok = FakeToken(
            value=prefix + secrets.token_urlsafe(32),
            login_kind=account.login_kind,
            ig_user_ids={account.ig_user_id},
            scopes=scopes,
            issued_at=now,
            expires_at=None if ttl is None else now + ttl,
            kind=kind,
            user_id=account.fb_user_id or account.ig_user_id,
            app_id=app.app_id if app else None,
        )
        if account.fb_user_id:
            tok.ig_user_ids |= {a.ig_user_id for a in s.accounts.values() if a.fb_user_id == account.fb_user_id}
        s.tokens[tok.value] = tok
        return tok

    def _fb_code_exchange(self, req: Req) -> Resp:
        app = self._app(req, ig_style=False)
        code = self._take_code(req, app, ig_style=False)
        tok = self._issue(self.s.accounts[code.ig_user_id], app, code.scopes, "short", FB_SHORT_TTL_S)
        return Resp(200, {"access_token": tok.value, "token_type": "bearer", "expires_in": FB_SHORT_TTL_S})

    def _fb_exchange(self, req: Req) -> Resp:
        app = self._app(req, ig_style=False)
        short = self.s.tokens.get(req.param("fb_exchange_token") or "")
        if short is None or short.login_kind != "facebook":
            raise GraphError(190, 467, "Invalid OAuth access token - Cannot parse access token")
        self._check_valid(short)
        account = self.s.accounts[next(iter(sorted(short.ig_user_ids)))]
        tok = self._issue(account, app, short.scopes, "long", LONG_LIVED_TTL_S)
        return Resp(200, {"access_token": tok.value, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN})

    def _ig_code_exchange(self, req: Req) -> Resp:
        app = self._app(req, ig_style=True)
        if req.param("grant_type") != "authorization_code":
            raise GraphError(400, None, "Invalid grant_type", instagram_oauth_style=True)
        code = self._take_code(req, app, ig_style=True)
        tok = self._issue(self.s.accounts[code.ig_user_id], app, code.scopes, "short", IG_SHORT_TTL_S)
        # Meta documents this user_id as the "Instagram App-scoped User ID": not the professional account id
        # that publishing takes (that one is /me's user_id).
        app_scoped = self.s.accounts[code.ig_user_id].app_scoped_id
        if self.s.ig_code_response_style == "data":
            entry = {"access_token": tok.value, "user_id": app_scoped, "permissions": ",".join(code.scopes)}
            return Resp(200, {"data": [entry]})
        user_id: int | str = int(app_scoped) if app_scoped.isdigit() else app_scoped
        return Resp(200, {"access_token": tok.value, "user_id": user_id, "permissions": list(code.scopes)})

    def ig_exchange(self, req: Req) -> Resp:
        with self.s.lock:
            if req.param("grant_type") != "ig_exchange_token":
                raise _bad_param("grant_type must be ig_exchange_token.")
            tok = self._token(req)
            app = self.s.apps.get(tok.app_id or "")
            if tok.login_kind != "instagram" or tok.kind != "short" or app is None:
                raise GraphError(190, 467, "Invalid OAuth access token - Cannot parse access token")
            if req.param("client_secret") != app.secret:
                raise GraphError(101, None, "Error validating client secret.")
            account = self.s.accounts[next(iter(tok.ig_user_ids))]
            long = self._issue(account, app, tok.scopes, "long", LONG_LIVED_TTL_S)
            return Resp(200, {"access_token": long.value, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN})

    def ig_refresh(self, req: Req) -> Resp:
        with self.s.lock:
            if req.param("grant_type") != "ig_refresh_token":
                raise _bad_param("grant_type must be ig_refresh_token.")
            tok = self._token(req)  # an expired token is refused here with 190/463
            if tok.login_kind != "instagram" or tok.kind != "long":
                raise _bad_param("Only long-lived Instagram user tokens can be refreshed.")
            if self.s.now() - tok.issued_at < DAY_S:
                raise _bad_param("A token can be refreshed only once it is at least 24 hours old.")
            account = self.s.accounts[next(iter(tok.ig_user_ids))]
            app = self.s.apps.get(tok.app_id or "")
            fresh = self._issue(account, app, tok.scopes, "long", LONG_LIVED_TTL_S)
            return Resp(
                200,
                {"access_token": fresh.value, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN},
            )

    def debug_token(self, req: Req) -> Resp:
        s = self.s
        with s.lock:
            caller = req.token or ""
            if "|" in caller:
                app_id, _, secret = caller.partition("|")
                app = s.apps.get(app_id)
                if app is None or app.secret != secret:
                    raise GraphError(190, None, "Invalid OAuth access token signature.")
            else:
                self._token(req)
            input_token = req.param("input_token")
            if not input_token:
                raise GraphError(100, None, "(#100) The parameter input_token is required")
            tok = s.tokens.get(input_token)
            if tok is None:
                return Resp(
                    200,
                    {
                        "data": {
                            "error": {"code": 190, "message": "Invalid OAuth access token."},
                            "is_valid": False,
                            "scopes": [],
                        }
                    },
                )
            data: dict[str, Any] = {
                "app_id": tok.app_id or next(iter(s.apps), "0"),
                "type": "PAGE" if tok.kind == "page" else "USER",
                "application": "postpilot-test",
                "data_access_expires_at": int(tok.issued_at + 90 * DAY_S),
                "expires_at": 0 if tok.expires_at is None else int(tok.expires_at),
                "is_valid": True,
                "issued_at": int(tok.issued_at),
                "scopes": list(tok.scopes),
                "granular_scopes": [
                    {"scope": sc, "target_ids": sorted(tok.ig_user_ids)}
                    if sc.startswith("instagram")
                    else {"scope": sc}
                    for sc in tok.scopes
                ],
                "user_id": tok.user_id,
            }
            try:
                self._check_valid(tok)
            except GraphError as err:
                data["is_valid"] = False
                data["error"] = {"code": err.code, "message": err.message, "subcode": err.subcode}
            return Resp(200, {"data": data})
