"""The image generator and the media store the settings pick, for the composition root (``app.py``).

Each is built on first use, not when the app is: importing ``openai`` or ``cloudinary`` costs tens of MB, which a
daemon on the embedded defaults (the card renderer and the local store) never pays. A replacement given to
``build_app`` stands in for the real adapter and is used as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import httpx

from postpilot.config import Settings
from postpilot.domain.errors import ConfigError
from postpilot.media.ports import ImageGenerator, MediaStore

if TYPE_CHECKING:
    from postpilot.media.openai_generator import OpenAIImageGenerator


class MediaProviders:
    """Builds, once each and under one lock (the prepare pool's threads ask at the same time), the
    ``ImageGenerator`` and the ``MediaStore``; ``close()`` closes the generator (the app closes its HTTP
    clients itself)."""

    def __init__(
        self,
        *,
        settings: Settings,
        # The app's client for marketers' URLs, asked for only when the local store is built.
        fetch_http: Callable[[], httpx.Client],
        # The app's client for the services' own endpoints (OpenAI's models endpoint).
        http: Callable[[], httpx.Client],
        generator: ImageGenerator | None = None,
        store: MediaStore | None = None,
    ) -> None:
        self.settings = settings
        self._fetch_http = fetch_http
        self._http = http
        self._lock = threading.Lock()
        self._generator: ImageGenerator | None = generator
        self._openai: OpenAIImageGenerator | None = None
        self._store: MediaStore | None = store

    @property
    def image_provider(self) -> str:
        choice = self.settings.image_provider
        if choice == "auto":
            return "openai" if self.settings.openai_api_key else "card"
        return choice

    @property
    def media_store_kind(self) -> str:
        choice = self.settings.media_store
        if choice == "auto":
            return "cloudinary" if self.settings.cloudinary_url else "local"
        return choice

    def generator(self) -> ImageGenerator:
        with self._lock:
            if self._generator is None:
                self._generator = self._build_generator()
            return self._generator

    def _build_generator(self) -> ImageGenerator:
        if self.image_provider == "openai":
            if not self.settings.openai_api_key:
                raise ConfigError("POSTPILOT_IMAGE_PROVIDER=openai needs OPENAI_API_KEY")
            from postpilot.media.openai_generator import OpenAIImageGenerator

            self._openai = OpenAIImageGenerator(
                api_key=self.settings.openai_api_key.get_secret_value(),
                base_url=self.settings.openai_base_url,
                model=self.settings.openai_model,
                quality=self.settings.openai_quality,
                output_format=self.settings.openai_output_format,
                timeout_s=self.settings.openai_timeout_s,
                max_retries=self.settings.openai_max_retries,
            )
            return self._openai
        from postpilot.media.card import CardRenderer

        return CardRenderer()

    def read_openai_model(self) -> tuple[str, bool, date | None]:
        """The configured OpenAI model as OpenAI's models endpoint describes it (for ``DependencyWatch``), read
        with the app's HTTP client: the SDK is not loaded for it."""
        from postpilot.media.openai_lifecycle import read_model_lifecycle

        if not self.settings.openai_api_key:
            raise ConfigError("POSTPILOT_IMAGE_PROVIDER=openai needs OPENAI_API_KEY")
        found = read_model_lifecycle(
            self._http(),
            api_key=self.settings.openai_api_key.get_secret_value(),
            model=self.settings.openai_model,
            base_url=self.settings.openai_base_url,
            timeout_s=min(30.0, self.settings.openai_timeout_s),
        )
        return found.model, found.available, found.shutdown_date

    def store(self) -> MediaStore:
        with self._lock:
            if self._store is None:
                self._store = self._build_store()
            return self._store

    def _build_store(self) -> MediaStore:
        if self.media_store_kind == "cloudinary":
            if not self.settings.cloudinary_url:
                raise ConfigError("POSTPILOT_MEDIA_STORE=cloudinary needs CLOUDINARY_URL")
            from postpilot.media.cloudinary_store import CloudinaryMediaStore

            return CloudinaryMediaStore(
                cloudinary_url=self.settings.cloudinary_url.get_secret_value(),
                timeout_s=self.settings.cloudinary_timeout_s,
                folder=self.settings.cloudinary_folder,
                connections=self.settings.generation_workers,
            )
        from postpilot.media.local_store import LocalMediaStore

        return LocalMediaStore(
            root=self.settings.resolved_media_dir,
            public_base_url=self.settings.public_media_url,
            http=self._fetch_http(),
            max_fetch_bytes=self.settings.fetch_max_bytes,
            fetch_deadline_s=self.settings.fetch_deadline_s,
        )

    def close(self) -> None:
        closer = getattr(self._generator, "close", None)
        if callable(closer):
            closer()
