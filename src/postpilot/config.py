"""The one Settings object. Built once at the entry point (``Settings()``), never at import time.

Sources, highest first: environment variables (prefix ``POSTPILOT_``), a ``.env`` file in the working
directory, systemd credentials in ``$CREDENTIALS_DIRECTORY`` (file names = lower-case setting names with the
prefix, e.g. ``postpilot_secret_key``; the unit's ``LoadCredential=postpilot:/etc/postpilot/credentials`` adds
that prefix to files named ``secret_key`` …), then defaults. The SDKs' own variables (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``, ``CLOUDINARY_URL``) are honoured under those names, as their SDKs document.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where the review page listens when POSTPILOT_WEB_LISTEN=on: loopback, beside the health endpoint's 8765.
DEFAULT_WEB_LISTEN = "127.0.0.1:8766"


def default_state_dir() -> Path:
    """``$STATE_DIRECTORY`` under systemd (its first entry), else ``./var``."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    return Path("var")


def _credentials_dir() -> str | None:
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    return creds if creds and Path(creds).is_dir() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="POSTPILOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        secrets_dir=_credentials_dir(),
        populate_by_name=True,
    )

    # --- storage -------------------------------------------------------------------------------------
    state_dir: Path = Field(default_factory=default_state_dir)
    database_url: str | None = None
    media_dir: Path | None = None
    public_media_url: str | None = None

    # --- secrets -------------------------------------------------------------------------------------
    secret_key: SecretStr | None = None

    # --- scheduling ----------------------------------------------------------------------------------
    poll_interval_s: float = Field(default=5.0, gt=0)
    prepare_ahead_s: float = Field(default=3600.0, ge=0)
    # The duplicate guard: a post matching one of the account's within this long is held (0 turns it off).
    duplicate_window_s: float = Field(default=3 * 86400.0, ge=0)
    stage_ahead_s: float = Field(default=900.0, ge=0)
    max_lateness_s: float = Field(default=86400.0, gt=0)
    lease_s: float = Field(default=300.0, gt=10)
    workers: int = Field(default=8, ge=1, le=256)
    stage_workers: int = Field(default=4, ge=1, le=64)
    generation_workers: int = Field(default=2, ge=1, le=64)
    claim_batch: int = Field(default=50, ge=1, le=1000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    drain_timeout_s: float = Field(default=60.0, ge=0)
    worker_id: str | None = None

    # --- images --------------------------------------------------------------------------------------
    image_provider: Literal["auto", "openai", "card"] = "auto"
    openai_model: str = "gpt-image-2.6-sunburst"
    openai_quality: Literal["low", "medium", "high", "auto"] = "medium"
    openai_output_format: Literal["jpeg", "png", "webp"] = "jpeg"
    openai_timeout_s: float = Field(default=180.0, ge=1)
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    daily_image_budget_usd: float | None = Field(default=None, ge=0)
    media_store: Literal["auto", "cloudinary", "local"] = "auto"
    cloudinary_timeout_s: float = Field(default=60.0, gt=0)
    cloudinary_folder: str = "postpilot"
    fetch_timeout_s: float = Field(default=30.0, gt=0)
    fetch_deadline_s: float = Field(default=60.0, gt=0)
    fetch_max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    # Networks marketers' image URLs may point into although they are not public (comma-separated CIDRs).
    fetch_allow_networks: str = ""

    # The SDKs' own variables, read under their documented names.
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    cloudinary_url: SecretStr | None = Field(default=None, validation_alias=AliasChoices("CLOUDINARY_URL"))

    # --- Instagram -----------------------------------------------------------------------------------
    graph_url: str = "https://graph.facebook.com"
    instagram_graph_url: str = "https://graph.instagram.com"
    graph_version: str = "v25.0"
    graph_timeout_s: float = Field(default=30.0, gt=0)
    publish_timeout_s: float = Field(default=60.0, gt=0)
    container_poll_s: float = Field(default=60.0, gt=0)
    reel_max_wait_s: float = Field(default=300.0, gt=0)
    facebook_app_id: str | None = None
    facebook_app_secret: SecretStr | None = None
    instagram_app_id: str | None = None
    instagram_app_secret: SecretStr | None = None
    oauth_redirect_uri: str = "https://localhost/postpilot/callback"
    facebook_dialog_url: str = "https://www.facebook.com"
    instagram_oauth_url: str = "https://www.instagram.com"
    instagram_api_url: str = "https://api.instagram.com"

    # --- operations ----------------------------------------------------------------------------------
    health_listen: str = "127.0.0.1:8765"

    # --- the review page (``review/``): its own listener, off unless POSTPILOT_WEB_LISTEN is set -----------
    # host:port, or on/true/yes for 127.0.0.1:8766. Needs POSTPILOT_SECRET_KEY (it signs the session cookie).
    web_listen: str | None = None
    # Mark the session cookie Secure (sent over HTTPS only): set it when a TLS reverse proxy serves the page.
    web_secure_cookies: bool = False
    # The address people open the review page at (behind the TLS proxy), e.g. https://postpilot.example.com:
    # notifications about a post then link to its page.
    web_public_url: str | None = None

    # --- notifications (Apprise URLs, comma- or space-separated; they hold tokens, so they are secrets) --------
    notify_urls: SecretStr | None = None
    notify_published: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError(
                "must start with sqlite:/// (a file) or postgresql:// (e.g. postgresql://user@host:5432/db)"
            )
        return value

    @field_validator("health_listen")
    @classmethod
    def _check_health_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"must be host:port, e.g. 127.0.0.1:8765 or [::1]:8765 (got {value!r})")
        if not host.strip("[]"):
            raise ValueError(f"must name a host before the port, e.g. 127.0.0.1:{port} (got {value!r})")
        return value

    @field_validator("web_public_url")
    @classmethod
    def _check_web_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.username:
            raise ValueError(f"must be the page's address, like https://postpilot.example.com (got {value!r})")
        return value.strip().rstrip("/")

    @field_validator("web_listen")
    @classmethod
    def _check_web_listen(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.strip().lower() in ("on", "true", "yes", "1"):
            return DEFAULT_WEB_LISTEN
        host, sep, port = value.strip().rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host.strip("[]"):
            raise ValueError(f"must be host:port (e.g. 127.0.0.1:8766 or [::1]:8766) or on (got {value!r})")
        return value.strip()

    @field_validator("fetch_allow_networks")
    @classmethod
    def _check_networks(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{part.strip()!r} is not a network; use CIDRs such as 10.20.0.0/16 or 192.0.2.7/32"
                    ) from None
        return value

    @property
    def notify_url_list(self) -> list[str]:
        raw = self.notify_urls.get_secret_value() if self.notify_urls else ""
        return [part for part in re.split(r"[\s,]+", raw) if part]

    @property
    def fetch_allowed_networks(self) -> list[str]:
        return [part.strip() for part in self.fetch_allow_networks.split(",") if part.strip()]

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: PostgreSQL mapped to psycopg 3; SQLite defaults into the state directory."""
        url = self.database_url
        if url is None:
            return f"sqlite:///{(self.state_dir / 'postpilot.db').as_posix()}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or (self.state_dir / "media")

    @property
    def health_host_port(self) -> tuple[str, int]:
        host, _, port = self.health_listen.rpartition(":")
        return (host.strip("[]") or "127.0.0.1", int(port))

    @property
    def web_host_port(self) -> tuple[str, int] | None:
        if self.web_listen is None:
            return None
        host, _, port = self.web_listen.rpartition(":")
        return (host.strip("[]") or "127.0.0.1", int(port))
