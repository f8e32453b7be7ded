"""Scale-out: three real daemon processes on one PostgreSQL publish every post exactly once, and when one is
SIGKILLed mid-run the others finish its posts — still exactly once (the Graph fake counts media_publish calls
per container)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from postpilot.app import build_app
from postpilot.config import Settings
from postpilot.db.engine import build_engine
from postpilot.domain.changes import NewMedia
from postpilot.domain.model import LoginKind, MediaSource, PostStatus, utcnow
from tests.fakes.graph import GraphState, make_server
from tests.fakes.webhook import json_url, webhook

ACCOUNTS = 10
KEY = Fernet.generate_key().decode()


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    engine = build_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE post_events, post_media, scheduled_posts, accounts, notifications "
                          "RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield pg_database


def _seed(url: str, tmp_path: Path, graph: GraphState, *, now_count: int, later_count: int, spread_s: float) -> int:
    app = build_app(Settings(database_url=url, state_dir=tmp_path, secret_key=KEY))
    try:
        ids = []
        for i in range(ACCOUNTS):
            ig = f"178414000000{i:05d}"
            token = f"EAAtoken{i:04d}xxxxxxxxxxxxxxxxxxxx"
            graph.add_account(ig, token, quota_total=1000)
            ids.append(app.repo.create_account(
                name=f"brand{i}", ig_user_id=ig, login_kind=LoginKind.FACEBOOK, dry_run=False,
                token_encrypted=app.cipher.encrypt(token)))
        start = utcnow()
        rows = []
        total = now_count + later_count
        for n in range(total):
            at = start - timedelta(seconds=1) if n < now_count else start + timedelta(
                seconds=5 + spread_s * (n - now_count) / max(1, later_count))
            rows.append({"account_id": ids[n % ACCOUNTS], "post_type": "photo", "caption": f"post {n}",
                         "image_url": f"https://cdn.example.com/{n}.jpg", "scheduled_at": at})
        post_ids = app.repo.add_posts(rows, actor="test")
        for pid in post_ids:
            app.repo.record_media(pid, NewMedia(
                position=0, source=MediaSource.PROVIDED, stored_url=f"https://cdn.example.com/{pid}.jpg",
                width=1080, height=1080, bytes=1000, checksum="x"))
        with app.engine.begin() as conn:
            conn.execute(text("UPDATE scheduled_posts SET status = 'ready'"))
        return total
    finally:
        app.close()


def _daemon(url: str, graph_url: str, tmp_path: Path, n: int, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POSTPILOT_", "NOTIFY_SOCKET"))},
        "POSTPILOT_DATABASE_URL": url,
        "POSTPILOT_SECRET_KEY": KEY,
        "POSTPILOT_GRAPH_URL": graph_url,
        "POSTPILOT_HEALTH_LISTEN": "127.0.0.1:0",
        "POSTPILOT_POLL_INTERVAL_S": "0.5",
        "POSTPILOT_CONTAINER_POLL_S": "0.05",
        "POSTPILOT_LEASE_S": "12",
        "POSTPILOT_PUBLISH_TIMEOUT_S": "5",
        "POSTPILOT_WORKERS": "6",
        "POSTPILOT_WORKER_ID": f"replica-{n}",
        "POSTPILOT_LOG_LEVEL": "warning",
        **extra,
    }
    workdir = tmp_path / f"replica-{n}"
    workdir.mkdir()
    log = (workdir / "log.txt").open("wb")
    try:
        return subprocess.Popen([sys.executable, "-m", "postpilot", "run"], cwd=workdir, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def _statuses(url: str) -> dict[str, int]:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            return {s: n for s, n in conn.execute(text("SELECT status, count(*) FROM scheduled_posts GROUP BY status"))}
    finally:
        engine.dispose()


def _wait_all_published(url: str, total: int, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = _statuses(url)
        if counts.get(PostStatus.PUBLISHED.value, 0) == total:
            break
        time.sleep(0.5)
    return counts


def _stop(procs: list[subprocess.Popen[bytes]]) -> list[int | None]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=30))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes


def _assert_exactly_once(graph: GraphState, total: int) -> None:
    assert graph.total_publish_calls() == total
    assert all(n == 1 for n in graph.publish_calls.values()), {c: n for c, n in graph.publish_calls.items() if n != 1}
    assert len(graph.media) == total


@pytest.mark.slow
def test_three_replicas_publish_every_post_exactly_once(pg_url: str, tmp_path: Path) -> None:
    graph = GraphState()
    with make_server(graph) as server:
        total = _seed(pg_url, tmp_path, graph, now_count=100, later_count=200, spread_s=20)
        procs = [_daemon(pg_url, server.url, tmp_path, n) for n in range(3)]
        try:
            counts = _wait_all_published(pg_url, total, timeout_s=90)
        finally:
            codes = _stop(procs)
        assert counts == {"published": total}, counts
        _assert_exactly_once(graph, total)
        assert codes == [0, 0, 0]


@pytest.mark.slow
def test_three_replicas_deliver_each_notification_once(pg_url: str, tmp_path: Path) -> None:
    """Every post going live is told (POSTPILOT_NOTIFY_PUBLISHED); three senders share the outbox and the
    webhook receiver gets each message exactly once."""
    graph = GraphState()
    with make_server(graph) as server, webhook() as hook:
        total = _seed(pg_url, tmp_path, graph, now_count=30, later_count=0, spread_s=0)
        notify = {"POSTPILOT_NOTIFY_URLS": json_url(hook), "POSTPILOT_NOTIFY_PUBLISHED": "true"}
        procs = [_daemon(pg_url, server.url, tmp_path, n, **notify) for n in range(3)]
        try:
            counts = _wait_all_published(pg_url, total, timeout_s=60)
            deadline = time.monotonic() + 60
            while len(hook.state.titles()) < total and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # a duplicate would arrive now
        finally:
            codes = _stop(procs)
        assert counts == {"published": total}, counts
        titles = hook.state.titles()
        assert len(titles) == total and len(set(titles)) == total, sorted(titles)
        assert all(t.endswith(" is live") for t in titles)
        assert codes == [0, 0, 0]


@pytest.mark.slow
def test_sigkilled_replica_is_taken_over_without_duplicates(pg_url: str, tmp_path: Path) -> None:
    graph = GraphState()
    graph.latency["publish"] = 0.2  # keep work in flight when the replica dies
    with make_server(graph) as server:
        total = _seed(pg_url, tmp_path, graph, now_count=60, later_count=90, spread_s=10)
        procs = [_daemon(pg_url, server.url, tmp_path, n) for n in range(3)]
        try:
            time.sleep(6)
            procs[0].kill()  # SIGKILL: no cleanup, its leases stay until they expire
            procs[0].wait()
            counts = _wait_all_published(pg_url, total, timeout_s=120)
        finally:
            codes = _stop(procs[1:])
        assert counts == {"published": total}, counts
        _assert_exactly_once(graph, total)
        assert codes == [0, 0]
