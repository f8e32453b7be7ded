"""The JSON admin API under ``/_fake/`` for tests and benchmarks that run the fake in another process."""

from __future__ import annotations

from typing import Any

from tests.fakes.graph.parsing import Req
from tests.fakes.graph.records import Fault, Resp
from tests.fakes.graph.state import GraphState

# --- admin API (for tests in other processes) ---------------------------------------------------------------

_CONFIG_KEYS = (
    "latency",
    "image_delay_s",
    "video_delay_s",
    "carousel_delay_s",
    "container_lifetime_s",
    "container_limit",
    "fetch_media",
    "fetch_timeout_s",
    "accept_png",
    "media_errors_sync",
    "republish_behavior",
    "republish_error",
    "ig_code_response_style",
    "hidden_reads_for_new_objects",
    "app_call_budget",
    "account_call_budget",
    "report_usage",
)


def _admin_fault(state: GraphState, body: dict[str, Any]) -> Fault:
    kind = str(body.get("kind", "any"))
    count = int(body.get("count", 1))
    ftype = body.get("type", "error")
    if ftype == "token_expired":
        return state.inject_token_expired(kind, count=count)
    if ftype == "rate_limited":
        return state.inject_rate_limit(
            kind,
            code=int(body.get("code", 4)),
            count=count,
            regain_minutes=int(body.get("regain_minutes", 5)),
        )
    if ftype == "transient":
        return state.inject_transient(kind, code=int(body.get("code", 1)), count=count)
    if ftype == "server_error":
        return state.inject_server_error(
            kind, status=int(body.get("status", 500)), html=bool(body.get("html", False)), count=count
        )
    if ftype == "spam":
        return state.inject_spam_block(published=bool(body.get("published", True)), count=count)
    if ftype == "slow":
        return state.inject_slow(
            kind, float(body["seconds"]), count=count, commit_first=bool(body.get("commit_first", False))
        )
    if ftype == "lost_response":
        return state.inject_lost_response(str(body.get("kind", "publish")), count=count)
    if ftype == "drop":
        return state.inject_drop(kind, count=count, commit=bool(body.get("commit", False)))
    if ftype == "error":
        subcode = body.get("subcode")
        return state.inject_error(
            kind,
            int(body["code"]),
            int(subcode) if subcode is not None else None,
            count=count,
            message=body.get("message"),
            transient=body.get("transient"),
            http_status=int(body.get("http_status", 400)),
            commit=bool(body.get("commit", False)),
        )
    raise ValueError(f"unknown fault type {ftype}")


def _admin(state: GraphState, req: Req) -> Resp:
    """JSON endpoints under ``/_fake/`` to arrange and inspect the fake from another process."""
    path = "/".join(req.segments[1:])
    body = req.params
    method = req.method
    if method == "GET":
        with state.lock:
            if path == "publish_calls":
                return Resp(200, dict(state.publish_calls))
            if path == "media":
                return Resp(200, [m.to_json() for m in state.media])
            if path == "containers":
                return Resp(
                    200,
                    [{**c.to_json(), "status_code": state.status_of(c)[0]} for c in state.containers.values()],
                )
            if path in ("state", "counters"):
                return Resp(200, state.snapshot())
            if path == "requests":
                return Resp(
                    200,
                    [
                        {
                            "method": r.method,
                            "path": r.path,
                            "kind": r.kind,
                            "params": r.params,
                            "token_in_url": r.token_in_url,
                            "at": r.at,
                        }
                        for r in state.requests
                    ],
                )
            if path.startswith("tokens/"):
                tok = state.tokens[path.split("/", 1)[1]]
                return Resp(
                    200,
                    {
                        "token": tok.value,
                        "login_kind": tok.login_kind,
                        "kind": tok.kind,
                        "ig_user_ids": sorted(tok.ig_user_ids),
                        "scopes": list(tok.scopes),
                        "issued_at": tok.issued_at,
                        "expires_at": tok.expires_at,
                        "valid": not tok.is_expired(state.now()) and tok.revoked_subcode is None,
                    },
                )
    if method == "DELETE" and path == "faults":
        state.clear_faults()
        return Resp(200, {"ok": True})
    if method == "POST":
        if path == "accounts":
            args = {k: v for k, v in body.items() if k not in ("ig_user_id", "token")}
            account = state.add_account(str(body["ig_user_id"]), body.get("token"), **args)
            return Resp(
                200,
                {
                    "ok": True,
                    "ig_user_id": account.ig_user_id,
                    "fb_user_id": account.fb_user_id,
                    "page_id": account.page_id,
                },
            )
        if path == "tokens":
            args = {k: v for k, v in body.items() if k not in ("token", "ig_user_id")}
            state.add_token(str(body["token"]), str(body["ig_user_id"]), **args)
            return Resp(200, {"ok": True})
        if path in ("tokens/expire", "tokens/revoke", "tokens/backdate"):
            token = str(body["token"])
            if path.endswith("expire"):
                state.expire_token(token)
            elif path.endswith("revoke"):
                state.revoke_token(token, subcode=int(body.get("subcode", 460)))
            else:
                state.backdate_token(token, float(body["seconds"]))
            return Resp(200, {"ok": True})
        if path == "apps":
            state.add_app(
                str(body["app_id"]),
                str(body["secret"]),
                redirect_uri=str(body["redirect_uri"]),
                login_kind=str(body.get("login_kind", "facebook")),
            )
            return Resp(200, {"ok": True})
        if path == "codes":
            code = state.issue_code(
                str(body["app_id"]),
                str(body["ig_user_id"]),
                scopes=body.get("scopes"),
                redirect_uri=body.get("redirect_uri"),
            )
            return Resp(200, {"code": code})
        if path == "faults":
            fault = _admin_fault(state, body)
            return Resp(200, {"ok": True, "kind": fault.kind, "remaining": fault.remaining})
        if path == "script_containers":
            subcode = body.get("error_subcode")
            state.script_containers(
                str(body["outcome"]),
                error_subcode=int(subcode) if subcode else None,
                count=int(body.get("count", 1)),
            )
            return Resp(200, {"ok": True})
        if path.startswith("containers/"):
            subcode = body.get("error_subcode")
            state.set_container_status(
                path.split("/", 1)[1],
                str(body["status_code"]),
                error_subcode=int(subcode) if subcode else None,
            )
            return Resp(200, {"ok": True})
        if path == "quota":
            state.consume_quota(str(body["ig_user_id"]), int(body.get("n", 1)))
            return Resp(200, {"ok": True})
        if path == "config":
            unknown = set(body) - set(_CONFIG_KEYS)
            if unknown:
                raise ValueError(f"unknown config keys {sorted(unknown)}")
            with state.lock:
                for key, value in body.items():
                    setattr(state, key, tuple(value) if key == "republish_error" else value)
            return Resp(200, {"ok": True})
        if path == "advance":
            state.advance(float(body["seconds"]))
            return Resp(200, {"ok": True, "now": state.now()})
        if path == "reset":
            state.reset()
            return Resp(200, {"ok": True})
    return Resp(404, {"error": f"unknown admin endpoint {method} /_fake/{path}"})
