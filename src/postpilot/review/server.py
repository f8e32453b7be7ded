"""The review page's server: waitress in its own thread, on its own listener (``POSTPILOT_WEB_LISTEN``).

waitress is a production WSGI server with a small pool of request threads, so a page being reloaded in a
loop takes turns on those threads and never on the scheduler's or the publish pool's. The accept loop runs
one poll at a time, so ``stop()`` ends it from another thread without closing sockets under its feet.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from waitress.server import create_server

from postpilot.domain.errors import ConfigError
from postpilot.logging import get_logger

if TYPE_CHECKING:
    from flask import Flask
    from waitress.server import BaseWSGIServer, MultiSocketServer

log = get_logger("postpilot.review")

REQUEST_THREADS = 4
_POLL_S = 0.5


class ReviewServer:
    def __init__(self, web: Flask, *, host: str, port: int, threads: int = REQUEST_THREADS) -> None:
        self._web = web
        self._host = host
        self._port = port
        self._threads = threads
        self._server: BaseWSGIServer | MultiSocketServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def port(self) -> int:
        server = self._server
        return int(getattr(server, "effective_port", self._port)) if server is not None else self._port

    def start(self) -> None:
        try:
            self._server = create_server(
                self._web,
                host=self._host,
                port=self._port,
                threads=self._threads,
                ident="postpilot",
                # Errors are the app's to show in words (factory.py); waitress must not add its own tracebacks.
                expose_tracebacks=False,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            raise ConfigError(
                f"the review page cannot listen on {self._host}:{self._port} (POSTPILOT_WEB_LISTEN): {exc.strerror}"
            ) from exc
        self._thread = threading.Thread(target=self._serve, name="review-page", daemon=True)
        self._thread.start()
        log.info("review_page_listening", url=self.url)

    def _serve(self) -> None:
        from waitress import wasyncore

        server = self._server
        assert server is not None
        socket_map = _socket_map(server)
        while not self._stop.is_set():
            wasyncore.loop(timeout=_POLL_S, map=socket_map, use_poll=True, count=1)

    def stop(self) -> None:
        """Stop accepting, let running requests finish (a few seconds at most), close every socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_POLL_S * 4)
        server = self._server
        if server is not None:
            from waitress import wasyncore

            server.task_dispatcher.shutdown(timeout=5)
            wasyncore.close_all(_socket_map(server))
            self._server = None


def _socket_map(server: BaseWSGIServer | MultiSocketServer) -> dict[int, Any]:
    """The sockets waitress polls: one listener's own map, or the shared map of several listeners."""
    found = getattr(server, "map", None) or getattr(server, "_map", None)
    assert isinstance(found, dict), "waitress keeps its sockets in a dict"
    return found
