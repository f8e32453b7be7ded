"""The local media store: Instagram-ready JPEGs in a directory, the embedded default.

Files are named by post and position (``post-12-0.jpg``), so a retry finds what an earlier attempt stored.
Like the Cloudinary store (which uploads with ``overwrite=False``), storing under a key that already holds
an image of the right size answers that image (``existing=True``) instead of replacing it; an image of
another size (the post's aspect was changed) is replaced. Files are written to a temporary name and
renamed, so a crash never leaves a half-written image under a real name.

For real publishing the directory must be served publicly (``public_base_url``); otherwise URLs are
``file://`` URIs, which suit dry-run accounts only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from postpilot.domain.errors import BadMedia, Transient
from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.files import write_atomically
from postpilot.media.fetch import display_url, fetch_image
from postpilot.media.ports import MediaKey, StoredMedia
from postpilot.media.transform import PreparedImage, identify, to_instagram_jpeg


class LocalMediaStore:
    def __init__(
        self,
        *,
        root: Path,
        public_base_url: str | None,
        http: httpx.Client,
        max_fetch_bytes: int,
        fetch_deadline_s: float | None = None,
    ) -> None:
        self._root = root
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._http = http
        self._max_fetch_bytes = max_fetch_bytes
        self._fetch_deadline_s = fetch_deadline_s

    def store_image(self, *, key: MediaKey, data: bytes, aspect: Aspect, context: dict[str, str]) -> StoredMedia:
        existing = self._existing(key, aspect)
        if existing is not None:
            return existing
        if not data:
            raise BadMedia("the image is empty (0 bytes)")
        return self._write(key, to_instagram_jpeg(data, aspect))

    def store_remote_image(self, *, key: MediaKey, url: str, aspect: Aspect, context: dict[str, str]) -> StoredMedia:
        # Look before downloading: a retry should not fetch (and transform) the same image again.
        existing = self._existing(key, aspect)
        if existing is not None:
            return existing
        data = fetch_image(self._http, url, max_bytes=self._max_fetch_bytes, deadline_s=self._fetch_deadline_s)
        prepared = to_instagram_jpeg(data, aspect, what=f"the file at {display_url(url)}")
        return self._write(key, prepared)

    def find(self, key: MediaKey) -> StoredMedia | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Transient(f"could not read the stored image {path}: {exc.strerror}") from exc
        try:
            _, width, height = identify(data)
        except BadMedia:
            return None  # not ours or damaged: storing again replaces it
        return StoredMedia(
            url=self._url(path),
            width=width,
            height=height,
            bytes=len(data),
            checksum=hashlib.sha256(data).hexdigest(),
            format="jpg",
            existing=True,
        )

    # --- internals ----------------------------------------------------------------------------------

    def _existing(self, key: MediaKey, aspect: Aspect) -> StoredMedia | None:
        found = self.find(key)
        if found is not None and (found.width, found.height) == TARGET_SIZES[aspect]:
            return found
        return None

    def _path(self, key: MediaKey) -> Path:
        return self._root / f"{key.name}.jpg"

    def _url(self, path: Path) -> str:
        if self._public_base_url:
            return f"{self._public_base_url}/{path.name}"
        return path.resolve().as_uri()

    def _write(self, key: MediaKey, image: PreparedImage) -> StoredMedia:
        path = self._path(key)
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            # Readable by the web server that serves the directory (mkstemp makes files private).
            write_atomically(path, image.data, mode=0o644)
        except OSError as exc:
            raise Transient(f"could not save the image in {self._root}: {exc.strerror}") from exc
        return StoredMedia(
            url=self._url(path),
            width=image.width,
            height=image.height,
            bytes=image.bytes,
            checksum=image.checksum,
            format="jpg",
        )
