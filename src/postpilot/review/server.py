"""The review page's server: waitress in a thread, on its own listener (``POSTPILOT_WEB_LISTEN``).

waitress is a production WSGI server with a small pool of request threads, so a page being reloaded in a
loop waits for those threads and nothing else. The daemon runs this inside a process of its own
(``process.py``), where the page cannot take the interpreter from the publish threads; tests and the
benchmark run it in their own process. The accept loop runs one poll at a time, so ``stop()`` ends it from
another thread without closing sockets under its feet.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Protocol

from waitress.server import create_server

from postpilot.domain.errors import ConfigError
from postpilot.logging import get_logger

if TYPE_CHECKING:
    from flask import Flask
    from waitress.server import BaseWSGIServer, MultiSocketServer

log = get_logger("postpilot.review")

REQUEST_THREADS = 4


class PageServer(Protocol):
    """What the daemon starts and stops: ``ReviewServer`` here, or ``process.ReviewProcess`` around it."""

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


_POLL_S = 0.5


class ReviewServer:
    def __init__(
        self, web: Flask, *, host: str, port: int, threads: int = REQUEST_THREADS, behind_proxy: bool = False
    ) -> None:
        self._web = web
        self._behind_proxy = behind_proxy
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
        """Listen and serve in a thread of this process (tests, the benchmark; the daemon uses ``process.py``)."""
        try:
            self._server = create_server(
                self._web,
                host=self._host,
                port=self._port,
                threads=self._threads,
                ident="postpilot",
                # Errors are the app's to show in words (factory.py); waitress must not add its own tracebacks.
                expose_tracebacks=False,
                **self._proxy_options(),
            )
        except OSError as exc:
            raise ConfigError(
                f"the review page cannot listen on {self._host}:{self._port} (POSTPILOT_WEB_LISTEN): {exc.strerror}"
            ) from exc
        # A browser opens six connections for a page's thumbnails, so a few requests waiting for one of the
        # threads is normal here, not worth a warning per request in the daemon's log.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._thread = threading.Thread(target=self._serve, name="review-page", daemon=True)
        self._thread.start()
        log.info("review_page_listening", url=self.url)

    def _proxy_options(self) -> dict[str, Any]:
        """Forwarded headers are dropped, except behind a TLS proxy (POSTPILOT_WEB_SECURE_COOKIES): then one
        hop's X-Forwarded-Proto says the browser used HTTPS. Only the proxy may reach the port then (loopback)."""
        if not self._behind_proxy:
            return {"clear_untrusted_proxy_headers": True}
        return {
            "trusted_proxy": "*",
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True,
        }

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
