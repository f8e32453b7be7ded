"""A webhook receiver for notification tests: what Apprise's ``json://`` sends (a JSON body with ``title`` and
``message``), recorded; it can answer 500 for the next N messages, like a chat service having a bad minute.

It can also hang, like a chat service whose load balancer accepts connections that nobody serves: with
``hang`` on, each message is read and then held (connection open, no answer) until ``release()``. ``trickle``
answers meanwhile, but slowly: the headers of a long body, then a byte of it every so often, so that no
socket read timeout ever fires (a client that bounds only each read waits for ever). Released, it answers as
usual, or drops the connection (``drop_on_release``; a trickled answer is always dropped, being half sent).
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.base import FakeHandler, FakeServer

TRICKLE_EVERY_S = 0.2
TRICKLE_BODY_BYTES = 1_000_000  # a byte every TRICKLE_EVERY_S: days


@dataclass
class WebhookState:
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    hang: bool = False
    trickle: bool = False
    drop_on_release: bool = False
    holding: int = 0  # messages held right now
    held: threading.Event = field(default_factory=threading.Event)  # set once a message is being held
    released: threading.Event = field(default_factory=threading.Event)

    def titles(self) -> list[str]:
        with self.lock:
            return [str(m.get("title")) for m in self.received]

    def release(self) -> None:
        """Let the held messages go (and stop hanging: later ones are answered at once)."""
        with self.lock:
            self.hang = False
        self.released.set()


class WebhookHandler(FakeHandler):
    def do_POST(self) -> None:
        state: WebhookState = self.server.state
        body = self.read_body()
        with state.lock:
            hanging = state.hang
            if hanging:
                state.holding += 1
        if hanging:
            state.held.set()
            dropped = self._hold(state)
            with state.lock:
                state.holding -= 1
            if dropped:
                return
        with state.lock:
            if state.fail_next > 0:
                state.fail_next -= 1
                failing = True
            else:
                failing = False
                state.received.append({**json.loads(body or b"{}"), "path": self.path})
        if failing:
            self.send_raw(500, b"try later", "text/plain")
        else:
            self.send_raw(200, b"ok", "text/plain")

    def _hold(self, state: WebhookState) -> bool:
        """Wait for ``release()``; True when the connection was dropped instead of answered."""
        if state.trickle:
            with contextlib.suppress(OSError):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(TRICKLE_BODY_BYTES))
                self.end_headers()
                self.wfile.flush()
                while not state.released.wait(TRICKLE_EVERY_S):
                    self.wfile.write(b".")
                    self.wfile.flush()
            self.drop_connection()
            return True
        state.released.wait()
        if state.drop_on_release:
            self.drop_connection()
            return True
        return False


def webhook() -> FakeServer[WebhookState]:
    return FakeServer(WebhookHandler, WebhookState())


def json_url(server: FakeServer[WebhookState], path: str = "hook") -> str:
    return f"json://127.0.0.1:{server.port}/{path}"
