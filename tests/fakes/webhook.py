"""A webhook receiver for notification tests: what Apprise's ``json://`` sends (a JSON body with ``title`` and
``message``), recorded; it can answer 500 for the next N messages, like a chat service having a bad minute."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.base import FakeHandler, FakeServer


@dataclass
class WebhookState:
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def titles(self) -> list[str]:
        with self.lock:
            return [str(m.get("title")) for m in self.received]


class WebhookHandler(FakeHandler):
    def do_POST(self) -> None:
        state: WebhookState = self.server.state
        body = self.read_body()
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


def webhook() -> FakeServer[WebhookState]:
    return FakeServer(WebhookHandler, WebhookState())


def json_url(server: FakeServer[WebhookState], path: str = "hook") -> str:
    return f"json://127.0.0.1:{server.port}/{path}"
