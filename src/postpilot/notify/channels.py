"""Notification channels: Apprise URLs (Slack, Teams, Discord, e-mail, Telegram, ntfy, JSON webhooks…), the one
adapter that talks to them, and how a URL is shown (its scheme and host only: the rest carries tokens)."""

from __future__ import annotations

import hashlib
import threading
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from postpilot.domain.notifications import NoticeKind


def channel_id(url: str) -> str:
    """A stable name for a URL that reveals nothing of it: deliveries are remembered by this."""
    return hashlib.sha256(url.strip().encode()).hexdigest()[:16]


def shown(url: str) -> str:
    """``slack://…`` or ``json://hooks.example.com/…``: enough to tell channels apart, never a secret."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "(an unreadable URL)"
    host = parts.hostname or ""
    if parts.scheme in ("json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys", "mailto", "mailtos"):
        return f"{parts.scheme}://{host}/…" if host else f"{parts.scheme}://…"
    return f"{parts.scheme}://…"


@dataclass(frozen=True, slots=True)
class Channel:
    url: str
    kinds: frozenset[NoticeKind]
    account_id: int | None = None  # None: POSTPILOT_NOTIFY_URLS, for every account

    @property
    def id(self) -> str:
        return channel_id(self.url)

    @property
    def label(self) -> str:
        return shown(self.url)


class DeliveryError(Exception):
    """Apprise could not deliver; the message names the channel by ``shown`` only."""


def _apprise() -> Any:
    """Apprise, imported on first use (it costs a few MB). Its e-mail plugin imports ``imghdr``, deprecated on
    Python 3.11: that warning is Apprise's, not ours, and says nothing to an operator."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*imghdr.*", category=DeprecationWarning)
        import apprise

        apprise.Apprise.instantiate("json://localhost", suppress_exceptions=True)  # loads the plugins now
    return apprise


class AppriseSender:
    """Sends one message to one channel through Apprise, in at most ``timeout_s`` (30 s) whatever the receiver
    does.

    Apprise hands its timeouts to each socket operation (postpilot sets 10 s to connect, 15 s for a read), which
    bounds a receiver that says nothing but not one that never finishes: a body trickled a byte at a time, an
    SMTP greeting of endless ``220-`` lines. So the message goes out on a thread of its own and is given up at
    ``timeout_s`` (the notice is then retried with its backoff). A thread cannot be stopped: the one given up
    is left to end by itself, and until it has, its channel is sent nothing else (that fails at once), so a
    channel that hangs holds one thread however many messages wait for it."""

    def __init__(self, *, timeout_s: float = 30.0) -> None:
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._stuck: dict[str, threading.Thread] = {}  # channel id -> a send given up that is still running

    def check(self, url: str) -> str | None:
        """None when Apprise understands ``url``; otherwise why not, in words that show no secret."""
        apprise = _apprise()
        if apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True) is None:
            return f"{shown(url)} is not a notification URL Apprise knows (see the Apprise wiki for the schemes)"
        return None

    def send(self, url: str, *, title: str, body: str) -> None:
        apprise = _apprise()
        service = apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True)
        if service is None:
            raise DeliveryError(f"{shown(url)} is not a notification URL Apprise knows")
        service.socket_read_timeout = min(15.0, self._timeout_s)
        service.socket_connect_timeout = min(10.0, self._timeout_s)
        key = channel_id(url)
        with self._lock:
            earlier = self._stuck.get(key)
            if earlier is not None and earlier.is_alive():
                raise DeliveryError(f"{shown(url)} has still not answered an earlier message")
            self._stuck.pop(key, None)
        result: list[bool | BaseException] = []

        def deliver() -> None:
            try:
                # Our messages are plain lines; said so, e-mail keeps them as lines instead of reflowing them.
                result.append(bool(service.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)))
            except BaseException as exc:  # handed to the caller's thread
                result.append(exc)

        worker = threading.Thread(target=deliver, name="postpilot-notify-send", daemon=True)
        worker.start()
        worker.join(self._timeout_s)
        if worker.is_alive():
            with self._lock:
                self._stuck[key] = worker
            raise DeliveryError(f"{shown(url)} did not answer within {self._timeout_s:g} s")
        (outcome,) = result
        if isinstance(outcome, BaseException):
            raise outcome
        if not outcome:
            raise DeliveryError(f"{shown(url)} did not accept the message")
