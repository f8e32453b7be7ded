"""A web server that sends an image one byte at a time, each byte well inside any read timeout: what a broken
or hostile image host does to a downloader without an overall deadline."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field

from PIL import Image

from tests.fakes.base import FakeHandler, FakeServer


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class DripState:
    every_s: float = 0.5
    released: threading.Event = field(default_factory=threading.Event)
    started: int = 0


class DripHandler(FakeHandler):
    def do_GET(self) -> None:
        state: DripState = self.server.state
        state.started += 1
        body = small_png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        try:
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                if state.released.wait(state.every_s):
                    return
        except OSError:
            return


def drip_site(every_s: float = 0.5) -> FakeServer[DripState]:
    return FakeServer(DripHandler, DripState(every_s=every_s))
