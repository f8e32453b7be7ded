"""The daemon's small HTTP endpoint: health, readiness, metrics and a status summary.

    GET /livez             200/503 from ``probe.liveness()``: heartbeat age only, no I/O
    GET /readyz, /healthz  200/503 from ``probe.readiness()``: database, schema, recent poll, not draining
    GET /metrics           Prometheus exposition
    GET /status            JSON of ``probe.status()``

It runs on a stdlib ``ThreadingHTTPServer`` in a daemon thread, so a slow scrape never blocks the
scheduler. Bodies are built only from what the probe reports: a probe that raises becomes a 503 with a
generic reason, and the details go to the log, never to the wire.
"""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import structlog

from postpilot.domain.errors import ConfigError
from postpilot.metrics import Metrics

log = structlog.get_logger(__name__)

_PROBE_FAILED = "the health check itself failed; see the daemon's log"
_ALLOW = "GET, HEAD"
_MAX_DISCARDED_BODY = 64 * 1024


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    checks: dict[str, object] = field(default_factory=dict)
    reason: str | None = None


class HealthProbe(Protocol):
    """What the daemon answers about itself; the HTTP layer only formats it."""

    def liveness(self) -> HealthReport: ...

    def readiness(self) -> HealthReport: ...

    def status(self) -> dict[str, object]: ...


def _json(payload: object) -> bytes:
    # default=str: checks and status carry datetimes and enums.
    return json.dumps(payload, default=str, sort_keys=True).encode()


def _report_body(report: HealthReport) -> tuple[int, bytes]:
    if report.ok:
        return HTTPStatus.OK, _json({"status": "ok", "checks": report.checks})
    payload = {"status": "unavailable", "reason": report.reason or "not ready", "checks": report.checks}
    return HTTPStatus.SERVICE_UNAVAILABLE, _json(payload)


# A busy scrape must never be felt by publishing: at most this many requests are served at once (more get a
# 503 at once, from the accepting thread), and /status, which queries the database, is computed at most once
# per STATUS_CACHE_S however many ask.
MAX_CONCURRENT_REQUESTS = 8
STATUS_CACHE_S = 1.0
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Cache-Control: no-store\r\nContent-Length: 50\r\n\r\n"
    b'{"status": "unavailable", "reason": "busy, retry"}'
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, family: int, probe: HealthProbe, metrics: Metrics) -> None:
        self.address_family = family
        self.probe = probe
        self.metrics = metrics
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_REQUESTS)
        self._status_lock = threading.Lock()
        self._status_cache: tuple[float, object] | None = None
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def cached_status(self) -> object:
        """The probe's status, computed at most once per ``STATUS_CACHE_S`` (one at a time)."""
        with self._status_lock:
            now = time.monotonic()
            if self._status_cache is None or now - self._status_cache[0] >= STATUS_CACHE_S:
                self._status_cache = (now, self.probe.status())
            return self._status_cache[1]

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup we neither need nor want at start-up.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response are routine for probes; keep tracebacks off stderr.
        log.debug("health_http.connection_error", client=str(client_address), error=repr(sys.exc_info()[1]))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so no idle keep-alive thread outlives stop().
    protocol_version = "HTTP/1.0"
    # A client that connects and sends nothing must not pin a thread forever.
    timeout = 10
    server_version = "postpilot"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _method_not_allowed(self) -> None:
        self._discard_body()
        path = urlsplit(self.path).path
        if path in _ROUTES:
            body = _json({"status": "error", "reason": "method not allowed"})
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, body, extra={"Allow": _ALLOW})
        else:
            self._send(HTTPStatus.NOT_FOUND, _json({"status": "error", "reason": "not found"}))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _method_not_allowed

    def _dispatch(self, *, head: bool) -> None:
        route = _ROUTES.get(urlsplit(self.path).path)
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, _json({"status": "error", "reason": "not found"}), head=head)
            return
        try:
            status, body, content_type = route(self)
        except Exception:
            log.warning("health_http.handler_failed", path=self.path, exc_info=True)
            status, body, content_type = (
                HTTPStatus.SERVICE_UNAVAILABLE,
                _json({"status": "unavailable", "reason": _PROBE_FAILED, "checks": {}}),
                "application/json",
            )
        self._send(status, body, content_type=content_type, head=head)

    def _livez(self) -> tuple[int, bytes, str]:
        return (*_report_body(self.server.probe.liveness()), "application/json")

    def _readyz(self) -> tuple[int, bytes, str]:
        return (*_report_body(self.server.probe.readiness()), "application/json")

    def _metrics(self) -> tuple[int, bytes, str]:
        body, content_type = self.server.metrics.render(self.headers.get("Accept", ""))
        return HTTPStatus.OK, body, content_type

    def _status(self) -> tuple[int, bytes, str]:
        return HTTPStatus.OK, _json(self.server.cached_status()), "application/json"

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        head: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _discard_body(self) -> None:
        # Reading what the client sent lets it see our answer instead of a reset connection.
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return
        if 0 < length <= _MAX_DISCARDED_BODY:
            self.rfile.read(length)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib's HTML error page echoes parts of the request; answer malformed requests in JSON.
        self.close_connection = True
        try:
            reason = HTTPStatus(code).phrase.lower()
        except ValueError:
            reason = "error"
        head = self.command == "HEAD"
        self._send(code, _json({"status": "error", "reason": reason}), head=head)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health_http.request", client=self.client_address[0], line=format % args)


_Route = Callable[[_Handler], tuple[int, bytes, str]]
_ROUTES: dict[str, _Route] = {
    "/livez": _Handler._livez,
    "/readyz": _Handler._readyz,
    "/healthz": _Handler._readyz,
    "/metrics": _Handler._metrics,
    "/status": _Handler._status,
}


class HealthServer:
    """Serves the health routes in a background thread; ``port=0`` picks a free port (tests)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        probe: HealthProbe,
        metrics: Metrics,
        poll_interval_s: float = 0.5,
    ) -> None:
        # poll_interval_s bounds how long stop() waits for the serving loop to notice; tests make it small.
        self._poll_interval_s = poll_interval_s
        self._host = host
        self._port = port
        self._probe = probe
        self._metrics = metrics
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the real one when 0 was asked for), else the configured one."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the health server is already running")
        where = f"{self._host}:{self._port}"
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        try:
            server = _Server((self._host, self._port), family=family, probe=self._probe, metrics=self._metrics)
        except OverflowError as exc:
            raise ConfigError(f"The health endpoint port {self._port} is not between 0 and 65535.") from exc
        except socket.gaierror as exc:
            raise ConfigError(f"The health endpoint address {where} is not a valid host.") from exc
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                msg = f"The health endpoint cannot listen on {where}: the address is already in use."
            elif exc.errno in (errno.EACCES, errno.EPERM):
                msg = f"The health endpoint may not listen on {where} (ports below 1024 need privileges)."
            elif exc.errno == errno.EADDRNOTAVAIL:
                msg = f"The health endpoint cannot listen on {where}: no such address on this machine."
            else:
                msg = f"The health endpoint cannot listen on {where}: {exc.strerror or exc}."
            raise ConfigError(msg) from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": self._poll_interval_s},
            name="postpilot-health",
            daemon=True,
        )
        self._thread.start()
        log.debug("health_http.listening", host=self._host, port=self.port)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summarise(payload: object) -> str:
    if not isinstance(payload, dict):
        return ""
    parts: list[str] = []
    if payload.get("status") != "ok" and payload.get("reason"):
        parts.append(str(payload["reason"]))
    checks = payload.get("checks")
    if isinstance(checks, dict) and checks:
        rendered = ", ".join(
            f"{k}={v if isinstance(v, str | int | float | bool) or v is None else json.dumps(v, default=str)}"
            for k, v in checks.items()
        )
        parts.append(f"({rendered})" if parts else rendered)
    return " ".join(parts)


def probe_health(url: str, timeout_s: float) -> tuple[bool, str]:
    """Ask a running daemon whether it is ready: ``(ready, one-line summary)``.

    ``url`` is the endpoint's base (``http://127.0.0.1:8765``, ``/readyz`` is appended) or a full route URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False, f"not ready: {url!r} is not an http(s) URL"
    if parts.path in ("", "/"):
        parts = parts._replace(path="/readyz")
    target = urlunsplit(parts)
    # The endpoint is local by default; an HTTP(S)_PROXY meant for the outside world must not intercept it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # Only http(s) reaches this point (checked above).
    request = urllib.request.Request(target, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout_s) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, body = exc.code, exc.read()
    except TimeoutError:
        return False, f"not ready: no answer from {target} within {timeout_s:g} s"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return False, f"not ready: no answer from {target} within {timeout_s:g} s"
        return False, _one_line(f"not ready: cannot reach {target}: {reason}")
    try:
        payload: object = json.loads(body)
    except ValueError:
        payload = None
    summary = _summarise(payload)
    if status == HTTPStatus.OK:
        return True, _one_line(f"ready: {summary}" if summary else "ready")
    verdict = f"not ready (HTTP {status})"
    return False, _one_line(f"{verdict}: {summary}" if summary else verdict)
