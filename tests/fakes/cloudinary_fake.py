"""A wire-level fake of Cloudinary's Upload API (``POST /v1_1/{cloud}/image/upload``) and its delivery URLs.

What it does like the real service, so the real ``cloudinary`` SDK can talk to it unchanged:

- multipart/form-data requests, API key lookup and the real signature check (every field except ``file``,
  ``api_key``, ``signature``, ``cloud_name``, ``resource_type``; ``&`` in values escaped as ``%26``; ``k=v``
  sorted and joined with ``&``; the secret appended; SHA-1 hex, or SHA-256 when the signature has 64 hex
  digits), a timestamp valid for one hour, 401 with ``{"error": {"message": "Invalid Signature …"}}``;
- ``file`` as raw bytes or as an http(s) URL that the fake fetches itself (127.0.0.1/localhost only);
- the incoming ``transformation`` (``c_fill,g_auto,h_1350,w_1080``) applied for real with Pillow and
  ``format=jpg`` converting to JPEG, the result kept in memory by public_id and served back by GET at
  ``{base}/{cloud}/image/upload/v{version}/{public_id}.{format}`` (that URL is ``secure_url``);
- ``overwrite=0`` on an existing public_id answers the stored asset with ``existing: true``.

What it adds for tests: a queue of scripted faults (:class:`Fault`), counters (``uploads_received``,
``assets_stored``), a configurable latency, and a record of every form received (without file bytes).

Standalone: ``python -m tests.fakes.cloudinary_fake --port N --cloud NAME --api-key K --api-secret S
[--latency S]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from tests.fakes.base import FakeHandler, FakeServer

SIGNATURE_TTL_S = 3600.0
# Fields Cloudinary leaves out of the string to sign.
UNSIGNED_FIELDS = frozenset({"file", "api_key", "signature", "cloud_name", "resource_type"})
UPLOAD_PATH = re.compile(r"^/v1_1/(?P<cloud>[^/]+)/(?P<resource>[^/]+)/upload/?$")
# The Upload API's ``explicit`` method: a signed call about an asset that already exists (404 when it does
# not), which is how ``postpilot doctor`` proves the credentials without uploading anything.
EXPLICIT_PATH = re.compile(r"^/v1_1/(?P<cloud>[^/]+)/(?P<resource>[^/]+)/explicit/?$")
DELIVERY_PATH = re.compile(r"^/(?P<cloud>[^/]+)/image/upload/(?:v(?P<version>\d+)/)?(?P<rest>.+)$")
REMOTE_FETCH_HOSTS = frozenset({"127.0.0.1", "localhost"})
GRAVITY_CENTERING = {
    "center": (0.5, 0.5),
    "auto": (0.5, 0.5),  # a stand-in for Cloudinary's saliency detection: the centre is good enough here
    "north": (0.5, 0.0),
    "south": (0.5, 1.0),
    "west": (0.0, 0.5),
    "east": (1.0, 0.5),
}
PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


class UploadRejected(Exception):
    """An upload the fake answers with a Cloudinary JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- faults -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next upload request.

    ``kind``: ``error`` (``status`` + Cloudinary JSON error), ``no_error_key`` (a JSON body without
    ``error``, which the SDK returns as if it were a success), ``html`` (an HTML page, like a proxy's 502),
    ``hang`` (wait ``seconds`` before answering normally), ``drop`` (close the socket without answering).
    With ``after_store`` a ``hang``/``drop`` happens after the asset was stored: the "it worked but the
    answer was lost" case.
    """

    kind: str
    status: int = 500
    message: str = "General Error"
    seconds: float = 0.0
    after_store: bool = False

    @classmethod
    def error(cls, status: int, message: str) -> Fault:
        return cls("error", status=status, message=message)

    @classmethod
    def bad_request(cls, message: str = "Invalid transformation component - x_1") -> Fault:
        return cls.error(400, message)

    @classmethod
    def unauthorized(cls, message: str = "Invalid Signature 0000. String to sign - ''.") -> Fault:
        return cls.error(401, message)

    @classmethod
    def rate_limited(cls, status: int = 420) -> Fault:
        return cls.error(status, "Rate Limit Exceeded")

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls.error(status, "General Error")

    @classmethod
    def server_error_without_error_key(cls) -> Fault:
        return cls("no_error_key", status=500)

    @classmethod
    def bad_gateway_html(cls) -> Fault:
        return cls("html", status=502)

    @classmethod
    def hang(cls, seconds: float, *, after_store: bool = False) -> Fault:
        return cls("hang", seconds=seconds, after_store=after_store)

    @classmethod
    def drop(cls, *, after_store: bool = False) -> Fault:
        return cls("drop", after_store=after_store)


# --- state --------------------------------------------------------------------------------------------


@dataclass
class StoredAsset:
    public_id: str
    version: int
    data: bytes
    width: int
    height: int
    format: str
    tags: list[str]
    context: dict[str, str]
    asset_id: str
    version_id: str
    etag: str
    created_at: str


@dataclass
class CloudinaryState:
    cloud_name: str
    api_keys: dict[str, str]  # api_key -> api_secret
    latency_s: float = 0.0
    base_url: str = ""  # set when the server starts; delivery URLs point here
    remote_fetch_timeout_s: float = 10.0
    clock: Any = time.time  # seconds since the epoch; tests may replace it
    faults: deque[Fault] = field(default_factory=deque)
    assets: dict[str, StoredAsset] = field(default_factory=dict)
    received: list[dict[str, str]] = field(default_factory=list)  # form fields of each upload, file elided
    uploads_received: int = 0
    explicit_calls: int = 0  # signed ``explicit`` calls (credential checks); they store nothing
    assets_stored: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def push_faults(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def next_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None

    def pause(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is (the caller should give up quietly)."""
        return self.stopping.wait(seconds) if seconds > 0 else self.stopping.is_set()


# --- multipart ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormPart:
    name: str
    data: bytes
    filename: str | None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def _header_params(header_name: str, value: str) -> Message:
    msg = Message()
    msg[header_name] = value
    return msg


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """Split a multipart/form-data body into its parts (binary-safe; the boundary delimits, nothing else)."""
    ctype = _header_params("Content-Type", content_type)
    boundary = ctype.get_param("boundary")
    if ctype.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        raise UploadRejected(400, "Upload must be multipart/form-data")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    parts: list[FormPart] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise UploadRejected(400, "Malformed multipart body")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = value.strip()
        params = _header_params("Content-Disposition", disposition)
        name = params.get_param("name", header="content-disposition")
        filename = params.get_param("filename", header="content-disposition")
        if not isinstance(name, str):
            raise UploadRejected(400, "Malformed multipart body")
        parts.append(FormPart(name, data, filename if isinstance(filename, str) else None))
    return parts


# --- signature ----------------------------------------------------------------------------------------


def string_to_sign(fields: dict[str, str]) -> str:
    pairs = [
        f"{k}={v}".replace("&", "%26") for k, v in fields.items() if k not in UNSIGNED_FIELDS and v != ""
    ]
    return "&".join(sorted(pairs))


def sign(fields: dict[str, str], api_secret: str, algorithm: str = "sha1") -> str:
    return hashlib.new(algorithm, (string_to_sign(fields) + api_secret).encode("utf-8")).hexdigest()


def verify_request(state: CloudinaryState, fields: dict[str, str]) -> str:
    """Check key, timestamp and signature like Cloudinary; return the API secret of the key used."""
    api_key = fields.get("api_key", "")
    secret = state.api_keys.get(api_key)
    if not api_key:
        raise UploadRejected(401, "Must supply api_key")
    if secret is None:
        raise UploadRejected(401, f"Unknown API key {api_key}")
    try:
        timestamp = int(fields.get("timestamp", ""))
    except ValueError:
        raise UploadRejected(400, "Missing required parameter - timestamp") from None
    if state.clock() - timestamp > SIGNATURE_TTL_S:
        reported = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
        raise UploadRejected(
            401, f"Stale request - reported time is {reported} which is more than 1 hour ago"
        )
    given = fields.get("signature", "")
    algorithm = "sha256" if len(given) == 64 else "sha1"
    expected = sign(fields, secret, algorithm)
    if given != expected:
        raise UploadRejected(401, f"Invalid Signature {given}. String to sign - '{string_to_sign(fields)}'.")
    return secret


# --- transformation -----------------------------------------------------------------------------------


def apply_transformation(image: Image.Image, transformation: str) -> Image.Image:
    """Apply an incoming transformation string; supports what postpilot sends (``c_fill`` with w/h/g) and
    ``c_scale``/``c_limit``. Anything else is refused, as Cloudinary refuses unknown components."""
    for step in filter(None, transformation.split("/")):
        opts: dict[str, str] = {}
        for component in step.split(","):
            key, sep, value = component.partition("_")
            if not sep or key not in {"c", "g", "w", "h", "q"}:
                raise UploadRejected(400, f"Invalid transformation component - {component}")
            opts[key] = value
        image = _apply_step(image, opts)
    return image


def _apply_step(image: Image.Image, opts: dict[str, str]) -> Image.Image:
    crop = opts.get("c", "scale")
    try:
        width = int(opts["w"]) if "w" in opts else None
        height = int(opts["h"]) if "h" in opts else None
    except ValueError:
        raise UploadRejected(400, "Invalid transformation: width and height must be integers") from None
    gravity = opts.get("g", "center")
    if gravity not in GRAVITY_CENTERING:
        raise UploadRejected(400, f"Invalid gravity - {gravity}")
    if crop == "fill":
        if width is None or height is None:
            raise UploadRejected(400, "c_fill needs both width and height in this fake")
        return ImageOps.fit(
            image, (width, height), Image.Resampling.LANCZOS, centering=GRAVITY_CENTERING[gravity]
        )
    if crop in {"scale", "limit"}:
        if width is None and height is None:
            return image
        w = width or round(image.width * (height or image.height) / image.height)
        h = height or round(image.height * w / image.width)
        if crop == "limit" and w >= image.width and h >= image.height:
            return image
        return image.resize((w, h), Image.Resampling.LANCZOS)
    raise UploadRejected(400, f"Invalid transformation component - c_{crop}")


def encode_image(image: Image.Image, fmt: str) -> bytes:
    pil_format = PIL_FORMATS[fmt]
    if pil_format == "JPEG" and image.mode != "RGB":
        # JPEG has no alpha: flatten onto white, as Cloudinary does for transparent sources.
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    out = io.BytesIO()
    image.save(out, format=pil_format, **({"quality": 90} if pil_format == "JPEG" else {}))
    return out.getvalue()


# --- remote fetch -------------------------------------------------------------------------------------


def fetch_remote(url: str, timeout_s: float) -> bytes:
    """Fetch ``file`` given as a URL, as Cloudinary would, but only from this machine."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in REMOTE_FETCH_HOSTS:
        raise UploadRejected(400, f"Error in loading {url} - the fake only fetches from 127.0.0.1")
    # No proxies: an http_proxy in the environment must not intercept a loopback fetch.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            raise UploadRejected(400, f"Resource not found - {url}") from None
        raise UploadRejected(400, f"Error in loading {url} - {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UploadRejected(400, f"Error in loading {url} - {exc}") from None


def load_file(state: CloudinaryState, part: FormPart) -> bytes:
    if part.filename is not None:
        return part.data
    text = part.text
    if text.startswith(("http://", "https://")):
        return fetch_remote(text, state.remote_fetch_timeout_s)
    match = re.match(r"^data:[\w/+.-]*(?:;[\w-]+=[\w-]+)*;base64,(.*)$", text, re.DOTALL)
    if match:
        return base64.b64decode(match.group(1))
    raise UploadRejected(400, "Invalid image file")


# --- upload -------------------------------------------------------------------------------------------


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.lower() in {"1", "true"}


def _unescape_context(text: str) -> str:
    return text.replace("\\=", "=").replace("\\|", "|")


def _parse_context(raw: str) -> dict[str, str]:
    """``k=v|k2=v2`` with ``\\=`` and ``\\|`` escapes, as the SDK encodes it."""
    context: dict[str, str] = {}
    for item in re.split(r"(?<!\\)\|", raw) if raw else []:
        pieces = re.split(r"(?<!\\)=", item, maxsplit=1)
        value = pieces[1] if len(pieces) > 1 else ""
        context[_unescape_context(pieces[0])] = _unescape_context(value)
    return context


def asset_json(state: CloudinaryState, asset: StoredAsset, secret: str, *, existing: bool) -> dict[str, Any]:
    delivery = (
        f"{state.base_url}/{state.cloud_name}/image/upload/v{asset.version}/{asset.public_id}.{asset.format}"
    )
    response_signature = hashlib.sha1(
        f"public_id={asset.public_id}&version={asset.version}{secret}".encode()
    ).hexdigest()
    return {
        "asset_id": asset.asset_id,
        "public_id": asset.public_id,
        "version": asset.version,
        "version_id": asset.version_id,
        "signature": response_signature,
        "width": asset.width,
        "height": asset.height,
        "format": asset.format,
        "resource_type": "image",
        "created_at": asset.created_at,
        "tags": list(asset.tags),
        "bytes": len(asset.data),
        "type": "upload",
        "etag": asset.etag,
        "placeholder": False,
        "url": delivery,
        "secure_url": delivery,
        "existing": existing,
        "context": {"custom": dict(asset.context)} if asset.context else {},
        "original_filename": "file",
    }


def process_upload(state: CloudinaryState, parts: list[FormPart]) -> tuple[StoredAsset, str, bool]:
    """Verify, transform and store one upload. Returns (asset, api secret, existing)."""
    fields: dict[str, str] = {}
    file_part: FormPart | None = None
    for part in parts:
        if part.name == "file":
            file_part = part
        elif part.name.endswith("[]"):  # the SDK sends list values as repeated ``k[]``; signed comma-joined
            key = part.name[:-2]
            fields[key] = f"{fields[key]},{part.text}" if key in fields else part.text
        else:
            fields[part.name] = part.text
    shown_file = "" if file_part is None else "<bytes>" if file_part.filename else file_part.text
    with state.lock:
        state.received.append({**fields, "file": shown_file})
    secret = verify_request(state, fields)
    if file_part is None:
        raise UploadRejected(400, "Missing required parameter - file")
    public_id = fields.get("public_id") or uuid.uuid4().hex[:20]
    if fields.get("folder"):
        public_id = f"{fields['folder'].strip('/')}/{public_id}"
    overwrite = _truthy(fields.get("overwrite"), default=True)
    with state.lock:
        current = state.assets.get(public_id)
    if current is not None and not overwrite:
        return current, secret, True

    raw = load_file(state, file_part)
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            opened.load()
            source_format = (opened.format or "png").lower()
            image = apply_transformation(opened.copy(), fields.get("transformation", ""))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise UploadRejected(400, "Invalid image file") from None
    fmt = (fields.get("format") or source_format).lower()
    fmt = "jpg" if fmt == "jpeg" else fmt
    if fmt not in PIL_FORMATS:
        raise UploadRejected(400, f"Invalid extension in transformation: {fmt}")
    data = encode_image(image, fmt)
    with state.lock:
        previous = state.assets.get(public_id)
        version = max(int(state.clock()), previous.version + 1 if previous else 0)
        asset = StoredAsset(
            public_id=public_id,
            version=version,
            data=data,
            width=image.width,
            height=image.height,
            format=fmt,
            tags=[t for t in fields.get("tags", "").split(",") if t],
            context=_parse_context(fields.get("context", "")),
            asset_id=uuid.uuid4().hex,
            version_id=uuid.uuid4().hex,
            etag=hashlib.md5(data).hexdigest(),
            created_at=datetime.fromtimestamp(version, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        state.assets[public_id] = asset
        state.assets_stored += 1
    return asset, secret, False


# --- HTTP handler -------------------------------------------------------------------------------------


class CloudinaryHandler(FakeHandler):
    @property
    def state(self) -> CloudinaryState:
        state: CloudinaryState = self.server.state
        return state

    def send_error_json(self, status: int, message: str) -> None:
        self.send_json(status, {"error": {"message": message}}, {"X-Request-Id": uuid.uuid4().hex})

    def do_POST(self) -> None:
        state = self.state
        path = urllib.parse.urlsplit(self.path).path
        match = UPLOAD_PATH.match(path)
        body = self.read_body()
        explicit = EXPLICIT_PATH.match(path)
        if explicit is not None:
            self._explicit(explicit, body)
            return
        if match is None:
            self.send_error_json(404, "Not found")
            return
        with state.lock:
            state.uploads_received += 1
        if state.pause(state.latency_s):
            self.drop_connection()
            return
        fault = state.next_fault()
        if fault is not None and not fault.after_store and self._play_fault_instead_of_answer(fault):
            return
        try:
            if match["cloud"] != state.cloud_name:
                raise UploadRejected(401, f"Invalid cloud_name {match['cloud']}")
            if match["resource"] not in {"image", "auto"}:
                raise UploadRejected(400, f"Resource type {match['resource']} is not supported by this fake")
            parts = parse_multipart(self.headers.get("Content-Type", ""), body)
            asset, secret, existing = process_upload(state, parts)
        except UploadRejected as exc:
            self.send_error_json(exc.status, exc.message)
            return
        if fault is not None:  # an after_store fault: the asset exists, the answer goes missing or late
            if fault.kind == "drop":
                self.drop_connection()
                return
            if state.pause(fault.seconds):
                self.drop_connection()
                return
        self.send_json(200, asset_json(state, asset, secret, existing=existing))

    def _explicit(self, match: re.Match[str], body: bytes) -> None:
        state = self.state
        with state.lock:
            state.explicit_calls += 1
        try:
            if match["cloud"] != state.cloud_name:
                raise UploadRejected(401, f"Invalid cloud_name {match['cloud']}")
            fields: dict[str, str] = {}
            for part in parse_multipart(self.headers.get("Content-Type", ""), body):
                key = part.name[:-2] if part.name.endswith("[]") else part.name
                fields[key] = f"{fields[key]},{part.text}" if key in fields else part.text
            secret = verify_request(state, fields)
            public_id = fields.get("public_id", "")
            if not public_id:
                raise UploadRejected(400, "Missing required parameter - public_id")
            with state.lock:
                asset = state.assets.get(public_id)
            if asset is None:
                raise UploadRejected(404, f"Resource not found - {public_id}")
        except UploadRejected as exc:
            self.send_error_json(exc.status, exc.message)
            return
        self.send_json(200, asset_json(state, asset, secret, existing=True))

    def _play_fault_instead_of_answer(self, fault: Fault) -> bool:
        """Play a pre-processing fault; False when the request should then be handled normally (a hang)."""
        state = self.state
        if fault.kind == "error":
            self.send_error_json(fault.status, fault.message)
        elif fault.kind == "no_error_key":
            self.send_json(fault.status, {"message": "Internal server error", "status": fault.status})
        elif fault.kind == "html":
            page = (
                b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
            )
            self.send_raw(fault.status, page, "text/html")
        elif fault.kind == "drop":
            self.drop_connection()
        elif fault.kind == "hang":
            if state.pause(fault.seconds):
                self.drop_connection()
                return True
            return False
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        return True

    def do_GET(self) -> None:
        self._serve_asset(head=False)

    def do_HEAD(self) -> None:
        self._serve_asset(head=True)

    def _serve_asset(self, *, head: bool) -> None:
        state = self.state
        match = DELIVERY_PATH.match(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        asset = None
        if match and match["cloud"] == state.cloud_name:
            public_id, _, ext = match["rest"].rpartition(".")
            with state.lock:
                asset = state.assets.get(public_id)
            if asset is not None and (
                ext not in {asset.format, "jpeg" if asset.format == "jpg" else asset.format}
                or (match["version"] and int(match["version"]) != asset.version)
            ):
                asset = None
        if asset is None:
            self.send_raw(404, b"", "text/plain", {"X-Cld-Error": "Resource not found"})
            return
        content_type = CONTENT_TYPES.get(asset.format, "application/octet-stream")
        if head:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(asset.data)))
            self.send_header("ETag", f'"{asset.etag}"')
            self.end_headers()
            return
        self.send_raw(200, asset.data, content_type, {"ETag": f'"{asset.etag}"'})


# --- server -------------------------------------------------------------------------------------------


class CloudinaryFake(FakeServer[CloudinaryState]):
    """The fake as a context manager: ``with CloudinaryFake(...) as fake: fake.cloudinary_url``."""

    def __init__(
        self,
        *,
        cloud_name: str = "demo-cloud",
        api_key: str = "123456789012345",
        api_secret: str = "fake-api-secret-0123456789",
        latency_s: float = 0.0,
        port: int = 0,
        public_url: str | None = None,
    ) -> None:
        state = CloudinaryState(cloud_name=cloud_name, api_keys={api_key: api_secret}, latency_s=latency_s)
        super().__init__(CloudinaryHandler, state, port=port)
        self.api_key = api_key
        self.api_secret = api_secret
        state.base_url = (public_url or self.url).rstrip("/")

    def cloudinary_url(self, *, api_secret: str | None = None, **query: str) -> str:
        """A ``CLOUDINARY_URL`` pointing the SDK here (``api_secret`` overrides it, for bad-key tests)."""
        params = {"upload_prefix": self.url, **query}
        secret = urllib.parse.quote(api_secret or self.api_secret, safe="")
        return (
            f"cloudinary://{self.api_key}:{secret}@{self.state.cloud_name}?{urllib.parse.urlencode(params)}"
        )

    def start(self) -> CloudinaryFake:
        # A short poll interval: the base's default (0.5 s) would add half a second to every stop().
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __enter__(self) -> CloudinaryFake:
        return self.start()

    def stop(self) -> None:
        # Wake handlers that are sleeping in a latency or hang, so none outlives the server.
        self.state.stopping.set()
        super().stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local fake of Cloudinary's Upload API")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cloud", default="demo-cloud")
    parser.add_argument("--api-key", default="123456789012345")
    parser.add_argument("--api-secret", required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every upload")
    parser.add_argument(
        "--public-url", default=None, help="base of delivery URLs, if not http://127.0.0.1:PORT"
    )
    args = parser.parse_args(argv)
    fake = CloudinaryFake(
        cloud_name=args.cloud,
        api_key=args.api_key,
        api_secret=args.api_secret,
        latency_s=args.latency,
        port=args.port,
        public_url=args.public_url,
    )
    print(f"cloudinary fake listening on {fake.url}", flush=True)
    try:
        fake.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
