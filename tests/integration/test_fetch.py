"""Fetching marketer URLs against a local server: every failure in the words a marketer sees."""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from PIL import Image

from postpilot.domain.errors import BadMedia, Transient
from postpilot.media.fetch import MAX_REDIRECTS, display_url, fetch_image
from tests.fakes.base import FakeHandler, FakeServer

MB = 1024 * 1024
LIMIT = 50 * MB


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A PNG of a few hundred bytes whose header claims width×height pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * ((width + 7) // 8 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@dataclass
class ImageSite:
    """What the fake web server serves, and what it saw."""

    paths: list[str] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    sent_bytes: int = 0


class ImageSiteHandler(FakeHandler):
    def handle(self) -> None:
        # fetch hangs up without reading bodies it refuses; the next keep-alive read then sees a reset.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_GET(self) -> None:
        state: ImageSite = self.server.state
        state.paths.append(self.path)
        path = self.path.split("?", 1)[0]
        if path == "/photo.png":
            self.send_raw(200, png(), "image/png")
        elif path == "/octet.png":
            self.send_raw(200, png(), "application/octet-stream")
        elif path == "/missing.png":
            self.send_raw(404, b"<h1>Not Found</h1>", "text/html")
        elif path == "/forbidden.png":
            self.send_raw(403, b"denied", "text/plain")
        elif path == "/gallery":
            self.send_raw(
                200, b"<!doctype html><html><body><img src=/photo.png></body></html>", "text/html; charset=utf-8"
            )
        elif path == "/api":
            self.send_raw(200, b'{"url": "/photo.png"}', "application/json")
        elif path == "/fake.png":
            self.send_raw(200, b"this is text pretending to be a PNG", "image/png")
        elif path == "/bomb.png":
            self.send_raw(200, bomb_png(), "image/png")
        elif path == "/busy":
            self.send_raw(503, b"<h1>Service Unavailable</h1>", "text/html")
        elif path == "/limited":
            self.send_raw(429, b"slow down", "text/plain", headers={"Retry-After": "7"})
        elif path == "/redirect":
            self.send_raw(302, b"", "text/plain", headers={"Location": "/photo.png"})
        elif path == "/loop":
            self.send_raw(302, b"", "text/plain", headers={"Location": "/loop"})
        elif path == "/to-ftp":
            self.send_raw(301, b"", "text/plain", headers={"Location": "ftp://files.example.com/photo.png"})
        elif path == "/huge-declared":
            self._stream(60 * MB, declare=True)
        elif path == "/huge-chunked":
            self._stream(60 * MB, declare=False)
        elif path == "/drip":
            self._drip(png(), every_s=0.3)
        elif path == "/slow":
            state.released.wait(5)  # longer than the client's timeout; released when the test ends
            self.drop_connection()
        else:
            self.send_raw(404, b"", "text/plain")

    def _drip(self, body: bytes, *, every_s: float) -> None:
        """A byte at a time, each well inside any read timeout: only a deadline on the whole download stops it."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        try:
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                if self.server.state.released.wait(every_s):
                    return
        except OSError:
            return

    def _stream(self, total: int, *, declare: bool) -> None:
        """Send ``total`` bytes in 64 KiB pieces, never holding them all; stop when the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        if declare:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"\xff" * (64 * 1024)
        sent = 0
        self.close_connection = True
        try:
            while sent < total:
                if declare:
                    self.wfile.write(piece)
                else:
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                sent += len(piece)
                self.server.state.sent_bytes = sent
            if not declare:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            return  # the client stopped reading: exactly what we want


@pytest.fixture
def site() -> Iterator[FakeServer[ImageSite]]:
    server = FakeServer(ImageSiteHandler, ImageSite())
    with server:
        yield server
        server.state.released.set()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0)) as http:
        yield http


def fetch_error(client: httpx.Client, url: str, *, max_bytes: int = LIMIT) -> BadMedia | Transient:
    with pytest.raises((BadMedia, Transient)) as caught:
        fetch_image(client, url, max_bytes=max_bytes)
    assert isinstance(caught.value, (BadMedia, Transient))
    return caught.value


def test_an_image_is_fetched(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    assert fetch_image(client, f"{site.url}/photo.png", max_bytes=LIMIT) == png()


def test_a_generic_content_type_is_judged_by_the_bytes(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    assert fetch_image(client, f"{site.url}/octet.png", max_bytes=LIMIT) == png()


def test_redirects_are_followed(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    assert fetch_image(client, f"{site.url}/redirect", max_bytes=LIMIT) == png()
    assert site.state.paths == ["/redirect", "/photo.png"]


def test_redirects_are_bounded(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/loop")
    assert isinstance(error, BadMedia)
    assert str(error) == f"the image URL redirects more than 5 times: {site.url}/loop"
    assert len(site.state.paths) == MAX_REDIRECTS + 1


def test_a_redirect_to_ftp_is_refused(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/to-ftp")
    assert isinstance(error, BadMedia)
    assert str(error) == (
        f"the image URL {site.url}/to-ftp redirects to ftp://files.example.com/photo.png, "
        "which is not an http:// or https:// address"
    )
    assert site.state.paths == ["/to-ftp"]


def test_ftp_urls_are_refused_without_a_request(client: httpx.Client) -> None:
    error = fetch_error(client, "ftp://files.example.com/photo.png")
    assert isinstance(error, BadMedia)
    assert str(error) == "only http:// and https:// image URLs are supported, got ftp://files.example.com/photo.png"


@pytest.mark.parametrize("url", ["photo.png", "/srv/media/photo.png", "https://"])
def test_urls_that_are_not_web_addresses(client: httpx.Client, url: str) -> None:
    error = fetch_error(client, url)
    assert isinstance(error, BadMedia)
    assert str(error).startswith("the image URL is not a full web address (https://…): ")


def test_404(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/missing.png")
    assert isinstance(error, BadMedia)
    assert str(error) == f"the image URL answered 404 Not Found: {site.url}/missing.png"


def test_403(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/forbidden.png")
    assert isinstance(error, BadMedia)
    assert str(error) == f"the image URL answered 403 Forbidden: {site.url}/forbidden.png"


def test_a_web_page_is_not_an_image(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/gallery")
    assert isinstance(error, BadMedia)
    assert str(error) == (
        f"the image URL {site.url}/gallery returned a web page (text/html), not an image; "
        "use the direct link to the image file"
    )


def test_other_content_types_are_refused(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/api")
    assert isinstance(error, BadMedia)
    assert str(error) == f"the image URL {site.url}/api returned application/json, not an image"


def test_bytes_that_are_not_an_image(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/fake.png")
    assert isinstance(error, BadMedia)
    assert str(error) == (
        f"the file at {site.url}/fake.png is not an image Instagram accepts (JPEG, PNG, WebP, GIF, BMP or TIFF)"
    )


def test_a_decompression_bomb_is_refused_from_its_header(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/bomb.png")
    assert isinstance(error, BadMedia)
    assert str(error) == (
        f"the file at {site.url}/bomb.png is too large to process (40000×40000 pixels); "
        "the most postpilot handles is 80 megapixels, so please use a smaller version"
    )


def test_a_declared_60_mb_body_is_refused_before_reading(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/huge-declared")
    assert isinstance(error, BadMedia)
    assert str(error) == f"the image at {site.url}/huge-declared is larger than 50 MB"


def test_an_undeclared_60_mb_body_is_cut_off_while_streaming(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/huge-chunked")
    assert isinstance(error, BadMedia)
    assert str(error) == f"the image at {site.url}/huge-chunked is larger than 50 MB"


def test_the_size_limit_is_shown_as_configured(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/huge-chunked", max_bytes=MB + MB // 2)
    assert str(error) == f"the image at {site.url}/huge-chunked is larger than 1.5 MB"


@pytest.mark.parametrize(("limit", "shown"), [(1000, "1,000 bytes"), (300 * 1024, "300 KB")])
def test_a_small_size_limit_is_shown_in_words_that_mean_it(
    site: FakeServer[ImageSite], client: httpx.Client, limit: int, shown: str
) -> None:
    """Issue 13: POSTPILOT_FETCH_MAX_BYTES=1000 read "larger than 0.0 MB"."""
    error = fetch_error(client, f"{site.url}/huge-chunked", max_bytes=limit)
    assert str(error) == f"the image at {site.url}/huge-chunked is larger than {shown}"


def test_server_errors_are_transient(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/busy")
    assert type(error) is Transient
    assert str(error) == f"the image URL answered 503 Service Unavailable, will try again: {site.url}/busy"


def test_429_is_transient_with_its_retry_after(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    error = fetch_error(client, f"{site.url}/limited")
    assert isinstance(error, Transient)
    assert error.retry_after_s == 7.0


def test_a_timeout_is_transient(site: FakeServer[ImageSite]) -> None:
    with httpx.Client(timeout=httpx.Timeout(0.2)) as impatient:
        error = fetch_error(impatient, f"{site.url}/slow")
    assert type(error) is Transient
    assert str(error) == f"the image at {site.url}/slow did not answer in time"


def test_a_refused_connection_is_transient(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fetch_error(client, f"http://127.0.0.1:{port}/photo.png")
    assert type(error) is Transient
    assert str(error) == f"could not connect to download the image at http://127.0.0.1:{port}/photo.png"


def test_messages_never_show_credentials_or_query_strings(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    url = f"http://127.0.0.1:{site.port}/missing.png?X-Amz-Signature=deadbeef"
    error = fetch_error(client, url)
    assert str(error) == f"the image URL answered 404 Not Found: http://127.0.0.1:{site.port}/missing.png?…"
    assert "deadbeef" not in str(error)
    # A URL with a user name and password is not fetched at all (it would be sent as Basic auth).
    with_login = fetch_error(client, f"http://alice:hunter2@127.0.0.1:{site.port}/missing.png?X-Amz-Signature=x")
    assert isinstance(with_login, BadMedia)
    assert "carries a user name or password" in str(with_login) and "hunter2" not in str(with_login)


def test_display_url_cuts_long_addresses() -> None:
    shown = display_url("https://cdn.example.com/" + "a" * 300 + ".jpg")
    assert len(shown) == 120
    assert shown.endswith("…")
    assert display_url("https://u:p@example.com/x.jpg?token=1#top") == "https://example.com/x.jpg?…"


def test_a_dripping_server_is_cut_off_at_the_deadline(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    """Issue 12 item 7: one byte every 0.3 s never trips the 5 s read timeout; the whole download is bounded."""
    started = time.monotonic()
    with pytest.raises(Transient) as caught:
        fetch_image(client, f"{site.url}/drip", max_bytes=LIMIT, deadline_s=1.5)
    took = time.monotonic() - started
    assert took < 3.0, took
    assert str(caught.value) == (
        f"the image at {site.url}/drip took longer than 2 s to download (the server sends it too slowly); "
        "will try again later"
    )
    assert caught.value.retry_after_s == 300.0


def test_the_deadline_also_bounds_a_server_that_never_answers(site: FakeServer[ImageSite]) -> None:
    with httpx.Client(timeout=httpx.Timeout(30.0)) as patient:
        started = time.monotonic()
        with pytest.raises(Transient) as caught:
            fetch_image(patient, f"{site.url}/slow", max_bytes=LIMIT, deadline_s=1.0)
    assert time.monotonic() - started < 2.5
    assert "took longer than 1 s to download" in str(caught.value)


def test_a_fast_image_is_not_troubled_by_the_deadline(site: FakeServer[ImageSite], client: httpx.Client) -> None:
    assert fetch_image(client, f"{site.url}/photo.png", max_bytes=LIMIT, deadline_s=5) == png()
