"""The review page in a process of its own, started and stopped by the daemon.

Measured (bench/README.md, "Issue 15: review page"): rendering pages in a thread of the daemon competes with
the publish threads for the interpreter lock, and a page reloaded in a loop made posts tens of seconds late.
In a child process with a lower CPU priority (nice 10) the operating system always runs publishing first,
and the page only has the database in common with the daemon. The child is made with ``spawn`` (a fresh
interpreter, nothing inherited but the Settings), says whether it could listen before ``start()`` returns,
and ends when asked (SIGTERM) or when the daemon is gone.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from postpilot.domain.errors import ConfigError
from postpilot.logging import get_logger

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from postpilot.config import Settings

log = get_logger("postpilot.review")

NICE = 10  # below the daemon: publishing first, pages with what is left
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class ReviewProcess:
    def __init__(self, settings: Settings, *, host: str, port: int, behind_proxy: bool = False) -> None:
        self._settings = settings
        self._host = host
        self._port = port
        self._behind_proxy = behind_proxy
        self._process: BaseProcess | None = None

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(
            target=serve,
            args=(self._settings, self._host, self._port, self._behind_proxy, theirs, os.getpid()),
            name="postpilot-review",
        )
        process.start()
        theirs.close()
        self._process = process
        if not ours.poll(START_TIMEOUT_S):
            self.stop()
            raise ConfigError(f"the review page did not start within {START_TIMEOUT_S:.0f} s")
        try:
            state, detail = ours.recv()
        except EOFError:
            state, detail = "error", "the review page's process ended at start (see the log above)"
        ours.close()
        if state != "ok":
            self.stop()
            raise ConfigError(str(detail))
        self._port = int(detail)
        log.info("review_page_listening", url=self.url, pid=process.pid)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or not process.is_alive():
            return
        process.terminate()  # SIGTERM: the child lets running requests finish and closes its sockets
        process.join(STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join()


def serve(settings: Settings, host: str, port: int, behind_proxy: bool, report: Connection, parent_pid: int) -> None:
    """The child's life: build the App and the page from the daemon's Settings, listen, say so, and serve
    until SIGTERM or until the daemon that started it is gone."""
    with contextlib.suppress(OSError):
        os.nice(NICE)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle; it stops us in turn
    from postpilot.app import build_app
    from postpilot.logging import configure_logging
    from postpilot.review.factory import create_review_app
    from postpilot.review.server import ReviewServer

    configure_logging(level=settings.log_level, fmt=settings.log_format)
    app = build_app(settings)
    try:
        try:
            server = ReviewServer(create_review_app(app), host=host, port=port, behind_proxy=behind_proxy)
            server.start()
        except ConfigError as exc:
            report.send(("error", exc.message))
            return
        report.send(("ok", server.port))
        report.close()
        while not stop.wait(1.0):
            if os.getppid() != parent_pid:  # the daemon died without stopping us (SIGKILL): nobody to serve
                break
        server.stop()
    finally:
        app.close()
