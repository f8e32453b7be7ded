"""The images the page shows, from the media store: full size and thumbnails, made once and kept on disk.

Where an item's bytes are: a ``file://`` URL or a URL under ``POSTPILOT_PUBLIC_MEDIA_URL`` is a file of the
local store (only files inside its directory are ever read); any other URL (Cloudinary's delivery URL) is
downloaded once into the cache. Thumbnails are named by media id and checksum, so new images (regenerate,
an edit) get new thumbnails and an old one is never shown for a new image.

A reel's cover is the marketer's ``cover_url`` (never stored by postpilot: Instagram fetches it): it is
downloaded once with the client for marketers' URLs (public addresses only, as preparation fetches images),
named by post id and a hash of the URL, so a new cover_url is a new file.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from PIL import Image

from postpilot.domain.errors import BadMedia, PostpilotError
from postpilot.domain.model import PostMedia
from postpilot.files import write_atomically
from postpilot.media.fetch import fetch_image

THUMB_PX = 360  # the longer side: sharp in a 180 px card on a 2x screen
_THUMB_QUALITY = 80


class ImageMissing(PostpilotError):
    """The image is not in the media store (yet)."""


class ImageFiles:
    def __init__(
        self,
        *,
        media_dir: Path,
        cache_dir: Path,
        public_base_url: str | None,
        http: httpx.Client,
        max_bytes: int,
        deadline_s: float,
    ) -> None:
        self._media_dir = media_dir.resolve()
        self._cache_dir = cache_dir
        self._public = public_base_url.rstrip("/") + "/" if public_base_url else None
        self._http = http  # the public-only client: stored images and reels' covers alike
        self._max_bytes = max_bytes
        self._deadline_s = deadline_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self.thumbnails_made = 0  # counted for the tests and the benchmark: once per image, not per request

    def full(self, item: PostMedia) -> Path:
        """The stored file, or a downloaded copy of it."""
        if item.kind != "image" or not item.stored_url:
            raise ImageMissing("this item has no stored image")
        return self._file(item.stored_url, self._stem(item), f"the stored image of item {item.position + 1}")

    def thumbnail(self, item: PostMedia) -> Path:
        return self._thumbnail(self._stem(item), lambda: self.full(item))

    def cover(self, post_id: int, url: str) -> Path:
        """A reel's cover, from its cover_url."""
        return self._file(url, self._cover_stem(post_id, url), "the reel's cover")

    def cover_thumbnail(self, post_id: int, url: str) -> Path:
        return self._thumbnail(self._cover_stem(post_id, url), lambda: self.cover(post_id, url))

    def _file(self, url: str, stem: str, what: str) -> Path:
        local = self._local_file(url)
        if local is not None:
            if not local.is_file():
                raise ImageMissing(f"{what} is no longer in the media directory")
            return local
        target = self._cache_dir / "full" / f"{stem}.img"
        with self._lock_for(target.name):
            if not target.is_file():
                data = fetch_image(self._http, url, max_bytes=self._max_bytes, deadline_s=self._deadline_s)
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(target, data)
        return target

    def _thumbnail(self, stem: str, full: Callable[[], Path]) -> Path:
        target = self._cache_dir / "thumbs" / f"{stem}-{THUMB_PX}.jpg"
        if target.is_file():
            return target
        with self._lock_for(target.name):
            if not target.is_file():  # another request made it while this one waited
                data = _shrink(full().read_bytes())
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(target, data)
                self.thumbnails_made += 1
        return target

    def _local_file(self, url: str) -> Path | None:
        if self._public and url.startswith(self._public):
            name = url[len(self._public) :]
            return self._inside(self._media_dir / unquote(name))
        parts = urlsplit(url)
        if parts.scheme == "file":
            return self._inside(Path(unquote(parts.path)))
        if parts.scheme in ("http", "https"):
            return None
        raise ImageMissing("the stored image has an address the page cannot read")

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        # Only the media directory is served: a row pointing elsewhere never turns the page into a file reader.
        if not resolved.is_relative_to(self._media_dir):
            raise ImageMissing("the stored image is outside the media directory, so the page does not serve it")
        return resolved

    @staticmethod
    def _stem(item: PostMedia) -> str:
        checksum = item.checksum or hashlib.sha256((item.stored_url or "").encode()).hexdigest()
        return f"{item.id}-{checksum[:16]}"

    @staticmethod
    def _cover_stem(post_id: int, url: str) -> str:
        return f"cover-{post_id}-{hashlib.sha256(url.encode()).hexdigest()[:16]}"

    def _lock_for(self, name: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(name, threading.Lock())


def _shrink(data: bytes) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG decodes at a fraction of its size: far less work
            small = image.convert("RGB")
            small.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            small.save(out, format="JPEG", quality=_THUMB_QUALITY, optimize=True)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadMedia("the stored image cannot be read to make a thumbnail") from exc
