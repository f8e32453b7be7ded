"""The Cloudinary media store: Instagram-ready JPEGs uploaded with the official ``cloudinary`` SDK.

The Instagram transform is applied by Cloudinary on upload (an *incoming* transformation plus
``format="jpg"``), so the stored asset is exactly the file Instagram will fetch from ``secure_url``.

Idempotency: each item gets a deterministic public_id (``{folder}/post-{post_id}-{position}``) and is
uploaded with ``overwrite=False``. A retry after an ambiguous failure (timeout, lost answer) is answered
with the asset already stored (``existing: true``) instead of a second copy. That is also why ``find``
returns None: looking an asset up needs the Admin API, which is rate-limited and has no place in the hot
path, and the upload itself already answers "what is stored under this key".

Credentials come from a ``cloudinary://KEY:SECRET@CLOUD?upload_prefix=…`` URL parsed here and passed to
every call explicitly: the SDK's own configuration is read once at import and shared by the whole process.
The SDK is imported only by this module (the composition root imports this module lazily).
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import cloudinary.exceptions
import cloudinary.uploader
import cloudinary.utils

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
from postpilot.media.ports import MediaKey, StoredMedia
from postpilot.media.transform import instagram_transformation

# Instagram refuses feed images over 8 MiB.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
# Context values are labels, not documents: a long prompt is cut so the whole context stays small.
MAX_CONTEXT_VALUE_CHARS = 200
_SIGNATURE_ALGORITHMS = frozenset({"sha1", "sha256"})


@dataclass(frozen=True, slots=True)
class CloudinaryAccount:
    """The parts of a ``CLOUDINARY_URL``. The secret is left out of ``repr`` so it never reaches a log."""

    cloud_name: str
    api_key: str
    api_secret: str = field(repr=False)
    upload_prefix: str | None = None
    signature_algorithm: str = "sha1"

    def sdk_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "cloud_name": self.cloud_name,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "signature_algorithm": self.signature_algorithm,
            # Explicit Nones override anything the SDK picked up from the environment at import time:
            # an OAuth token would replace our signature, a global upload preset could change the transform.
            "oauth_token": None,
            "upload_preset": None,
        }
        if self.upload_prefix:
            options["upload_prefix"] = self.upload_prefix
        return options


def parse_cloudinary_url(url: str) -> CloudinaryAccount:
    """Parse ``cloudinary://API_KEY:API_SECRET@CLOUD_NAME[?upload_prefix=…&signature_algorithm=…]``.

    Raises ConfigError with a message that never repeats the URL (it holds the secret)."""
    parts = urllib.parse.urlsplit(url.strip())
    # The netloc is split by hand: urlsplit lower-cases the host, and the cloud name is taken verbatim.
    credentials, at, cloud_name = parts.netloc.rpartition("@")
    api_key, colon, api_secret = credentials.partition(":")
    if parts.scheme != "cloudinary" or not at or not colon or not api_key or not api_secret or not cloud_name:
        raise ConfigError("CLOUDINARY_URL must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME")
    query = dict(urllib.parse.parse_qsl(parts.query))
    upload_prefix = (query.get("upload_prefix") or "").rstrip("/") or None
    if upload_prefix is not None and not upload_prefix.startswith(("http://", "https://")):
        raise ConfigError("CLOUDINARY_URL: upload_prefix must be an http(s) URL such as https://api.cloudinary.com")
    algorithm = (query.get("signature_algorithm") or "sha1").lower()
    if algorithm not in _SIGNATURE_ALGORITHMS:
        raise ConfigError("CLOUDINARY_URL: signature_algorithm must be sha1 or sha256")
    return CloudinaryAccount(
        cloud_name=urllib.parse.unquote(cloud_name),
        api_key=urllib.parse.unquote(api_key),
        api_secret=urllib.parse.unquote(api_secret),
        upload_prefix=upload_prefix,
        signature_algorithm=algorithm,
    )


def _size_upload_pool(connections: int) -> None:
    """The SDK uploads through one module-level urllib3 pool that keeps a single connection per host, so
    concurrent uploads from our prepare threads each opened (and threw away) a connection: one more TLS
    handshake per upload and a "Connection pool is full" warning. The SDK has no setting for it; replace the
    pool once with the SDK's own connector (same keep-alive and certificate options), sized for our threads."""
    global _pool_size
    with _pool_lock:
        if connections <= _pool_size:
            return
        cloudinary.uploader._http = cloudinary.utils.get_http_connector(
            cloudinary.config(), {**cloudinary.CERT_KWARGS, "maxsize": connections}
        )
        _pool_size = connections


_pool_lock = threading.Lock()
_pool_size = 1  # what the SDK starts with


class CloudinaryMediaStore:
    """``MediaStore`` on Cloudinary. Makes exactly one upload request per call (two when an item stored
    earlier has the wrong size) and never retries: retries belong to the pipeline's policy."""

    def __init__(
        self, *, cloudinary_url: str, timeout_s: float, folder: str = "postpilot", connections: int = 1
    ) -> None:
        if timeout_s <= 0:
            raise ConfigError("The Cloudinary timeout must be a positive number of seconds")
        self._account = parse_cloudinary_url(cloudinary_url)
        _size_upload_pool(connections)
        # The uploader has no default timeout and ignores config.timeout: it goes on every call.
        self._timeout_s = timeout_s
        self._folder = folder.strip("/")

    def public_id(self, key: MediaKey) -> str:
        """The deterministic public_id of an item. The folder keeps deployments that share one Cloudinary
        account apart: otherwise staging's post 7 would be answered with production's image."""
        return f"{self._folder}/{key.name}" if self._folder else key.name

    def store_image(self, *, key: MediaKey, data: bytes, aspect: Aspect, context: dict[str, str]) -> StoredMedia:
        if not data:
            raise BadMedia("The image is empty (0 bytes)")
        return self._store(data, key=key, aspect=aspect, context=context, remote=False)

    def store_remote_image(self, *, key: MediaKey, url: str, aspect: Aspect, context: dict[str, str]) -> StoredMedia:
        """Cloudinary fetches the marketer's URL itself. Only http(s) goes out: the SDK would read any other
        string as a local file path (or an ftp/s3/data source), which a table row must never reach."""
        _check_remote_url(url)
        return self._store(url, key=key, aspect=aspect, context=context, remote=True)

    def find(self, key: MediaKey) -> StoredMedia | None:
        """Always None: a lookup would need the rate-limited Admin API. Storing again is the lookup, since
        an upload under an existing key answers the stored asset without storing a second copy."""
        return None

    def check_credentials(self) -> str:
        """Prove the key, secret and cloud name with one signed Upload API call that stores nothing:
        ``explicit`` on a public_id that never exists answers 404 "Resource not found" when the signature is
        good and 401 when it is not. Returns the cloud name; raises our errors."""
        probe = f"{self._folder}/postpilot-doctor-probe" if self._folder else "postpilot-doctor-probe"
        try:
            cloudinary.uploader.explicit(
                probe, type="upload", resource_type="image", timeout=self._timeout_s, **self._account.sdk_options()
            )
        except cloudinary.exceptions.NotFound:
            return self._account.cloud_name
        except cloudinary.exceptions.BadRequest as exc:
            if str(exc).startswith("Resource not found"):
                return self._account.cloud_name
            raise Permanent(f"Cloudinary refused the check: {self._scrub(str(exc))[:200]}") from exc
        except cloudinary.exceptions.Error as exc:
            raise self._translate(exc, None) from exc
        return self._account.cloud_name  # the probe exists: the credentials work all the same

    # --- internals ----------------------------------------------------------------------------------

    def _store(
        self, file: bytes | str, *, key: MediaKey, aspect: Aspect, context: dict[str, str], remote: bool
    ) -> StoredMedia:
        target = TARGET_SIZES[aspect]
        result = self._upload(file, key=key, aspect=aspect, context=context, remote=remote, overwrite=False)
        if result.get("existing") is True and _size_of(result) != target:
            # What is stored under this key was made for another aspect (the post was edited after an
            # earlier attempt): replace it rather than hand Instagram an image of the wrong shape.
            result = self._upload(file, key=key, aspect=aspect, context=context, remote=remote, overwrite=True)
        return _stored_media(result, target)

    def _upload(
        self,
        file: bytes | str,
        *,
        key: MediaKey,
        aspect: Aspect,
        context: dict[str, str],
        remote: bool,
        overwrite: bool,
    ) -> dict[str, Any]:
        options: dict[str, Any] = {
            **self._account.sdk_options(),
            "public_id": self.public_id(key),
            "overwrite": overwrite,
            "unique_filename": False,
            "resource_type": "image",
            "transformation": instagram_transformation(aspect),
            "format": "jpg",
            "tags": ["postpilot", f"post-{key.post_id}"],
            "context": _context(key, context),
            "timeout": self._timeout_s,
        }
        try:
            result = cloudinary.uploader.upload(file, **options)
        except cloudinary.exceptions.Error as exc:
            raise self._translate(exc, file if remote and isinstance(file, str) else None) from exc
        if not isinstance(result, dict):
            raise Transient("Cloudinary sent an answer postpilot could not read; the upload will be retried")
        return result

    def _translate(self, exc: cloudinary.exceptions.Error, remote_url: str | None) -> PostpilotError:
        """Map an SDK error to ours. Cloudinary's own text is never passed on where it could echo a
        credential (401 answers quote the signature); the secret and key are scrubbed from what is kept."""
        message = str(exc)
        if isinstance(exc, cloudinary.exceptions.AuthorizationRequired):
            if message.startswith("Stale request"):
                return ProviderBlocked(
                    "Cloudinary rejected the upload as stale: this machine's clock is off by over an hour"
                )
            return ProviderBlocked(
                "The Cloudinary credentials were rejected (API key, secret or cloud name in CLOUDINARY_URL); "
                "uploads wait until they are fixed"
            )
        if isinstance(exc, cloudinary.exceptions.NotAllowed):
            return ProviderBlocked(
                "Cloudinary refused the upload for this account (disabled, over its plan's limits, "
                "or the key lacks upload permission)"
            )
        if isinstance(exc, cloudinary.exceptions.NotFound):
            return ProviderBlocked(
                "Cloudinary answered 'not found' for the upload address: check the cloud name and "
                "upload_prefix in CLOUDINARY_URL"
            )
        if isinstance(exc, cloudinary.exceptions.RateLimited):
            return Throttled("Cloudinary is rate-limiting uploads; they will resume shortly")
        if isinstance(exc, cloudinary.exceptions.BadRequest):
            return self._bad_request(message, remote_url)
        if isinstance(exc, cloudinary.exceptions.GeneralError):
            return Transient("Cloudinary had an internal error; the upload will be retried")
        if isinstance(exc, cloudinary.exceptions.AlreadyExists):
            return Transient("Cloudinary reported a conflicting upload in progress; the upload will be retried")
        if message.startswith("Error parsing server response"):
            return Transient("Cloudinary sent an unreadable answer (often a proxy error page); will retry")
        if message.startswith(("Unexpected error", "Socket error")):
            return Transient(
                f"Cloudinary could not be reached or did not answer within {self._timeout_s:g} s; will retry"
            )
        return Transient("Cloudinary answered with an unexpected error; the upload will be retried")

    def _bad_request(self, message: str, remote_url: str | None) -> PostpilotError:
        if remote_url is not None:
            where = _describe_url(remote_url)
            if message.startswith("Resource not found"):
                return BadMedia(f"The image at {where} was not found (404); check the image URL")
            if message.startswith("Error in loading"):
                reason = message.rpartition(" - ")[2].strip()
                detail = f" ({self._scrub(reason)[:120]})" if reason else ""
                return BadMedia(f"Cloudinary could not download the image at {where}{detail}; check the image URL")
        if "Invalid image file" in message:
            source = f"at {_describe_url(remote_url)} " if remote_url else ""
            return BadMedia(f"The image {source}is not a readable image file (JPEG, PNG, WebP …)")
        return Permanent(f"Cloudinary refused the upload: {self._scrub(message)[:300]}")

    def _scrub(self, text: str) -> str:
        for secret in (self._account.api_secret, self._account.api_key):
            text = text.replace(secret, "***")
        return text


def _check_remote_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if (
        parts.scheme.lower() not in {"http", "https"}
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
    ):
        shown = f"it starts with {parts.scheme}:" if parts.scheme else "it has no http:// or https://"
        raise BadMedia(f"The image URL must be a web address starting with http:// or https:// ({shown})")


def _describe_url(url: str) -> str:
    """The URL as a marketer recognises it, without a query string or user info (either may hold a token)."""
    parts = urllib.parse.urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
    return shown if len(shown) <= 150 else shown[:147] + "…"


def _context(key: MediaKey, context: dict[str, str]) -> dict[str, str]:
    merged = {**context, "post_id": str(key.post_id), "position": str(key.position)}
    return {str(k): str(v)[:MAX_CONTEXT_VALUE_CHARS] for k, v in merged.items() if k and v}


def _size_of(result: dict[str, Any]) -> tuple[object, object]:
    return (result.get("width"), result.get("height"))


def _stored_media(result: dict[str, Any], target: tuple[int, int]) -> StoredMedia:
    """Check that the answer describes the stored, transformed image. A 500 without an ``error`` key is
    returned by the SDK as if it were a success, so a missing field means "failed", not "odd success"."""
    url, fmt = result.get("secure_url"), result.get("format")
    width, height, size = (_int_or_none(result.get(k)) for k in ("width", "height", "bytes"))
    if (
        not isinstance(url, str)
        or not url.startswith(("https://", "http://"))
        or not isinstance(fmt, str)
        or width is None
        or height is None
        or size is None
    ):
        raise Transient("Cloudinary's answer did not describe a stored image; the upload will be retried")
    if fmt.lower() not in {"jpg", "jpeg"}:
        raise BadMedia(f"Cloudinary stored the image as {fmt}, not JPEG, so Instagram may refuse it")
    if (width, height) != target:
        raise BadMedia(
            f"Cloudinary stored the image at {width}x{height} instead of {target[0]}x{target[1]}; "
            "check the account's upload settings (an upload preset may override the transform)"
        )
    if size > MAX_IMAGE_BYTES:
        raise BadMedia(f"The stored image is {size / 1048576:.1f} MiB; Instagram accepts at most 8 MiB")
    tags = result.get("tags")
    return StoredMedia(
        url=url,
        width=width,
        height=height,
        bytes=size,
        checksum=_checksum(result),
        format="jpg",
        existing=result.get("existing") is True,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _checksum(result: dict[str, Any]) -> str:
    """The stored bytes never pass through here (Cloudinary transforms them), so the sha256 of what was
    sent would describe the wrong file. Cloudinary's etag (an MD5 of the stored file) identifies it."""
    etag = result.get("etag")
    if isinstance(etag, str) and etag:
        return f"etag:{etag.strip(chr(34))}"
    return f"version:{result.get('public_id')}@{result.get('version')}"
