"""postpilot benchmarks (a report, not a test): publish lateness at 1,000 posts/minute and for a 200-post burst,
the claim query at 1,000,000 finished rows (EXPLAIN ANALYZE), and idle RSS. Results print as JSON and are
written to bench/results/latest.json; bench/README.md is the written report.

Needs PostgreSQL (POSTPILOT_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
Run from the repository root: ``.venv/bin/python bench/run.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.graph_fake import GraphState, make_server  # noqa: E402

from postpilot.app import build_app  # noqa: E402
from postpilot.config import Settings  # noqa: E402
from postpilot.db import migrate  # noqa: E402
from postpilot.db.engine import build_engine  # noqa: E402
from postpilot.db.repository import NewMedia  # noqa: E402
from postpilot.domain.model import LoginKind, MediaSource, utcnow  # noqa: E402

ADMIN = os.environ.get("POSTPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KEY = Fernet.generate_key().decode()
LATENCY = {"create": 0.3, "status": 0.1, "publish": 0.4}


def fresh_db() -> str:
    name = f"postpilot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    engine = build_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def drop_db(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, graph: GraphState, *, posts: int, accounts: int, first_in_s: float, spread_s: float) -> None:
    app = build_app(Settings(database_url=url, state_dir=Path(tempfile.mkdtemp()), secret_key=KEY))
    try:
        ids = []
        for i in range(accounts):
            ig, token = f"1784{i:011d}", f"EAAbench{i:04d}yyyyyyyyyyyyyyyyyyyy"
            graph.add_account(ig, token, quota_total=10_000)
            ids.append(app.repo.create_account(name=f"acct{i}", ig_user_id=ig, login_kind=LoginKind.FACEBOOK,
                                               dry_run=False, token_encrypted=app.cipher.encrypt(token)))
        start = utcnow() + timedelta(seconds=first_in_s)
        rows = [{"account_id": ids[n % accounts], "post_type": "photo", "caption": f"bench {n}",
                 "image_url": f"https://cdn.example.com/{n}.jpg",
                 "scheduled_at": start + timedelta(seconds=spread_s * n / posts)} for n in range(posts)]
        for pid in app.repo.add_posts(rows, actor="bench"):
            app.repo.record_media(pid, NewMedia(position=0, source=MediaSource.PROVIDED,
                                                stored_url=f"https://cdn.example.com/{pid}.jpg", width=1080,
                                                height=1080, bytes=1, checksum="x"))
        with app.engine.begin() as conn:
            conn.execute(text("UPDATE scheduled_posts SET status = 'ready'"))
    finally:
        app.close()


def daemon(env_extra: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POSTPILOT_")}, **env_extra}
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "postpilot", "run"], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def lateness(url: str, *, posts: int, accounts: int, first_in_s: float, spread_s: float, workers: int) -> dict:
    graph = GraphState(latency=dict(LATENCY))
    with make_server(graph) as server:
        seed(url, graph, posts=posts, accounts=accounts, first_in_s=first_in_s, spread_s=spread_s)
        proc = daemon({"POSTPILOT_DATABASE_URL": url, "POSTPILOT_SECRET_KEY": KEY, "POSTPILOT_GRAPH_URL": server.url,
                       "POSTPILOT_HEALTH_LISTEN": "127.0.0.1:0", "POSTPILOT_POLL_INTERVAL_S": "1",
                       "POSTPILOT_STAGE_AHEAD_S": "900", "POSTPILOT_CONTAINER_POLL_S": "0.1",
                       "POSTPILOT_WORKERS": str(workers), "POSTPILOT_LOG_LEVEL": "error"},
                      Path(tempfile.mkdtemp()))
        try:
            deadline = time.monotonic() + first_in_s + spread_s + 120
            engine = build_engine(url)
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    done = conn.execute(text("SELECT count(*) FROM scheduled_posts WHERE status='published'")).scalar()
                if done == posts:
                    break
                time.sleep(1)
            with engine.connect() as conn:
                late = [float(r[0]) for r in conn.execute(text(
                    "SELECT extract(epoch FROM published_at - scheduled_at) FROM scheduled_posts "
                    "WHERE status = 'published'"))]
            engine.dispose()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        late.sort()

        def q(p: float) -> float:
            return round(late[min(len(late) - 1, int(p * len(late)))], 3) if late else float("nan")

        return {"posts": posts, "published": len(late), "workers": workers, "p50_s": q(0.50), "p95_s": q(0.95),
                "p99_s": q(0.99), "max_s": round(max(late), 3) if late else None,
                "mean_s": round(statistics.mean(late), 3) if late else None,
                "publish_calls": graph.total_publish_calls(),
                "max_calls_per_container": max(graph.publish_calls.values(), default=0)}


def claim_query(url: str, rows: int) -> dict:
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (name, ig_user_id, dry_run) VALUES ('bulk', '1', true)"))
        conn.execute(text(
            "INSERT INTO scheduled_posts (account_id, caption, scheduled_at, status, published_at) "
            "SELECT 1, 'old', now() - (g || ' minutes')::interval, 'published', now() - (g || ' minutes')::interval "
            f"FROM generate_series(1, {rows}) g"))
        conn.execute(text(
            "INSERT INTO scheduled_posts (account_id, caption, scheduled_at) "
            "SELECT 1, 'due', now() + (g || ' seconds')::interval FROM generate_series(1, 200) g"))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE scheduled_posts"))
    from postpilot.db import claims

    where = claims.due_for_prepare_where("postgresql")
    sql = ("EXPLAIN (ANALYZE, BUFFERS) WITH due AS MATERIALIZED (SELECT id FROM scheduled_posts WHERE "
           f"{where} ORDER BY scheduled_at, id LIMIT 50 FOR UPDATE SKIP LOCKED) UPDATE scheduled_posts AS p SET "
           "status = 'preparing', lease_owner = 'bench', lease_until = now() + interval '5 minutes' FROM due "
           "WHERE p.id = due.id RETURNING p.id")
    timings = []
    plan: list[str] = []
    for _ in range(5):
        with engine.connect() as conn:
            trans = conn.begin()
            plan = [r[0] for r in conn.execute(text(sql), {"ahead": 3600})]
            trans.rollback()
        timings.append(float(next(line for line in plan if "Execution Time" in line).split(":")[1].split()[0]))
    engine.dispose()
    return {"finished_rows": rows, "execution_ms_median": statistics.median(timings), "plan": plan}


def rss_idle(extra: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory() as d:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("POSTPILOT_", "OPENAI", "CLOUDINARY"))},
               "POSTPILOT_HEALTH_LISTEN": "127.0.0.1:0", **extra}
        subprocess.run([sys.executable, "-m", "postpilot", "db", "upgrade"], cwd=d, env=env, check=True,
                       capture_output=True)
        proc = subprocess.Popen([sys.executable, "-m", "postpilot", "run"], cwd=d, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(8)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        return round(kb / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the script)")
    args = parser.parse_args()
    results: dict[str, object] = {}
    n, spread, burst, rows = (200, 12, 50, 100_000) if args.quick else (1000, 60, 200, 1_000_000)
    url = fresh_db()
    try:
        results["lateness_even"] = lateness(url, posts=n, accounts=50, first_in_s=20, spread_s=spread, workers=16)
    finally:
        drop_db(url)
    url = fresh_db()
    try:
        results["lateness_burst"] = lateness(url, posts=burst, accounts=50, first_in_s=20, spread_s=0.5, workers=16)
        results["lateness_burst"]["limit_s"] = round(burst * LATENCY["publish"] / 16, 2)  # type: ignore[index]
    finally:
        drop_db(url)
    url = fresh_db()
    try:
        results["claim_query"] = claim_query(url, rows)
    finally:
        drop_db(url)
    results["rss_idle_embedded_mb"] = rss_idle({})
    results["rss_idle_openai_cloudinary_mb"] = rss_idle({
        "OPENAI_API_KEY": "sk-bench-not-a-real-key", "CLOUDINARY_URL": "cloudinary://1:2@bench"})
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "claim_query"}, indent=2))
    print(json.dumps({k: v for k, v in results["claim_query"].items() if k != "plan"}))  # type: ignore[union-attr]
    print("\n".join(results["claim_query"]["plan"]))  # type: ignore[index]


if __name__ == "__main__":
    main()
