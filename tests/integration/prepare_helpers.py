"""Helpers for the prepare-step integration tests: building an App on the fakes, adding posts, and a tiny
web server standing in for the marketer's image host (good images, a 404, an HTML page, a huge file, a
decompression bomb)."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from postpilot.app import App, build_app
from postpilot.config import Settings
from postpilot.domain.model import LoginKind, Post, PostStatus
from postpilot.pipeline import StepResult
from tests.fakes.base import FakeHandler, FakeServer

OPENAI_KEY = "sk-test-postpilot-0123456789"
PROMPT = "a sunlit ceramic coffee cup on a wooden table, soft morning light"

HUGE_BYTES = 60 * 1024 * 1024
BOMB_SIDE = 40_000


# --- the app -----------------------------------------------------------------------------------------


def make_settings(db_url: str, state_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: nothing read from a developer's ``.env`` and short timeouts."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "state_dir": state_dir,
        "image_provider": "card",
        "media_store": "local",
        "openai_timeout_s": 10.0,
        "cloudinary_timeout_s": 5.0,
        "fetch_timeout_s": 5.0,
        "drain_timeout_s": 10.0,
        # The tests' image servers listen on loopback, which marketers' URLs may not reach by default.
        "fetch_allow_networks": "127.0.0.0/8",
        # Tests repeat captions and prompts freely; the duplicate guard is tested where it is asked for.
        "duplicate_window_s": 0.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def make_app(db_url: str, state_dir: Path, **overrides: Any) -> App:
    return build_app(make_settings(db_url, state_dir, **overrides), owner="prepare-test")


def add_account(app: App) -> int:
    # Preparation needs no token: a dry-run account is enough, and nothing is published.
    return app.repo.create_account(
        name="brand", ig_user_id="17841400000000001", login_kind=LoginKind.FACEBOOK, dry_run=True,
        token_encrypted=None,
    )


def add_post(app: App, account_id: int, **values: Any) -> int:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "post_type": "photo",
        "caption": "Morning coffee #coffee",
        # Inside the prepare window but not due: a run-once pass prepares it and does not publish it.
        "scheduled_at": datetime.now(UTC) + timedelta(minutes=30),
        **values,
    }
    return app.repo.add_post(fields, actor="test")


def prepare_due(app: App) -> list[StepResult]:
    """Claim what is due for preparation and prepare it on this thread, in claim order."""
    s = app.settings
    claimed = app.repo.claim_for_prepare(owner=app.owner, ahead_s=s.prepare_ahead_s, lease_s=s.lease_s, batch=50)
    return [app.pipeline.prepare(post) for post in claimed]


def post(app: App, post_id: int) -> Post:
    return app.repo.require_post(post_id)


def make_due_again(app: App, post_id: int) -> None:
    """Time travel for a post waiting out a retry delay: clear ``next_attempt_at``."""
    from sqlalchemy import text

    with app.engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET next_attempt_at = NULL WHERE id = :id"), {"id": post_id})
    assert post(app, post_id).status is PostStatus.SCHEDULED


# --- images --------------------------------------------------------------------------------------------


def image_bytes(size: tuple[int, int] = (1400, 1000), fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", size, (30, 120, 200))
    for x in range(0, size[0], 50):  # some structure, so the JPEG is not trivially small
        image.paste((200, 80 + x % 150, 40), (x, 0, x + 20, size[1]))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A real decompression bomb: a valid 1-bit PNG of side×side pixels, all black, a few hundred KB on
    the wire and 1.6 gigapixels once decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(1)
    parts = [packer.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(packer.compress(row * (side % 1000)))
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


# --- the marketer's image host ---------------------------------------------------------------------------


class _MediaHandler(FakeHandler):
    """``/good.png`` (and ``/good-N.png``), ``/missing.jpg`` (404), ``/page.jpg`` (an HTML page),
    ``/huge.jpg`` (60 MB, streamed chunked without a Content-Length, so the size cap must count bytes),
    ``/bomb.png`` (a PNG bomb)."""

    def do_GET(self) -> None:
        state: dict[str, Any] = self.server.state
        with state["lock"]:
            state["hits"].append(self.path)
        path = self.path.split("?", 1)[0]
        if path.startswith("/good"):
            self.send_raw(200, state["good"], "image/png")
        elif path == "/page.jpg":
            page = b"<!doctype html><html><body><img src='/good.png'></body></html>"
            self.send_raw(200, page, "text/html; charset=utf-8")
        elif path == "/huge.jpg":
            self._stream_huge()
        elif path == "/bomb.png":
            self.send_raw(200, png_bomb(), "image/png")
        else:
            self.send_raw(404, b"not found", "text/plain")

    def _stream_huge(self) -> None:
        # Generated chunk by chunk: the server never holds more than one 1 MiB chunk.
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\xff\xd8\xff\xe0" + b"\x00" * (1024 * 1024 - 4)
        sent = 0
        try:
            while sent < HUGE_BYTES:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client gave up at its size cap
            self.close_connection = True


class MediaHost(FakeServer[dict[str, Any]]):
    def __init__(self) -> None:
        super().__init__(_MediaHandler, {"hits": [], "lock": threading.Lock(), "good": image_bytes()})

    def start(self) -> MediaHost:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> MediaHost:
        return self.start()

    @property
    def hits(self) -> list[str]:
        return list(self.state["hits"])
