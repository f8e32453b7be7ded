"""The systemd notification protocol (sd_notify) in a few lines of stdlib.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET``; each notification is one datagram of
``KEY=value`` lines sent to that socket. A leading ``@`` names a socket in Linux's abstract namespace.
With ``WatchdogSec=`` systemd also passes ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``, the process it
expects the pings from); pinging at half that interval leaves room for one late ping.

Outside systemd every method is a no-op that returns False, and a failed send is logged and ignored:
losing one notification must never stop the daemon (systemd's own ``sd_notify`` behaves the same way).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)

# A stuck service manager must not wedge the caller (the poll loop pings the watchdog).
_SEND_TIMEOUT_S = 1.0


def _socket_address(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # systemd only hands out absolute paths and abstract names; anything else is not meant for us.
    log.debug("sd_notify.unsupported_socket", notify_socket=raw)
    return None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    try:
        usec_value = int(usec)
        if pid and int(pid) != os.getpid():
            return None  # the watchdog belongs to another process (e.g. a wrapper that exec'd us)
    except ValueError:
        return None
    if usec_value <= 0:
        return None
    return usec_value / 2 / 1_000_000


class SystemdNotifier:
    """Sends readiness, status, watchdog and stopping notifications to systemd."""

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET"))
        # How often to call ``watchdog()``, or None when systemd does not watch this process.
        self.watchdog_interval_s: float | None = _watchdog_interval(env) if self._address else None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, **fields: object) -> bool:
        """Send one datagram with ``KEY=value`` lines (keys are upper-cased); True if it was sent."""
        if self._address is None or not fields:
            return False
        # A newline inside a value would start a new, unintended assignment.
        lines = (f"{key.upper()}={str(value).replace(chr(10), ' ')}" for key, value in fields.items())
        payload = ("\n".join(lines) + "\n").encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT_S)
                sock.sendto(payload, self._address)
        except OSError as exc:
            log.debug("sd_notify.send_failed", error=str(exc), fields=sorted(fields))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (only once config, DB, listener and scheduler are up)."""
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """Ping the watchdog; call it from the place that proves progress (after a successful poll)."""
        return self.notify(WATCHDOG=1)

    def stopping(self) -> bool:
        return self.notify(STOPPING=1)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more before systemd gives up on the current start-up or shutdown."""
        return self.notify(EXTEND_TIMEOUT_USEC=max(0, int(seconds * 1_000_000)))
