"""A local SMTP server for notification tests (aiosmtpd): what Apprise's ``mailto://`` sends, parsed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]

    def url(self, to: str = "team@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=postpilot@example.com&to={to}"


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self._box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self._box.lock:
            self._box.messages.append(parsed)  # type: ignore[arg-type]
            self._box.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
