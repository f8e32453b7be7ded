"""Recurring posts with three real daemon processes on one PostgreSQL: every occurrence of every series,
inserted with plain SQL, is created exactly once (issue 16, "three replicas create each occurrence once")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from postpilot.db.engine import build_engine

SERIES = 20
KEY = Fernet.generate_key().decode()


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    engine = build_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE post_events, post_media, scheduled_posts, post_series, accounts, workers, "
                          "notifications RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield pg_database


def _daemon(url: str, tmp_path: Path, n: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POSTPILOT_", "NOTIFY_SOCKET"))},
        "POSTPILOT_DATABASE_URL": url,
        "POSTPILOT_SECRET_KEY": KEY,
        "POSTPILOT_GRAPH_URL": "http://127.0.0.1:9",
        "POSTPILOT_HEALTH_LISTEN": "127.0.0.1:0",
        "POSTPILOT_POLL_INTERVAL_S": "0.5",
        "POSTPILOT_WORKER_ID": f"replica-{n}",
        "POSTPILOT_LOG_LEVEL": "warning",
    }
    workdir = tmp_path / f"replica-{n}"
    workdir.mkdir()
    with (workdir / "log.txt").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "postpilot", "run"], cwd=workdir, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def _counts(url: str) -> tuple[int, int, int]:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            posts = conn.execute(text("SELECT count(*) FROM scheduled_posts")).scalar_one()
            distinct = conn.execute(
                text("SELECT count(*) FROM (SELECT DISTINCT series_id, scheduled_at FROM scheduled_posts) AS d")
            ).scalar_one()
            created = conn.execute(text("SELECT count(*) FROM post_events WHERE kind = 'created'")).scalar_one()
            return int(posts), int(distinct), int(created)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_three_daemons_create_each_occurrence_once(pg_url: str, tmp_path: Path) -> None:
    engine = build_engine(pg_url)
    start = (datetime.now(UTC) + timedelta(days=1)).date()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (name, ig_user_id, dry_run, time_zone) "
                          "VALUES ('shop', '17841400000000001', true, 'America/New_York')"))
        for n in range(SERIES):
            # Daily series, each ten occurrences: all inside the two-week horizon.
            conn.execute(text("INSERT INTO post_series (account_id, prompt, freq, local_time, starts_on, max_count) "
                              "VALUES (1, :p, 'daily', :t, :d, 10)"),
                         {"p": f"series {n}", "t": f"{6 + n % 12:02d}:{n % 4 * 15:02d}", "d": start})
    engine.dispose()
    expected = SERIES * 10
    procs = [_daemon(pg_url, tmp_path, n) for n in range(3)]
    try:
        deadline = time.monotonic() + 60
        counts = (0, 0, 0)
        while time.monotonic() < deadline:
            counts = _counts(pg_url)
            if counts[0] >= expected:
                break
            time.sleep(0.5)
        time.sleep(1.0)  # any late duplicate would show now
        assert _counts(pg_url) == (expected, expected, expected)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=30) for p in procs]
    assert codes == [0, 0, 0], [(tmp_path / f"replica-{n}" / "log.txt").read_text()[-2000:] for n in range(3)]
