"""Settings that would start a healthy-looking daemon whose posts then wait forever: checked before the daemon
or a pass starts (``App.check_start``: exit code 2, one line each), never first at a post's minute."""

from __future__ import annotations

from collections.abc import Iterable

from postpilot.config import Settings
from postpilot.domain.model import Account


def start_problems(settings: Settings, accounts: Iterable[Account], *, force_dry_run: bool = False) -> list[str]:
    """One line per problem; ``force_dry_run`` (``run-once --dry-run``) decrypts no token, so needs no key."""
    s = settings
    found: list[str] = []
    if s.image_provider == "openai" and not s.openai_api_key:
        found.append("POSTPILOT_IMAGE_PROVIDER=openai needs OPENAI_API_KEY (or set POSTPILOT_IMAGE_PROVIDER=card)")
    if s.media_store == "cloudinary" and not s.cloudinary_url:
        found.append("POSTPILOT_MEDIA_STORE=cloudinary needs CLOUDINARY_URL (or set POSTPILOT_MEDIA_STORE=local)")
    live = [a for a in accounts if a.is_active and not a.dry_run and not force_dry_run]
    if live and s.secret_key is None and any(a.has_token for a in live):
        names = ", ".join(a.name for a in live if a.has_token)
        found.append(
            f"POSTPILOT_SECRET_KEY is not set, but the live account(s) {names} have tokens encrypted with it: set "
            "the key they were saved with"
        )
    return found
