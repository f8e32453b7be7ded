"""The interfaces the prepare step depends on. Implementations live beside this module; the composition
root (``postpilot.app``) picks them from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from postpilot.domain.model import Aspect


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes  # encoded image bytes (JPEG or PNG), not yet Instagram-ready
    model: str  # e.g. "gpt-image-1.5" or "card-v1"
    cost_usd: float  # what this image cost; 0.0 for the offline renderer


@dataclass(frozen=True, slots=True)
class ImageRequest:
    prompt: str
    aspect: Aspect
    caption: str = ""
    variation: int = 0  # 0-based position in a carousel; each position must give a distinct image
    of_count: int = 1


class ImageGenerator(Protocol):
    """Makes one image for a prompt. Raises only ``postpilot.domain.errors`` exceptions."""

    @property
    def model(self) -> str: ...

    def estimate_cost_usd(self, request: ImageRequest) -> float:
        """The expected price of one image, used to check the daily budget before spending."""
        ...

    def generate(self, request: ImageRequest) -> GeneratedImage: ...


@dataclass(frozen=True, slots=True)
class MediaKey:
    """Where an item lives: deterministic per post and position, so a retry finds what exists."""

    post_id: int
    position: int
    # Bumped each time an edit throws a post's media away, so a new image never finds the old one's file.
    revision: int = 0

    @property
    def name(self) -> str:
        base = f"post-{self.post_id}-{self.position}"
        return base if self.revision == 0 else f"{base}-r{self.revision}"

    @property
    def public_id(self) -> str:
        return f"postpilot/{self.name}"


@dataclass(frozen=True, slots=True)
class StoredMedia:
    url: str  # the URL Instagram will fetch (public for real publishing)
    width: int
    height: int
    bytes: int
    checksum: str  # sha256 hex of the stored bytes (or the store's etag when the bytes never pass here)
    format: str  # "jpg"
    existing: bool = False  # the store already held this key (a retry found the earlier upload)
    tags: tuple[str, ...] = field(default_factory=tuple)


class MediaStore(Protocol):
    """Stores Instagram-ready JPEGs. Both implementations apply ``media.transform``'s one definition of
    the Instagram transform. Raises only ``postpilot.domain.errors`` exceptions."""

    def store_image(self, *, key: MediaKey, data: bytes, aspect: Aspect, context: dict[str, str]) -> StoredMedia: ...

    def store_remote_image(self, *, key: MediaKey, url: str, aspect: Aspect, context: dict[str, str]) -> StoredMedia:
        """Store a marketer-supplied image given by URL (fetched safely, or handed to the store to fetch)."""
        ...

    def find(self, key: MediaKey) -> StoredMedia | None:
        """What is already stored under this key, if anything (no upload)."""
        ...
