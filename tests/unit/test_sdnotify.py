"""sd_notify against real AF_UNIX datagram sockets, as systemd would provide them."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from postpilot.sdnotify import SystemdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's notification socket, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        yield sock, str(path)


def _recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def _assert_nothing_pending(sock: socket.socket) -> None:
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_each_call_sends_one_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": path})

    assert notifier.enabled
    assert notifier.ready() is True
    assert notifier.status("polling: 3 due") is True
    assert notifier.watchdog() is True
    assert notifier.stopping() is True
    assert notifier.extend_timeout(2.5) is True

    assert _recv(sock) == "READY=1\n"
    assert _recv(sock) == "STATUS=polling: 3 due\n"
    assert _recv(sock) == "WATCHDOG=1\n"
    assert _recv(sock) == "STOPPING=1\n"
    assert _recv(sock) == "EXTEND_TIMEOUT_USEC=2500000\n"
    _assert_nothing_pending(sock)


def test_ready_with_status_is_a_single_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    SystemdNotifier(environ={"NOTIFY_SOCKET": path}).ready("up: 2 accounts")

    assert _recv(sock) == "READY=1\nSTATUS=up: 2 accounts\n"
    _assert_nothing_pending(sock)


def test_notify_upper_cases_keys_and_keeps_values_on_one_line(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": path})

    assert notifier.notify(status="two\nlines", errno=5) is True
    assert _recv(sock) == "STATUS=two lines\nERRNO=5\n"
    assert notifier.notify() is False


def test_abstract_namespace_socket() -> None:
    name = f"postpilot-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": "@" + name})

        assert notifier.ready() is True
        assert _recv(sock) == "READY=1\n"


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SystemdNotifier(environ={"WATCHDOG_USEC": "30000000"})

    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert notifier.ready() is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False
    assert notifier.extend_timeout(10) is False


def test_reads_the_process_environment_by_default(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)

    notifier = SystemdNotifier()

    assert notifier.watchdog_interval_s == 5.0
    assert notifier.watchdog() is True
    assert _recv(sock) == "WATCHDOG=1\n"


def test_a_relative_socket_path_is_ignored() -> None:
    assert not SystemdNotifier(environ={"NOTIFY_SOCKET": "relative/notify.sock"}).enabled


def test_send_errors_are_swallowed(tmp_path: Path) -> None:
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})

    assert notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 15.0),
        ("30000000", "self", 15.0),
        ("30000000", "1", None),  # pings are expected from another process
        ("1000", None, 0.0005),
        ("0", None, None),
        ("not-a-number", None, None),
        (None, None, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    usec: str | None, pid: str | None, expected: float | None
) -> None:
    environ = {"NOTIFY_SOCKET": "/run/systemd/notify"}
    if usec is not None:
        environ["WATCHDOG_USEC"] = usec
    if pid is not None:
        environ["WATCHDOG_PID"] = str(os.getpid()) if pid == "self" else pid

    assert SystemdNotifier(environ=environ).watchdog_interval_s == expected
