"""The local media store: transform, atomic files named by post and position, retries find what exists."""

from __future__ import annotations

import contextlib
import hashlib
import io
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from postpilot.domain.errors import BadMedia
from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media.local_store import LocalMediaStore
from postpilot.media.ports import MediaKey, MediaStore
from tests.fakes.base import FakeHandler, FakeServer

KEY = MediaKey(post_id=12, position=0)


def png(colour: tuple[int, int, int] = (40, 160, 90), size: tuple[int, int] = (900, 700)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


class PhotoHandler(FakeHandler):
    def handle(self) -> None:
        # fetch hangs up without reading bodies it refuses; the next keep-alive read then sees a reset.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_GET(self) -> None:
        hits: list[str] = self.server.state
        hits.append(self.path)
        if self.path == "/photo.png":
            self.send_raw(200, png((200, 30, 30)), "image/png")
        else:
            self.send_raw(404, b"<h1>Not Found</h1>", "text/html")


@pytest.fixture
def site() -> Iterator[FakeServer[list[str]]]:
    server: FakeServer[list[str]] = FakeServer(PhotoHandler, [])
    with server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def make_store(root: Path, http: httpx.Client, public_base_url: str | None = None) -> LocalMediaStore:
    return LocalMediaStore(root=root, public_base_url=public_base_url, http=http, max_fetch_bytes=50 * 1024 * 1024)


def test_round_trip(tmp_path: Path, http: httpx.Client) -> None:
    root = tmp_path / "media"  # created on first write
    store: MediaStore = make_store(root, http)
    stored = store.store_image(key=KEY, data=png(), aspect=Aspect.PORTRAIT, context={"post": "12"})
    path = root / "post-12-0.jpg"
    data = path.read_bytes()
    assert stored.url == path.resolve().as_uri()
    assert stored.url.startswith("file:///")
    assert (stored.width, stored.height) == (1080, 1350)
    assert stored.bytes == len(data)
    assert stored.checksum == hashlib.sha256(data).hexdigest()
    assert stored.format == "jpg"
    assert stored.existing is False
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (1080, 1350)
    # Readable by a web server serving the directory; no temporary files left behind.
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in root.iterdir()) == ["post-12-0.jpg"]


def test_find_returns_what_is_stored(tmp_path: Path, http: httpx.Client) -> None:
    store = make_store(tmp_path, http)
    assert store.find(KEY) is None
    stored = store.store_image(key=KEY, data=png(), aspect=Aspect.SQUARE, context={})
    found = store.find(KEY)
    assert found is not None
    assert found.existing is True
    assert (found.url, found.width, found.height, found.bytes, found.checksum) == (
        stored.url,
        stored.width,
        stored.height,
        stored.bytes,
        stored.checksum,
    )
    assert store.find(MediaKey(post_id=12, position=1)) is None


def test_storing_again_answers_the_stored_image(tmp_path: Path, http: httpx.Client) -> None:
    # Like Cloudinary's overwrite=False: a retry after an ambiguous failure never makes a second version.
    store = make_store(tmp_path, http)
    first = store.store_image(key=KEY, data=png((10, 10, 10)), aspect=Aspect.SQUARE, context={})
    again = store.store_image(key=KEY, data=png((250, 250, 250)), aspect=Aspect.SQUARE, context={})
    assert again.existing is True
    assert again.checksum == first.checksum
    assert hashlib.sha256((tmp_path / "post-12-0.jpg").read_bytes()).hexdigest() == first.checksum


def test_a_changed_aspect_replaces_the_stored_image(tmp_path: Path, http: httpx.Client) -> None:
    store = make_store(tmp_path, http)
    store.store_image(key=KEY, data=png(), aspect=Aspect.SQUARE, context={})
    replaced = store.store_image(key=KEY, data=png(), aspect=Aspect.LANDSCAPE, context={})
    assert replaced.existing is False
    assert (replaced.width, replaced.height) == TARGET_SIZES[Aspect.LANDSCAPE]
    found = store.find(KEY)
    assert found is not None and (found.width, found.height) == (1080, 566)


def test_a_damaged_file_is_not_found_and_is_replaced(tmp_path: Path, http: httpx.Client) -> None:
    (tmp_path / "post-12-0.jpg").write_bytes(b"\xff\xd8\xff garbage")
    store = make_store(tmp_path, http)
    assert store.find(KEY) is None
    stored = store.store_image(key=KEY, data=png(), aspect=Aspect.SQUARE, context={})
    assert stored.existing is False and stored.width == 1080


def test_public_url(tmp_path: Path, http: httpx.Client) -> None:
    store = make_store(tmp_path, http, public_base_url="https://cdn.example.com/media/")
    stored = store.store_image(key=MediaKey(post_id=7, position=3), data=png(), aspect=Aspect.SQUARE, context={})
    assert stored.url == "https://cdn.example.com/media/post-7-3.jpg"
    found = store.find(MediaKey(post_id=7, position=3))
    assert found is not None and found.url == stored.url


def test_bad_data_writes_nothing(tmp_path: Path, http: httpx.Client) -> None:
    store = make_store(tmp_path, http)
    with pytest.raises(BadMedia) as caught:
        store.store_image(key=KEY, data=b"GIF89a but not really", aspect=Aspect.SQUARE, context={})
    assert str(caught.value) == "the file is not an image Instagram accepts (JPEG, PNG, WebP, GIF, BMP or TIFF)"
    with pytest.raises(BadMedia) as caught:
        store.store_image(key=KEY, data=b"", aspect=Aspect.SQUARE, context={})
    assert str(caught.value) == "the image is empty (0 bytes)"
    assert list(tmp_path.iterdir()) == []


def test_remote_image_round_trip(tmp_path: Path, http: httpx.Client, site: FakeServer[list[str]]) -> None:
    store = make_store(tmp_path, http)
    stored = store.store_remote_image(key=KEY, url=f"{site.url}/photo.png", aspect=Aspect.PORTRAIT, context={})
    assert (stored.width, stored.height) == (1080, 1350)
    with Image.open(tmp_path / "post-12-0.jpg") as image:
        pixel = image.convert("RGB").getpixel((540, 675))
    assert isinstance(pixel, tuple) and pixel[0] > 180 and pixel[1] < 60 and pixel[2] < 60
    # A retry reuses the stored file without downloading again.
    again = store.store_remote_image(key=KEY, url=f"{site.url}/photo.png", aspect=Aspect.PORTRAIT, context={})
    assert again.existing is True and again.checksum == stored.checksum
    assert site.state == ["/photo.png"]


def test_remote_image_failure_writes_nothing(tmp_path: Path, http: httpx.Client, site: FakeServer[list[str]]) -> None:
    store = make_store(tmp_path, http)
    with pytest.raises(BadMedia) as caught:
        store.store_remote_image(key=KEY, url=f"{site.url}/gone.png", aspect=Aspect.SQUARE, context={})
    assert str(caught.value) == f"the image URL answered 404 Not Found: {site.url}/gone.png"
    assert list(tmp_path.iterdir()) == []
