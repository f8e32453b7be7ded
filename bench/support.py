"""Shared pieces of the benchmarks: throw-away databases, accounts on the Graph fake, a ``postpilot run``
subprocess, its metrics and memory, and the OpenAI fake made realistic (latency draws recorded, images of a
real PNG's size).

Imported by ``run.py``, ``naive.py`` and ``generation.py``; it puts the repository root on ``sys.path`` so
``tests.fakes`` can be imported when a script is run as ``python bench/run.py``.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes import openai_fake  # noqa: E402
from tests.fakes.graph import GraphState  # noqa: E402

from postpilot.app import App, build_app  # noqa: E402
from postpilot.config import Settings  # noqa: E402
from postpilot.db import migrate  # noqa: E402
from postpilot.db.engine import build_engine  # noqa: E402
from postpilot.domain.model import LoginKind  # noqa: E402

ADMIN = os.environ.get("POSTPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KEY = Fernet.generate_key().decode()
OPENAI_KEY = "sk-bench-postpilot-0123456789"
# The Graph API latencies (create 300 ms, status 100 ms, publish 400 ms), plus 100 ms for the
# quota read (content_publishing_limit) and for reading a media object (the permalink).
GRAPH_LATENCY = {"create": 0.3, "status": 0.1, "publish": 0.4, "limit": 0.1, "media_read": 0.1}
UPLOAD_LATENCY_S = 0.3  # Cloudinary upload
GENERATION_LATENCY_S = (2.0, 10.0)  # OpenAI image generation, uniform


# --- databases ---------------------------------------------------------------------------------------------


def fresh_db() -> str:
    """A new, migrated PostgreSQL database; returns its SQLAlchemy URL."""
    name = f"postpilot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    migrate_db(url)
    return url


def fresh_sqlite(directory: Path) -> str:
    url = f"sqlite:///{(directory / 'postpilot.db').as_posix()}"
    migrate_db(url)
    return url


def migrate_db(url: str) -> None:
    engine = build_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def drop_db(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg/libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def open_app(url: str) -> App:
    return build_app(Settings(_env_file=None, database_url=url, state_dir=Path(tempfile.mkdtemp()), secret_key=KEY))


@dataclass(frozen=True)
class BenchAccount:
    id: int  # postpilot's accounts.id
    ig_user_id: str
    token: str


def add_accounts(app: App, graph: GraphState, n: int) -> list[BenchAccount]:
    """``n`` connected (not dry-run) accounts, known to the Graph fake with a generous quota."""
    out = []
    for i in range(n):
        ig, token = f"1784{i:011d}", f"EAAbench{i:04d}yyyyyyyyyyyyyyyyyyyy"
        graph.add_account(ig, token, quota_total=10_000)
        account_id = app.repo.create_account(name=f"acct{i}", ig_user_id=ig, login_kind=LoginKind.FACEBOOK,
                                             dry_run=False, token_encrypted=app.cipher.encrypt(token))
        out.append(BenchAccount(account_id, ig, token))
    return out


# --- the daemon --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The bench's environment without anything that would configure postpilot or its SDKs."""
    prefixes = ("POSTPILOT_", "OPENAI_", "CLOUDINARY_", "NOTIFY_SOCKET", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def daemon(env_extra: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    """``postpilot run`` in ``workdir`` (no ``.env`` there), its output in ``workdir/daemon.log``."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "daemon.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "postpilot", "run"], cwd=workdir,
                                env={**clean_env(), **env_extra}, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def log_problems(workdir: Path, limit: int = 8) -> dict[str, object]:
    """Warnings and errors the daemon logged (JSON lines), counted by event, with a few examples."""
    path = workdir / "daemon.log"
    counts: dict[str, int] = {}
    examples: list[str] = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            # structlog's JSON lines, and plain "LEVEL logger: message" lines from stdlib loggers (SDKs).
            low = line.replace(" ", "").lower()
            plain = line.startswith(("WARNING ", "ERROR ", "CRITICAL ", "Traceback"))
            if not plain and '"level":"warning"' not in low and '"level":"error"' not in low:
                continue
            event = line.split('"event": "', 1)[1].split('"', 1)[0] if '"event": "' in line else line[:80]
            counts[event] = counts.get(event, 0) + 1
            if len(examples) < limit:
                examples.append(line[:400])
    return {"counts": counts, "examples": examples}


def scrape_metrics(port: int) -> dict[str, float]:
    """The daemon's Prometheus samples as ``{'name{label="v"}': value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        body = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return out


def stage_mean_s(metrics: dict[str, float], stage: str) -> float | None:
    total = metrics.get(f'postpilot_stage_duration_seconds_sum{{stage="{stage}"}}')
    count = metrics.get(f'postpilot_stage_duration_seconds_count{{stage="{stage}"}}')
    return round(total / count, 3) if total is not None and count else None


def proc_status_kb(pid: int, field_name: str) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return None


class RssSampler:
    """Samples a process's VmRSS every ``interval_s`` on a background thread."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []  # (seconds since start, kB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            kb = proc_status_kb(self.pid, "VmRSS")
            if kb is not None:
                self.samples.append((time.monotonic() - self._started, kb))
            self._stop.wait(self.interval_s)

    @property
    def peak_kb(self) -> int:
        return max((kb for _, kb in self.samples), default=0)


# --- statistics --------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    """The p-quantile of ``values`` (nearest rank, as the lateness scenario has always reported it)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)


def mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# --- a realistic OpenAI fake -------------------------------------------------------------------------------


@dataclass
class RecordingOpenAIState(openai_fake.OpenAIFakeState):
    """The OpenAI fake's state, remembering every generation latency it drew (the fake sleeps them through
    ``wait``; a scripted ``delay_s`` would be recorded too, but the benchmarks script none)."""

    draws: list[float] = field(default_factory=list)

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            with self.lock:
                self.draws.append(seconds)
        super().wait(seconds)


_NOISY_VARIANTS = 6
_noisy_cache: dict[tuple[int, int, str, int], bytes] = {}
_noisy_lock = threading.Lock()
_plain_render = openai_fake.render_image


def _noisy_image(width: int, height: int, fmt: str, variant: int) -> bytes:
    """The fake's picture with photographic-level noise: a 1024x1024 PNG of about 1.8 MB and a 1024x1536
    one of about 2.7 MB, like real GPT Image output (the fake's flat shapes compress to ~10 KB)."""
    key = (width, height, fmt, variant)
    with _noisy_lock:
        cached = _noisy_cache.get(key)
    if cached is not None:
        return cached
    base = Image.open(io.BytesIO(_plain_render(f"variant {variant}", variant, width, height, "png"))).convert("RGB")
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 16) for _ in range(3)])
    out = io.BytesIO()
    Image.blend(base, noise, 0.25).save(out, format={"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt])
    data = out.getvalue()
    with _noisy_lock:
        _noisy_cache[key] = data
    return data


def _realistic_render(prompt: str, index: int, width: int, height: int, fmt: str) -> bytes:
    variant = int.from_bytes(hashlib.sha256(f"{index}:{prompt}".encode()).digest()[:2], "big") % _NOISY_VARIANTS
    return _noisy_image(width, height, fmt, variant)


def use_realistic_images(sizes: list[tuple[int, int]], fmt: str = "png") -> None:
    """Make the in-process OpenAI fake answer with realistically sized images (a few cached variants per
    size, rendered now so the benchmark does not pay for them while it measures)."""
    for width, height in sizes:
        for variant in range(_NOISY_VARIANTS):
            _noisy_image(width, height, fmt, variant)
    openai_fake.render_image = _realistic_render


def random_prompt(n: int) -> str:
    rng = random.Random(n)
    subjects = ("a ceramic coffee cup", "a bakery window", "a city street at dusk", "a mountain lake", "a bicycle")
    light = ("soft morning light", "golden hour", "overcast daylight", "neon at night")
    return f"{rng.choice(subjects)} in {rng.choice(light)}, photo {n}"
