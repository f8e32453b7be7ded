"""Marketers' image URLs reach only public addresses (``media.public_net``): every spelling of loopback and
the private ranges, a name that resolves inside, a redirect from an allowed host to an internal one, and
credentials in the URL are refused with one plain message, whatever listens there; the setting that allows
named networks works; and the App's download client is the guarded one, through the whole prepare step."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from postpilot.domain.errors import BadMedia
from postpilot.media.fetch import fetch_image
from postpilot.media.public_net import AddressPolicy, public_only_client, system_resolver
from tests.integration.prepare_helpers import image_bytes

LIMIT = 5 * 1024 * 1024
TIMEOUT = httpx.Timeout(3.0)


class _Server:
    """An image server on a loopback address, counting what reached it."""

    def __init__(self, host: str, *, redirect_to: str | None = None) -> None:
        server = self
        self.hits = 0
        self.auth: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server.hits += 1
                server.auth.append(self.headers.get("Authorization"))
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = image_bytes(fmt="JPEG")
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def inside() -> Iterator[_Server]:
    server = _Server("127.0.0.1")
    yield server
    server.close()


def client(*allow: str, resolve: object = system_resolver) -> httpx.Client:
    return public_only_client(timeout=TIMEOUT, max_redirects=5, allow_networks=allow, resolve=resolve)  # type: ignore[arg-type]


def refused(http: httpx.Client, url: str) -> str:
    with pytest.raises(BadMedia) as caught:
        fetch_image(http, url, max_bytes=LIMIT)
    return caught.value.message


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "2130706433", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]"],
)
def test_every_spelling_of_this_machine_is_refused_without_contact(inside: _Server, host: str) -> None:
    port = inside.httpd.server_address[1]
    with client() as http:
        message = refused(http, f"http://{host}:{port}/a.jpg")
    assert "does not point to a public internet address" in message
    assert "POSTPILOT_FETCH_ALLOW_NETWORKS" in message
    assert inside.hits == 0


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",  # multicast
        "fd00::1",  # unique local
        "fe80::1",  # link-local
        "::",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    ],
)
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not AddressPolicy().permits(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are(address: str) -> None:
    assert AddressPolicy().permits(ipaddress.ip_address(address))


def test_closed_ports_and_open_ones_answer_alike(inside: _Server) -> None:
    port = inside.httpd.server_address[1]
    with client() as http:
        open_port = refused(http, f"http://127.0.0.1:{port}/a.jpg")
        closed_port = refused(http, "http://127.0.0.1:9/a.jpg")
        database = refused(http, "http://127.0.0.1:5432/")
    strip = [m.split(" does not point")[1] for m in (open_port, closed_port, database)]
    assert strip[0] == strip[1] == strip[2]


def test_a_name_that_resolves_inside_is_refused(inside: _Server) -> None:
    port = inside.httpd.server_address[1]

    def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "images.example.com" else system_resolver(host, port)

    with client(resolve=rebinding) as http:
        message = refused(http, f"http://images.example.com:{port}/a.jpg")
    assert "images.example.com" in message and inside.hits == 0


def test_a_rebinding_resolver_cannot_swap_the_address_after_the_check(inside: _Server) -> None:
    """DNS rebinding: the name answers an allowed address first and an inside one every time after. The
    address is resolved once, checked, and connected to as checked, so the second answer is never asked for
    and nothing reaches the inside server. (127.0.0.2 stands in for a public host: it is allowed here.)"""
    outside = _Server("127.0.0.2")
    port = outside.httpd.server_address[1]
    answers: list[str] = []

    def rebinding(host: str, asked_port: int) -> list[str]:
        answer = "127.0.0.2" if not answers else "127.0.0.1"
        answers.append(answer)
        return [answer]

    try:
        with client("127.0.0.2/32", resolve=rebinding) as http:
            data = fetch_image(http, f"http://images.example.com:{port}/a.jpg", max_bytes=LIMIT)
        assert data[:2] == b"\xff\xd8"
        assert answers == ["127.0.0.2"]  # one lookup per connection: nothing to rebind
        assert outside.hits == 1 and inside.hits == 0
        with client("127.0.0.2/32", resolve=rebinding) as http:  # a new connection: the inside answer
            message = refused(http, f"http://images.example.com:{port}/a.jpg")
        assert "images.example.com" in message and inside.hits == 0
    finally:
        outside.close()


def test_a_name_with_one_inside_answer_among_public_ones_is_refused(inside: _Server) -> None:
    def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with client(resolve=mixed) as http:
        assert "public internet address" in refused(http, "http://cdn.example.com/a.jpg")


def test_an_allowed_network_is_fetched(inside: _Server) -> None:
    with client("127.0.0.1/32") as http:
        data = fetch_image(http, f"{inside.url}/a.jpg", max_bytes=LIMIT)
    assert data[:2] == b"\xff\xd8" and inside.hits == 1


def test_a_redirect_from_an_allowed_host_into_the_machine_is_refused(inside: _Server) -> None:
    # 127.0.0.2 stands for an allowed outside host; it redirects to 127.0.0.1, which is not allowed.
    outside = _Server("127.0.0.2", redirect_to=f"{inside.url}/secret.jpg")
    try:
        with client("127.0.0.2/32") as http:
            message = refused(http, f"{outside.url}/a.jpg")
    finally:
        outside.close()
    assert "public internet address" in message
    assert outside.hits == 1 and inside.hits == 0


def test_credentials_in_a_url_are_never_sent(inside: _Server) -> None:
    with client("127.0.0.1/32") as http:
        message = refused(http, f"http://user:pa55word@127.0.0.1:{inside.httpd.server_address[1]}/a.jpg")
    assert "user name or password" in message and "pa55word" not in message
    assert inside.hits == 0


def test_a_redirect_to_a_url_with_credentials_is_refused(inside: _Server) -> None:
    outside = _Server("127.0.0.2", redirect_to=f"http://admin:pw@127.0.0.2:{inside.httpd.server_address[1]}/x")
    try:
        with client("127.0.0.0/8") as http:
            message = refused(http, f"{outside.url}/a.jpg")
    finally:
        outside.close()
    assert "user name or password" in message and inside.hits == 0


def test_the_setting_names_bad_networks(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from postpilot.config import Settings

    with pytest.raises(ValidationError, match="is not a network"):
        Settings(_env_file=None, state_dir=tmp_path, fetch_allow_networks="10.0.0.0/8,intranet")  # type: ignore[call-arg]
    ok = Settings(_env_file=None, state_dir=tmp_path, fetch_allow_networks=" 10.0.0.0/8, 192.0.2.7 ")  # type: ignore[call-arg]
    assert ok.fetch_allowed_networks == ["10.0.0.0/8", "192.0.2.7"]


def test_the_prepare_step_refuses_an_internal_image_url(db_url: str, tmp_path: Path, inside: _Server) -> None:
    """Through the App's own download client (no allowed networks): the post fails with the plain message."""
    from postpilot.domain.model import PostStatus
    from postpilot.pipeline.once import run_once
    from tests.integration.prepare_helpers import add_account, add_post, make_app

    app = make_app(db_url, tmp_path, fetch_allow_networks="")
    try:
        post_id = add_post(app, add_account(app), image_url=f"{inside.url}/a.jpg", prompt=None)
        run_once(app)
        row = app.repo.require_post(post_id)
    finally:
        app.close()
    assert row.status is PostStatus.FAILED
    assert row.last_error is not None and "does not point to a public internet address" in row.last_error
    assert inside.hits == 0
