"""The health endpoint over real HTTP, with a stand-in for the daemon's probe."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from postpilot.domain.errors import ConfigError
from postpilot.metrics import Metrics
from postpilot.web import HealthProbe, HealthReport, HealthServer, probe_health

SECRET = "EAAG-secret-token-123"


@dataclass
class FakeProbe:
    """Implements HealthProbe the way the daemon will, with answers set by the test."""

    live: HealthReport = field(default_factory=lambda: HealthReport(ok=True, checks={"heartbeat_age_s": 1.2}))
    ready: HealthReport = field(
        default_factory=lambda: HealthReport(ok=True, checks={"database": "ok", "last_poll_age_s": 3.0})
    )
    summary: dict[str, object] = field(
        default_factory=lambda: {"counts": {"scheduled": 2}, "last_poll": datetime(2030, 1, 1, tzinfo=UTC)}
    )
    broken: set[str] = field(default_factory=set)
    status_calls: int = 0

    def _maybe_fail(self, name: str) -> None:
        if name in self.broken:
            raise RuntimeError(f"database password={SECRET} rejected")

    def liveness(self) -> HealthReport:
        self._maybe_fail("liveness")
        return self.live

    def readiness(self) -> HealthReport:
        self._maybe_fail("readiness")
        return self.ready

    def status(self) -> dict[str, object]:
        self._maybe_fail("status")
        self.status_calls += 1
        return self.summary


NOT_READY = HealthReport(ok=False, checks={"last_poll_age_s": 900.0}, reason="no successful poll for 900 s")


@pytest.fixture
def probe() -> FakeProbe:
    return FakeProbe()


@pytest.fixture
def server(probe: FakeProbe) -> Iterator[HealthServer]:
    checked: HealthProbe = probe  # the fake must satisfy the protocol the daemon implements
    with HealthServer(
        host="127.0.0.1", port=0, probe=checked, metrics=Metrics(), poll_interval_s=0.01
    ) as srv:
        yield srv


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def call(
    server: HealthServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


def test_livez_reports_the_heartbeat(server: HealthServer) -> None:
    reply = call(server, "/livez")

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json() == {"status": "ok", "checks": {"heartbeat_age_s": 1.2}}


def test_livez_fails_when_the_heartbeat_is_stale(server: HealthServer, probe: FakeProbe) -> None:
    probe.live = HealthReport(ok=False, checks={"heartbeat_age_s": 300.0}, reason="scheduler loop stalled")

    reply = call(server, "/livez")

    assert reply.status == 503
    assert reply.json() == {
        "status": "unavailable",
        "reason": "scheduler loop stalled",
        "checks": {"heartbeat_age_s": 300.0},
    }


@pytest.mark.parametrize("path", ["/readyz", "/healthz", "/readyz?verbose=1"])
def test_readiness_routes_ok(server: HealthServer, path: str) -> None:
    reply = call(server, path)

    assert reply.status == 200
    assert reply.json() == {"status": "ok", "checks": {"database": "ok", "last_poll_age_s": 3.0}}


@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_readiness_routes_not_ready(server: HealthServer, probe: FakeProbe, path: str) -> None:
    probe.ready = NOT_READY

    reply = call(server, path)

    assert reply.status == 503
    assert reply.json() == {
        "status": "unavailable",
        "reason": "no successful poll for 900 s",
        "checks": {"last_poll_age_s": 900.0},
    }


@pytest.mark.parametrize("path", ["/readyz", "/healthz", "/livez"])
def test_head_on_health_routes_has_headers_but_no_body(server: HealthServer, path: str) -> None:
    get = call(server, path)
    head = call(server, path, method="HEAD")

    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(get.body))


def test_head_reports_not_ready_too(server: HealthServer, probe: FakeProbe) -> None:
    probe.ready = NOT_READY

    assert call(server, "/readyz", method="HEAD").status == 503


@pytest.mark.parametrize("broken", ["liveness", "readiness"])
def test_a_probe_that_raises_gives_a_generic_503(server: HealthServer, probe: FakeProbe, broken: str) -> None:
    probe.broken = {broken}
    path = "/livez" if broken == "liveness" else "/readyz"

    reply = call(server, path)

    assert reply.status == 503
    payload = reply.json()
    assert isinstance(payload, dict)
    assert payload["status"] == "unavailable"
    assert "log" in payload["reason"]
    assert SECRET.encode() not in reply.body
    assert b"Traceback" not in reply.body and b"RuntimeError" not in reply.body

    probe.broken = set()
    assert call(server, path).status == 200  # the server survived


def test_status_is_json_with_datetimes_as_text(server: HealthServer) -> None:
    reply = call(server, "/status")

    assert reply.status == 200
    assert reply.json() == {"counts": {"scheduled": 2}, "last_poll": "2030-01-01 00:00:00+00:00"}


def test_status_probe_raising_is_a_generic_503(server: HealthServer, probe: FakeProbe) -> None:
    probe.broken = {"status"}

    reply = call(server, "/status")

    assert reply.status == 503
    assert SECRET.encode() not in reply.body


def test_metrics_exposition(server: HealthServer) -> None:
    reply = call(server, "/metrics")

    assert reply.status == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b'postpilot_info{version="' in reply.body
    assert b"_created" not in reply.body


def test_metrics_negotiates_openmetrics(server: HealthServer) -> None:
    reply = call(server, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert reply.headers["content-type"].startswith("application/openmetrics-text")
    assert reply.body.endswith(b"# EOF\n")


def test_unknown_path_is_a_json_404(server: HealthServer) -> None:
    reply = call(server, "/admin")

    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"status": "error", "reason": "not found"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(server: HealthServer, method: str) -> None:
    reply = call(server, "/readyz", method=method)

    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD"
    assert reply.json() == {"status": "error", "reason": "method not allowed"}


def test_a_malformed_request_gets_a_json_error(server: HealthServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /readyz HTTP/1.0\r\nX-Junk: " + b"a" * 70_000 + b"\r\n\r\n")
        raw = b""
        while chunk := sock.recv(4096):
            raw += chunk

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431")
    assert json.loads(body)["status"] == "error"


def test_port_in_use_is_a_config_error(probe: FakeProbe) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer(
            host="127.0.0.1", port=port, probe=probe, metrics=Metrics(), poll_interval_s=0.01
        )

        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*already in use"):
            server.start()
        server.stop()  # harmless on a server that never started


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("192.0.2.1", 0, "no such address"),  # TEST-NET-1: never assigned to this machine
        ("127.0.0.1", 70000, "between 0 and 65535"),
    ],
)
def test_invalid_address_is_a_config_error(probe: FakeProbe, host: str, port: int, message: str) -> None:
    server = HealthServer(host=host, port=port, probe=probe, metrics=Metrics(), poll_interval_s=0.01)

    with pytest.raises(ConfigError, match=message):
        server.start()


def test_lifecycle(probe: FakeProbe) -> None:
    server = HealthServer(host="127.0.0.1", port=0, probe=probe, metrics=Metrics(), poll_interval_s=0.01)
    assert server.port == 0

    server.start()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        with pytest.raises(RuntimeError):
            server.start()
    finally:
        server.stop()
    server.stop()

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_probe_health_ready(server: HealthServer) -> None:
    ready, summary = probe_health(server.url, timeout_s=5)

    assert ready is True
    assert summary == "ready: database=ok, last_poll_age_s=3.0"


def test_probe_health_not_ready(server: HealthServer, probe: FakeProbe) -> None:
    probe.ready = NOT_READY

    ready, summary = probe_health(server.url + "/", timeout_s=5)

    assert ready is False
    assert summary == "not ready (HTTP 503): no successful poll for 900 s (last_poll_age_s=900.0)"


def test_probe_health_on_a_specific_route(server: HealthServer) -> None:
    ready, summary = probe_health(server.url + "/livez", timeout_s=5)

    assert (ready, summary) == (True, "ready: heartbeat_age_s=1.2")


def test_probe_health_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the port is free again: nothing listens there now

    ready, summary = probe_health(f"http://127.0.0.1:{port}", timeout_s=2)

    assert ready is False
    assert summary.startswith(f"not ready: cannot reach http://127.0.0.1:{port}/readyz")
    assert "\n" not in summary


def test_probe_health_times_out_on_a_silent_server() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts the connection; nobody ever answers
        port = silent.getsockname()[1]

        ready, summary = probe_health(f"http://127.0.0.1:{port}", timeout_s=0.2)

    assert ready is False
    assert "no answer" in summary and "0.2 s" in summary


@pytest.mark.parametrize("url", ["file:///etc/passwd", "127.0.0.1:8765", ""])
def test_probe_health_rejects_non_http_urls(url: str) -> None:
    ready, summary = probe_health(url, timeout_s=1)

    assert ready is False
    assert "not an http(s) URL" in summary



def test_status_is_computed_at_most_once_a_second(server: HealthServer, probe: FakeProbe) -> None:
    import time

    for _ in range(20):
        assert call(server, "/status").status == 200
    assert probe.status_calls == 1
    time.sleep(1.05)
    assert call(server, "/status").status == 200
    assert probe.status_calls == 2


def test_a_flood_of_idle_clients_gets_busy_answers_and_nothing_more(server: HealthServer) -> None:
    import socket

    from postpilot.web import MAX_CONCURRENT_REQUESTS

    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(MAX_CONCURRENT_REQUESTS)]
    try:
        import time

        time.sleep(0.2)  # each idle client now holds one of the serving threads
        busy = call(server, "/livez")
        assert busy.status == 503
        assert busy.headers["retry-after"] == "1"
        assert busy.json() == {"status": "unavailable", "reason": "busy, retry"}
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while call(server, "/livez").status != 200:
        assert time.monotonic() < deadline, "the server did not recover after the idle clients left"
        time.sleep(0.05)
