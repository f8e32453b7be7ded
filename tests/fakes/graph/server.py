"""The fake on the wire (``GraphFakeHandler``), ``make_server``, and running it as its own process."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable

from tests.fakes.base import FakeHandler, FakeServer
from tests.fakes.graph.admin import _admin
from tests.fakes.graph.parsing import Req, parse_request
from tests.fakes.graph.records import _CODE_MESSAGES, _HTML_ERROR, Fault, GraphError, RequestRecord, Resp, _trace_id
from tests.fakes.graph.routes import GraphRoutes
from tests.fakes.graph.state import GraphState, _usage_headers

# --- the wire -----------------------------------------------------------------------------------------------


class GraphFakeHandler(FakeHandler):
    # (TCP_NODELAY comes from FakeHandler: without it every answer waits ~40 ms for a delayed ACK.)

    @property
    def state(self) -> GraphState:
        state: GraphState = self.server.state
        return state

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        body = self.read_body()
        try:
            req = parse_request(method, self.path, self.headers, body)
        except (ValueError, UnicodeDecodeError):
            self._send(GraphError(100, None, "(#100) The request body could not be parsed").response())
            return
        if req.segments[:1] == ["_fake"]:
            try:
                self._send(_admin(self.state, req))
            except (KeyError, ValueError, TypeError) as exc:
                self._send(Resp(400, {"error": f"{type(exc).__name__}: {exc}"}))
            return
        self._serve_graph(req)

    def _serve_graph(self, req: Req) -> None:
        state = self.state
        api = GraphRoutes(state)
        kind, handler = api.route(req)
        self._record(req, kind)
        latency = state.latency.get(kind, 0.0)
        if latency > 0:
            time.sleep(latency)
        metered = kind != "oauth" and state.report_usage
        subject = self._subject(req) if metered else None
        if metered:
            refused = self._over_budget(subject)
            if refused is not None:
                self._send(refused)
                return
            state.count_call(subject)
        fault = state.take_fault(kind)
        if fault is None:
            self._send(self._with_usage(self._call(handler, req), subject, kind))
            return
        resp = self._call(handler, req) if fault.commit else None
        if fault.delay_s > 0:
            time.sleep(fault.delay_s)
        if fault.expire_token and req.token:
            state.expire_token(req.token)
        if fault.drop:
            self.drop_connection()
            return
        if fault.answers_error:
            self._send(self._fault_response(fault, req))
            return
        self._send(resp if resp is not None else self._call(handler, req))

    def _subject(self, req: Req) -> str | None:
        """The Instagram account a call is about, for its business-use-case usage."""
        state = self.state
        with state.lock:
            first = req.segments[0] if req.segments else ""
            if first in state.accounts:
                return first
            if first in state.containers:
                return state.containers[first].ig_user_id
            if first in state.media_by_id:
                return state.media_by_id[first].ig_user_id
            tok = state.tokens.get(req.token or "")
            if tok is not None and len(tok.ig_user_ids) == 1:
                return next(iter(tok.ig_user_ids))
            return None

    def _usage_headers_for(self, subject: str | None) -> dict[str, str]:
        state = self.state
        app_pct, account_pct = state.usage_percent(subject)
        headers = {
            "X-App-Usage": json.dumps(
                {"call_count": app_pct, "total_cputime": app_pct // 2, "total_time": app_pct // 2}
            )
        }
        if subject:
            with state.lock:
                regain = state.regain_minutes(state.account_call_times.get(subject, [])) if account_pct >= 100 else 0
            entry = {
                "type": "instagram",
                "call_count": account_pct,
                "total_cputime": account_pct // 2,
                "total_time": account_pct // 2,
                "estimated_time_to_regain_access": regain,
            }
            headers["X-Business-Use-Case-Usage"] = json.dumps({subject: [entry]})
        return headers

    def _over_budget(self, subject: str | None) -> Resp | None:
        app_pct, account_pct = self.state.usage_percent(subject)
        if account_pct >= 100 and subject:
            err = GraphError(
                80002,
                None,
                _CODE_MESSAGES[80002],
                transient=True,
                headers=self._usage_headers_for(subject),
            )
            return err.response()
        if app_pct >= 100:
            err = GraphError(
                4,
                None,
                "(#4) Application request limit reached",
                transient=True,
                headers=self._usage_headers_for(subject),
            )
            return err.response()
        return None

    def _with_usage(self, resp: Resp, subject: str | None, kind: str) -> Resp:
        if kind == "oauth" or not self.state.report_usage:
            return resp
        resp.headers = {**self._usage_headers_for(subject), **resp.headers}
        return resp

    def _record(self, req: Req, kind: str) -> None:
        state = self.state
        with state.lock:
            state.requests.append(
                RequestRecord(req.method, req.path, kind, dict(req.params), req.token, req.token_in_url, state.now())
            )
            if req.token_in_url:
                if kind == "oauth":
                    state.oauth_token_in_url_count += 1
                else:
                    state.token_in_url_count += 1
            if kind == "publish":
                # Every call counts, whatever happens next: tests prove "never twice" with this.
                creation_id = req.param("creation_id")
                if creation_id:
                    state.publish_calls[creation_id] = state.publish_calls.get(creation_id, 0) + 1

    @staticmethod
    def _call(handler: Callable[[Req], Resp], req: Req) -> Resp:
        try:
            return handler(req)
        except GraphError as err:
            return err.response()
        except Exception:  # a bug in the fake: say so loudly rather than look like one of Meta's 5xx
            traceback.print_exc()
            return Resp(500, raw=b"graph fake internal error (see stderr)", content_type="text/plain")

    def _fault_response(self, fault: Fault, req: Req) -> Resp:
        if fault.html:
            return Resp(fault.http_status, raw=_HTML_ERROR, content_type="text/html; charset=utf-8")
        headers = dict(fault.headers)
        if fault.regain_minutes is not None:
            # Meta keys the business-use-case usage by the object the call was about.
            headers.update(_usage_headers(fault.regain_minutes, req.segments[0] if req.segments else "0"))
        err = GraphError(
            fault.code if fault.code is not None else 1,
            fault.subcode,
            fault.message,
            http_status=fault.http_status,
            transient=fault.transient,
            headers=headers,
        )
        return err.response()

    def _send(self, resp: Resp) -> None:
        headers = {"x-fb-trace-id": _trace_id(), **resp.headers}
        try:
            if resp.raw is not None:
                self.send_raw(resp.status, resp.raw, resp.content_type, headers)
            else:
                self.send_json(resp.status, resp.payload, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): what was done stays done


def make_server(state: GraphState | None = None, port: int = 0) -> FakeServer[GraphState]:
    """An unstarted server on 127.0.0.1 (``with make_server(state) as srv:`` starts and stops it)."""
    return FakeServer(GraphFakeHandler, state if state is not None else GraphState(), port=port)


# --- separate process ---------------------------------------------------------------------------------------


def load_accounts_file(state: GraphState, path: str) -> None:
    """JSON: a list of ``add_account`` keyword objects, or ``{"accounts": [...], "apps": [...]}``."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    accounts = data if isinstance(data, list) else data.get("accounts", [])
    for entry in accounts:
        args = {k: v for k, v in entry.items() if k not in ("ig_user_id", "token")}
        state.add_account(str(entry["ig_user_id"]), entry.get("token"), **args)
    for app in [] if isinstance(data, list) else data.get("apps", []):
        state.add_app(
            str(app["app_id"]),
            str(app["secret"]),
            redirect_uri=str(app["redirect_uri"]),
            login_kind=str(app.get("login_kind", "facebook")),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.graph", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on the READY line)")
    parser.add_argument("--latency-create", type=float, default=0.0)
    parser.add_argument("--latency-status", type=float, default=0.0)
    parser.add_argument("--latency-publish", type=float, default=0.0)
    parser.add_argument("--image-delay", type=float, default=0.0, help="seconds before an image container is FINISHED")
    parser.add_argument("--video-delay", type=float, default=0.2, help="same for reels and video items")
    parser.add_argument("--fetch-media", action="store_true", help="download and check local image URLs")
    parser.add_argument("--accounts-file", help="JSON accounts (and apps) to register at start")
    args = parser.parse_args(argv)

    state = GraphState(
        latency={
            "create": args.latency_create,
            "status": args.latency_status,
            "publish": args.latency_publish,
        },
        image_delay_s=args.image_delay,
        video_delay_s=args.video_delay,
        fetch_media=args.fetch_media,
    )
    if args.accounts_file:
        load_accounts_file(state, args.accounts_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = make_server(state, port=args.port).start()
    print(f"READY {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
