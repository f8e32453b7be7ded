"""A small threaded HTTP server base shared by the fakes.

A fake subclasses ``FakeHandler`` (stdlib ``BaseHTTPRequestHandler``) and starts with ``FakeServer(handler_cls,
state)``; the handler reaches shared state as ``self.server.state``. ``FakeServer`` is a context manager and
can also run in a separate process via ``python -m tests.fakes.<name> --port N`` where a fake provides ``main``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

S = TypeVar("S")


class _Server(ThreadingHTTPServer, Generic[S]):
    daemon_threads = True
    allow_reuse_address = True
    state: S


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY every answer waits ~40 ms for a delayed ACK, dwarfing configured latencies.
    disable_nagle_algorithm = True
    server: _Server[Any]

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state, not logs
        return

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_raw(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def drop_connection(self) -> None:
        """Close the socket without answering: the client sees a dropped connection."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)


class FakeServer(Generic[S]):
    def __init__(self, handler: type[FakeHandler], state: S, port: int = 0) -> None:
        self._httpd: _Server[S] = _Server(("127.0.0.1", port), handler)
        self._httpd.state = state
        self.state = state
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer[S]:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer[S]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
