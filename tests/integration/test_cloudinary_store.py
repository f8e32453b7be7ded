"""CloudinaryMediaStore through the real ``cloudinary`` SDK against the local Cloudinary fake (127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cloudinary.uploader
import cloudinary.utils
import httpx
import pytest
from PIL import Image

from postpilot.domain.errors import (
    BadMedia,
    ConfigError,
    Permanent,
    PostpilotError,
    ProviderBlocked,
    Throttled,
    Transient,
)
from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media.cloudinary_store import (
    CloudinaryMediaStore,
    parse_cloudinary_url,
)
from postpilot.media.ports import MediaKey
from tests.fakes.base import FakeHandler, FakeServer
from tests.fakes.cloudinary_fake import CloudinaryFake, Fault, sign

SECRET = "s3cr3t-Cl0udinary-API-secret"
KEY = MediaKey(post_id=7, position=0)


# --- helpers ------------------------------------------------------------------------------------------


def image_bytes(size: tuple[int, int] = (1024, 1536), fmt: str = "PNG", mode: str = "RGBA") -> bytes:
    colour = (30, 120, 200, 180) if mode == "RGBA" else (30, 120, 200)
    image = Image.new(mode, size, colour)
    image.paste((250, 200, 0) if mode == "RGB" else (250, 200, 0, 255), (10, 10, size[0] // 3, size[1] // 3))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def download(url: str) -> bytes:
    with httpx.Client(trust_env=False, timeout=5) as client:
        response = client.get(url)
    response.raise_for_status()
    return response.content


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    """Neither the raised error nor anything chained to it may show a secret."""
    seen: BaseException | None = exc
    while seen is not None:
        for secret in (SECRET, *secrets):
            assert secret not in str(seen)
            assert secret not in repr(seen)
        seen = seen.__cause__ or seen.__context__


class _ImageHandler(FakeHandler):
    """A marketer's web server: ``/photo.png`` is an image, ``/notes.txt`` is not, anything else is 404."""

    def do_GET(self) -> None:
        state: dict[str, object] = self.server.state
        hits = state["hits"]
        assert isinstance(hits, list)
        hits.append(self.path)
        path = self.path.split("?")[0]
        if path == "/photo.png":
            body = state["png"]
            assert isinstance(body, bytes)
            self.send_raw(200, body, "image/png")
        elif path == "/notes.txt":
            self.send_raw(200, b"not an image at all", "text/plain")
        else:
            self.send_raw(404, b"<h1>Not Found</h1>", "text/html")


class _QuickServer(FakeServer[dict[str, object]]):
    def start(self) -> _QuickServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _close_sdk_connections() -> Iterator[None]:
    # The SDK keeps one process-wide urllib3 pool; empty it so no socket outlives the fake it points at.
    yield
    cloudinary.uploader._http.clear()


@pytest.fixture
def fake() -> Iterator[CloudinaryFake]:
    with CloudinaryFake(api_secret=SECRET) as server:
        yield server


@pytest.fixture
def store(fake: CloudinaryFake) -> CloudinaryMediaStore:
    return CloudinaryMediaStore(cloudinary_url=fake.cloudinary_url(), timeout_s=5.0)


@pytest.fixture
def web() -> Iterator[FakeServer[dict[str, object]]]:
    state: dict[str, object] = {"hits": [], "png": image_bytes((1400, 1000), "PNG", "RGB")}
    with _QuickServer(_ImageHandler, state) as server:
        yield server


# --- storing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("aspect", list(Aspect))
def test_each_aspect_is_stored_as_a_jpeg_of_exactly_the_target_size(
    fake: CloudinaryFake, store: CloudinaryMediaStore, aspect: Aspect
) -> None:
    stored = store.store_image(
        key=KEY, data=image_bytes(), aspect=aspect, context={"model": "gpt-image-1.5", "note": "a&b=c|d"}
    )

    target = TARGET_SIZES[aspect]
    assert (stored.width, stored.height) == target
    assert stored.format == "jpg" and not stored.existing
    assert stored.bytes <= 8 * 1024 * 1024
    assert stored.url.endswith("/postpilot/post-7-0.jpg")
    assert set(stored.tags) == {"postpilot", "post-7"}
    # What Instagram would fetch: a real JPEG of the exact size.
    data = download(stored.url)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.size == target
    assert len(data) == stored.bytes
    assert stored.checksum == "etag:" + hashlib.md5(data).hexdigest()
    # What went over the wire: the incoming transform, JPEG, idempotent public_id, tags and context.
    (form,) = fake.state.received
    assert form["transformation"] == f"c_fill,g_auto,h_{target[1]},w_{target[0]}"
    assert form["format"] == "jpg"
    assert form["public_id"] == "postpilot/post-7-0"
    assert form["overwrite"] == "0"
    asset = fake.state.assets["postpilot/post-7-0"]
    assert asset.context == {"model": "gpt-image-1.5", "note": "a&b=c|d", "post_id": "7", "position": "0"}


def test_a_retry_with_the_same_key_returns_the_stored_asset_without_a_second_copy(
    fake: CloudinaryFake, store: CloudinaryMediaStore
) -> None:
    first = store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})
    again = store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})

    assert again.existing and not first.existing
    assert again.url == first.url and again.checksum == first.checksum
    assert fake.state.uploads_received == 2
    assert fake.state.assets_stored == 1


def test_an_answer_lost_after_storing_is_recovered_by_the_retry(
    fake: CloudinaryFake, store: CloudinaryMediaStore
) -> None:
    fake.state.push_faults(Fault.drop(after_store=True))
    with pytest.raises(Transient) as lost:
        store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.PORTRAIT, context={})
    assert_no_secret(lost.value)

    stored = store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.PORTRAIT, context={})

    assert stored.existing and (stored.width, stored.height) == (1080, 1350)
    assert fake.state.assets_stored == 1


def test_an_item_stored_for_another_aspect_is_replaced(
    fake: CloudinaryFake, store: CloudinaryMediaStore
) -> None:
    store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})

    stored = store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.LANDSCAPE, context={})

    assert (stored.width, stored.height) == (1080, 566)
    assert fake.state.uploads_received == 3  # stored, found existing at 1080x1080, overwritten
    assert fake.state.received[-1]["overwrite"] == "1"
    with Image.open(io.BytesIO(download(stored.url))) as image:
        assert image.size == (1080, 566)


def test_the_folder_setting_prefixes_the_public_id(fake: CloudinaryFake) -> None:
    store = CloudinaryMediaStore(cloudinary_url=fake.cloudinary_url(), timeout_s=5.0, folder="staging/pp/")
    stored = store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})
    assert "/staging/pp/post-7-0.jpg" in stored.url


def test_sha256_signatures_are_accepted(fake: CloudinaryFake) -> None:
    store = CloudinaryMediaStore(
        cloudinary_url=fake.cloudinary_url(signature_algorithm="sha256"), timeout_s=5.0
    )
    store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})
    assert len(fake.state.received[0]["signature"]) == 64


def test_find_never_calls_the_api(fake: CloudinaryFake, store: CloudinaryMediaStore) -> None:
    assert store.find(KEY) is None
    assert fake.state.uploads_received == 0


def test_bytes_that_are_not_an_image_are_bad_media(store: CloudinaryMediaStore) -> None:
    with pytest.raises(BadMedia, match="not a readable image"):
        store.store_image(key=KEY, data=b"%PDF-1.7 definitely not an image", aspect=Aspect.SQUARE, context={})


def test_latency_is_configurable() -> None:
    with CloudinaryFake(api_secret=SECRET, latency_s=0.2) as slow:
        store = CloudinaryMediaStore(cloudinary_url=slow.cloudinary_url(), timeout_s=5.0)
        started = time.monotonic()
        store.store_image(key=KEY, data=image_bytes((200, 200)), aspect=Aspect.SQUARE, context={})
        assert time.monotonic() - started >= 0.2


# --- failures -----------------------------------------------------------------------------------------


def test_a_hung_upload_is_abandoned_at_the_timeout(fake: CloudinaryFake) -> None:
    store = CloudinaryMediaStore(cloudinary_url=fake.cloudinary_url(), timeout_s=1.0)
    fake.state.push_faults(Fault.hang(30))
    started = time.monotonic()

    with pytest.raises(Transient) as caught:
        store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})

    assert 0.9 <= time.monotonic() - started < 5
    assert fake.state.uploads_received == 1
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    "override",
    [{"api_secret": "not-the-secret"}, {"api_key": "999"}, {"cloud_name": "someone-else"}],
    ids=["wrong-secret", "unknown-key", "wrong-cloud"],
)
def test_rejected_credentials_block_after_exactly_one_request(
    fake: CloudinaryFake, override: dict[str, str]
) -> None:
    url = fake.cloudinary_url(api_secret=override.get("api_secret"))
    if "api_key" in override:
        url = url.replace(fake.api_key, override["api_key"], 1)
    if "cloud_name" in override:
        url = url.replace("@demo-cloud", "@" + override["cloud_name"], 1)
    store = CloudinaryMediaStore(cloudinary_url=url, timeout_s=5.0)

    with pytest.raises(ProviderBlocked, match="credentials were rejected") as caught:
        store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})

    assert fake.state.uploads_received == 1
    assert fake.state.assets_stored == 0
    assert_no_secret(caught.value, "not-the-secret")


def test_a_stale_timestamp_points_at_the_clock(fake: CloudinaryFake, store: CloudinaryMediaStore) -> None:
    fake.state.clock = lambda: time.time() + 2 * 3600  # the service's clock is two hours ahead of ours
    with pytest.raises(ProviderBlocked, match="clock") as caught:
        store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.bad_request(), Permanent),
        (Fault.error(401, "Invalid Signature abc. String to sign - 'x'."), ProviderBlocked),
        (Fault.error(403, "Account is disabled"), ProviderBlocked),
        (Fault.rate_limited(420), Throttled),
        (Fault.rate_limited(429), Throttled),
        (Fault.server_error(500), Transient),
        (Fault.server_error(503), Transient),
        (Fault.server_error_without_error_key(), Transient),
        (Fault.bad_gateway_html(), Transient),
        (Fault.drop(), Transient),
    ],
    ids=["400", "401", "403", "420", "429", "500", "503", "500-no-error-key", "502-html", "dropped"],
)
def test_service_faults_are_translated(
    fake: CloudinaryFake, store: CloudinaryMediaStore, fault: Fault, expected: type[PostpilotError]
) -> None:
    fake.state.push_faults(fault)

    with pytest.raises(expected) as caught:
        store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})

    assert type(caught.value) is expected
    assert fake.state.uploads_received == 1  # the store never retries on its own
    assert fake.state.assets_stored == 0
    assert_no_secret(caught.value)


def test_a_bad_request_on_bytes_is_permanent_not_bad_media(
    fake: CloudinaryFake, store: CloudinaryMediaStore
) -> None:
    fake.state.push_faults(Fault.bad_request("Invalid transformation component - x_1"))
    with pytest.raises(Permanent) as caught:
        store.store_image(key=KEY, data=image_bytes(), aspect=Aspect.SQUARE, context={})
    assert not isinstance(caught.value, BadMedia)
    assert "Invalid transformation" in caught.value.message


# --- remote images ------------------------------------------------------------------------------------


def test_a_remote_image_is_fetched_by_the_service_and_stored(
    fake: CloudinaryFake, store: CloudinaryMediaStore, web: FakeServer[dict[str, object]]
) -> None:
    url = f"{web.url}/photo.png?token=abc"

    stored = store.store_remote_image(key=KEY, url=url, aspect=Aspect.PORTRAIT, context={})

    assert (stored.width, stored.height) == (1080, 1350)
    assert fake.state.received[0]["file"] == url  # the URL travelled, not the bytes
    assert web.state["hits"] == ["/photo.png?token=abc"]
    with Image.open(io.BytesIO(download(stored.url))) as image:
        assert image.format == "JPEG" and image.size == (1080, 1350)


def test_a_missing_remote_image_is_bad_media_with_a_readable_message(
    store: CloudinaryMediaStore, web: FakeServer[dict[str, object]]
) -> None:
    url = f"{web.url}/gone.png?X-Amz-Signature=deadbeef"

    with pytest.raises(BadMedia) as caught:
        store.store_remote_image(key=KEY, url=url, aspect=Aspect.SQUARE, context={})

    message = caught.value.message
    assert "not found" in message and f"{web.url}/gone.png" in message
    assert "deadbeef" not in message  # a query string may carry a token
    assert_no_secret(caught.value)


def test_a_remote_file_that_is_not_an_image_is_bad_media(
    store: CloudinaryMediaStore, web: FakeServer[dict[str, object]]
) -> None:
    with pytest.raises(BadMedia, match="not a readable image"):
        store.store_remote_image(key=KEY, url=f"{web.url}/notes.txt", aspect=Aspect.SQUARE, context={})


@pytest.mark.parametrize(
    "url",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "s3://bucket/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "http:///no-host.png",
        "https://example.com/a b.png",
        "",
    ],
)
def test_non_web_urls_are_refused_before_any_request(
    fake: CloudinaryFake, store: CloudinaryMediaStore, url: str
) -> None:
    with pytest.raises(BadMedia, match="http:// or https://"):
        store.store_remote_image(key=KEY, url=url, aspect=Aspect.SQUARE, context={})
    assert fake.state.uploads_received == 0


# --- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"https://key:{SECRET}@cloud",
        f"cloudinary://key:{SECRET}@",
        f"cloudinary://{SECRET}@cloud",
        "cloudinary://key:@cloud",
        f"cloudinary://key:{SECRET}@cloud?upload_prefix=ftp://x",
        f"cloudinary://key:{SECRET}@cloud?signature_algorithm=md5",
    ],
)
def test_a_malformed_cloudinary_url_is_a_config_error_without_the_secret(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CloudinaryMediaStore(cloudinary_url=url, timeout_s=5.0)
    assert_no_secret(caught.value)


def test_the_parsed_account_keeps_the_secret_out_of_its_repr() -> None:
    account = parse_cloudinary_url(
        f"cloudinary://123:{SECRET}@My-Cloud?upload_prefix=http%3A%2F%2F127.0.0.1%3A9%2F"
    )
    assert (account.cloud_name, account.api_key, account.api_secret) == ("My-Cloud", "123", SECRET)
    assert account.upload_prefix == "http://127.0.0.1:9"
    assert SECRET not in repr(account)


# --- the fake itself ----------------------------------------------------------------------------------


def _signed_form(fake: CloudinaryFake, timestamp: int, **fields: str) -> dict[str, str]:
    form = {"timestamp": str(timestamp), "public_id": "hand/made", **fields}
    return {**form, "api_key": fake.api_key, "signature": sign(form, SECRET)}


def test_the_fake_checks_signatures_like_the_sdk_computes_them(fake: CloudinaryFake) -> None:
    form = {"timestamp": "1700000000", "context": "a=x&y", "tags": "t1,t2"}
    assert sign(form, SECRET) == cloudinary.utils.api_sign_request(form, SECRET)
    upload = f"{fake.url}/v1_1/demo-cloud/image/upload"
    files = {"file": ("file", image_bytes((50, 50)))}
    with httpx.Client(trust_env=False, timeout=5) as client:
        good = client.post(upload, data=_signed_form(fake, int(time.time())), files=files)
        tampered = client.post(
            upload, data={**_signed_form(fake, int(time.time())), "public_id": "other"}, files=files
        )
        stale = client.post(upload, data=_signed_form(fake, int(time.time()) - 3700), files=files)
    assert good.status_code == 200 and good.json()["public_id"] == "hand/made"
    assert tampered.status_code == 401
    assert tampered.json()["error"]["message"].startswith("Invalid Signature")
    assert stale.status_code == 401 and "Stale request" in stale.json()["error"]["message"]


def test_the_fake_runs_standalone() -> None:
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.cloudinary_fake", "--port", "0", "--api-secret", SECRET],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            base = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
            assert base.startswith("http://127.0.0.1:")
            store = CloudinaryMediaStore(
                cloudinary_url=f"cloudinary://123456789012345:{SECRET}@demo-cloud?upload_prefix={base}",
                timeout_s=5.0,
            )
            stored = store.store_image(
                key=KEY, data=image_bytes((300, 300)), aspect=Aspect.SQUARE, context={}
            )
            assert stored.url.startswith(base)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_concurrent_uploads_keep_their_connections(caplog: pytest.LogCaptureFixture) -> None:
    # The SDK's shared pool holds one connection per host unless sized: with several prepare threads each
    # extra upload used to open a connection, then discard it with a warning (a TLS handshake per upload).
    with CloudinaryFake(api_secret=SECRET, latency_s=0.2) as fake:
        store = CloudinaryMediaStore(cloudinary_url=fake.cloudinary_url(), timeout_s=5.0, connections=4)
        data = image_bytes((1080, 1080), "JPEG", "RGB")

        def upload(n: int) -> str:
            key = MediaKey(post_id=900 + n, position=0)
            return store.store_image(key=key, data=data, aspect=Aspect.SQUARE, context={}).url

        with caplog.at_level(logging.WARNING, logger="urllib3"), ThreadPoolExecutor(4) as pool:
            for _ in range(2):
                urls = list(pool.map(upload, range(4)))
        assert len(set(urls)) == 4
        assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
