"""postpilot benchmarks (a report, not a test). Scenarios, each selectable with ``--only``:

* ``lateness``: publish lateness for 1,000 posts across 50 accounts spread over one minute, media prepared;
* ``burst``: the same for 200 posts due in the same second;
* ``naive``: the naive serial baseline on the ``lateness`` schedule (``naive.py``), censored at the end of a
  bounded window, and its p99 ratio to ``lateness`` (when both run);
* ``drain``: drain throughput with image generation on the critical path (``generation.py``);
* ``carousel_rss``: peak RSS during a burst of 10-image carousels (OpenAI + Cloudinary, and embedded);
* ``claim``: the claim query at 1,000,000 finished rows (EXPLAIN ANALYZE);
* ``rss``: idle RSS;
* ``status_load``: the ``lateness`` schedule while 300 clients ask ``/status`` without pause (issue 12 item 9).

Results print as JSON and are written to bench/results/latest.json (``--out``); bench/README.md is the
written report. Needs PostgreSQL (POSTPILOT_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
Run from the repository root: ``.venv/bin/python bench/run.py [--quick] [--only naive,drain]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import generation
import naive
import support
from sqlalchemy import text
from support import GRAPH_LATENCY, KEY, ROOT, daemon, drop_db, fresh_db, pct
from tests.fakes.graph import GraphState, make_server

from postpilot.db.engine import build_engine
from postpilot.domain.changes import NewMedia
from postpilot.domain.model import MediaSource, utcnow

SCENARIOS = ("lateness", "burst", "naive", "drain", "carousel_rss", "claim", "rss", "status_load")


def seed(url: str, graph: GraphState, *, posts: int, accounts: int, first_in_s: float, spread_s: float) -> None:
    """Posts with their media already prepared (status ready), spread evenly from ``first_in_s`` on."""
    app = support.open_app(url)
    try:
        accts = support.add_accounts(app, graph, accounts)
        start = utcnow() + timedelta(seconds=first_in_s)
        rows = [{"account_id": accts[n % accounts].id, "post_type": "photo", "caption": f"bench {n}",
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


class StatusLoad:
    """``clients`` threads, each asking ``/status`` again as soon as it has an answer (or a refusal)."""

    def __init__(self, port: int, clients: int) -> None:
        self.url = f"http://127.0.0.1:{port}/status"
        self.clients = clients
        self.stop = threading.Event()
        self.answers: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> StatusLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def _client(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while not self.stop.is_set():
            try:
                with opener.open(self.url, timeout=10) as resp:
                    resp.read()
                    outcome = str(resp.status)
            except urllib.error.HTTPError as exc:
                outcome = str(exc.code)
                exc.close()
            except OSError:
                outcome = "error"
                time.sleep(0.05)  # the daemon is not listening yet, or refused the connection
            with self.lock:
                self.answers[outcome] += 1


def lateness(url: str, *, posts: int, accounts: int, first_in_s: float, spread_s: float, workers: int,
             stage_workers: int = 16, status_clients: int = 0) -> dict:
    """``first_in_s`` leaves the stage pool time to create every container before the first post is due (at
    16 threads and 400 ms per container, 1,000 containers take about 25 s), as the default 15-minute stage
    window would in production; ``staged_ahead`` in the result says whether it did. ``status_clients``: that
    many clients ask ``/status`` without pause for the whole run."""
    graph = GraphState(latency=dict(GRAPH_LATENCY))
    # BENCH_FAKE_USAGE=0 turns off the fake's usage headers, to tell its own cost from postpilot's.
    graph.report_usage = os.environ.get("BENCH_FAKE_USAGE", "1") != "0"
    workdir = Path(tempfile.mkdtemp(prefix="bench-lateness-"))
    with make_server(graph) as server:
        seed(url, graph, posts=posts, accounts=accounts, first_in_s=first_in_s, spread_s=spread_s)
        port = support.free_port()
        proc = daemon({"POSTPILOT_DATABASE_URL": url, "POSTPILOT_SECRET_KEY": KEY, "POSTPILOT_GRAPH_URL": server.url,
                       "POSTPILOT_HEALTH_LISTEN": f"127.0.0.1:{port}", "POSTPILOT_POLL_INTERVAL_S": "1",
                       "POSTPILOT_STAGE_AHEAD_S": "900", "POSTPILOT_CONTAINER_POLL_S": "0.1",
                       "POSTPILOT_WORKERS": str(workers), "POSTPILOT_STAGE_WORKERS": str(stage_workers),
                       "POSTPILOT_LOG_LEVEL": "warning",
                       "POSTPILOT_LOG_FORMAT": "json"}, workdir)
        load = StatusLoad(port, status_clients) if status_clients else contextlib.nullcontext()
        try:
            deadline = time.monotonic() + first_in_s + spread_s + 120
            engine = build_engine(url)
            with load:
                while time.monotonic() < deadline and proc.poll() is None:
                    with engine.connect() as conn:
                        done = conn.execute(
                            text("SELECT count(*) FROM scheduled_posts WHERE status='published'")
                        ).scalar()
                    if done == posts:
                        break
                    time.sleep(1)
            with engine.connect() as conn:
                late = [float(r[0]) for r in conn.execute(text(
                    "SELECT extract(epoch FROM published_at - scheduled_at) FROM scheduled_posts "
                    "WHERE status = 'published'"))]
                staged_ahead = conn.execute(text(
                    "SELECT count(DISTINCT p.id) FROM scheduled_posts p JOIN post_events e ON e.post_id = p.id "
                    "WHERE e.kind = 'container_created' AND e.at < p.scheduled_at")).scalar()
            engine.dispose()
        finally:
            support.stop(proc)
        return {"posts": posts, "published": len(late), "workers": workers, "stage_workers": stage_workers,
                "staged_ahead": staged_ahead, "graph_latency_s": GRAPH_LATENCY,
                "p50_s": pct(late, 0.50), "p95_s": pct(late, 0.95), "p99_s": pct(late, 0.99),
                "max_s": round(max(late), 3) if late else None,
                "mean_s": round(statistics.mean(late), 3) if late else None,
                "publish_calls": graph.total_publish_calls(),
                "max_calls_per_container": max(graph.publish_calls.values(), default=0),
                "status_clients": status_clients,
                "status_answers": dict(load.answers) if isinstance(load, StatusLoad) else None,
                "log_problems": support.log_problems(workdir)}


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
    from postpilot.db.types import db_now, db_now_plus

    # Exactly the statement the daemon runs to claim posts for preparation (db/claims.py).
    statement = claims.claim_statement(
        "postgresql",
        where=claims.due_for_prepare(3600),
        values={"status": "preparing", "lease_owner": "bench", "lease_until": db_now_plus(300), "updated_at": db_now()},
        batch=50,
    )
    compiled = statement.compile(dialect=engine.dialect)
    sql = "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled)
    timings = []
    plan: list[str] = []
    for _ in range(5):
        with engine.connect() as conn:
            trans = conn.begin()
            plan = [r[0] for r in conn.exec_driver_sql(sql, compiled.params)]
            trans.rollback()
        timings.append(float(next(line for line in plan if "Execution Time" in line).split(":")[1].split()[0]))
    engine.dispose()
    return {"finished_rows": rows, "execution_ms_median": statistics.median(timings), "plan": plan}


def rss_idle(extra: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory() as d:
        env = {**support.clean_env(), "POSTPILOT_HEALTH_LISTEN": "127.0.0.1:0", **extra}
        subprocess.run([sys.executable, "-m", "postpilot", "db", "upgrade"], cwd=d, env=env, check=True,
                       capture_output=True)
        proc = subprocess.Popen([sys.executable, "-m", "postpilot", "run"], cwd=d, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(8)
            kb = support.proc_status_kb(proc.pid, "VmRSS")
        finally:
            support.stop(proc)
        return support.mb(kb) or 0.0


def in_fresh_db(fn: Any, **kwargs: Any) -> dict:
    url = fresh_db()
    try:
        return fn(url, **kwargs)
    finally:
        drop_db(url)


def naive_ratio(results: dict[str, Any]) -> dict[str, Any] | None:
    """naive p99 lower bound ÷ postpilot p99, both from this run: itself a lower bound."""
    nv, pp = results.get("naive"), results.get("lateness_even")
    if not nv or not pp or not pp.get("p99_s"):
        return None
    bound = nv["censored_lateness_lower_bound_s"]["p99"]
    out = {"naive_p99_lower_bound_s": bound, "postpilot_p99_s": pp["p99_s"],
           "ratio_lower_bound": round(bound / pp["p99_s"], 1) if bound is not None else None, "target": 50.0}
    for name, projected in (nv.get("projection") or {}).items():
        out[f"projected_ratio_{name}"] = round(projected["p99_s"] / pp["p99_s"], 1)
    out["verdict"] = "met" if (out["ratio_lower_bound"] or 0) >= 50 else "not shown by this run"
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the script)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios to run (default: all): {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json",
                        help="where to write the JSON results")
    parser.add_argument("--naive-window", type=float, default=None,
                        help="seconds after the first due time before the naive script stops (default 180; 60 quick)")
    parser.add_argument("--naive-sleep", type=float, default=naive.SLEEP_AFTER_CREATE_S,
                        help="the naive script's fixed sleep between creating the container and publishing")
    parser.add_argument("--drain-posts", type=int, default=None, help="posts in the drain (default 100; 20 quick)")
    parser.add_argument("--generation-workers", type=int, default=generation.GENERATION_WORKERS,
                        help="POSTPILOT_GENERATION_WORKERS for drain and carousel_rss")
    parser.add_argument("--carousel-posts", type=int, default=None,
                        help="10-image carousels in the burst (default 20; 8 quick)")
    parser.add_argument("--carousel-variants", default="cloud,embedded",
                        help="carousel_rss variants: cloud (OpenAI + Cloudinary), embedded (card + local, SQLite)")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    quick = args.quick
    n, spread, burst, rows = (200, 12, 50, 100_000) if quick else (1000, 60, 200, 1_000_000)
    results: dict[str, Any] = {"meta": {"started": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
                                        "only": args.only, "graph_latency_s": GRAPH_LATENCY,
                                        "generation_latency_s": list(support.GENERATION_LATENCY_S),
                                        "upload_latency_s": support.UPLOAD_LATENCY_S}}
    only = set(args.only)
    if "lateness" in only:
        results["lateness_even"] = in_fresh_db(lateness, posts=n, accounts=50, first_in_s=45, spread_s=spread,
                                               workers=16)
    if "status_load" in only:
        results["lateness_status_load"] = in_fresh_db(lateness, posts=n, accounts=50, first_in_s=45,
                                                      spread_s=spread, workers=16, status_clients=300)
    if "burst" in only:
        results["lateness_burst"] = in_fresh_db(lateness, posts=burst, accounts=50, first_in_s=30, spread_s=0.5,
                                                workers=16)
        results["lateness_burst"]["limit_s"] = round(burst * GRAPH_LATENCY["publish"] / 16, 2)
    if "naive" in only:
        window = args.naive_window if args.naive_window is not None else (60 if quick else 180)
        results["naive"] = in_fresh_db(naive.run_scenario, posts=n, accounts=50, first_in_s=20, spread_s=spread,
                                       window_s=window, sleep_s=args.naive_sleep)
        results["naive_ratio"] = naive_ratio(results)
    if "drain" in only:
        posts = args.drain_posts or (20 if quick else 100)
        results["drain"] = in_fresh_db(generation.drain, posts=posts, generation_workers=args.generation_workers)
    if "carousel_rss" in only:
        count = args.carousel_posts or (8 if quick else 20)
        variants = [v.strip() for v in args.carousel_variants.split(",") if v.strip()]
        for variant in variants:
            results[f"carousel_rss_{variant}"] = generation.carousel_rss(
                posts=count, embedded=variant == "embedded", generation_workers=args.generation_workers)
    if "claim" in only:
        results["claim_query"] = in_fresh_db(claim_query, rows=rows)
    if "rss" in only:
        results["rss_idle_embedded_mb"] = rss_idle({})
        results["rss_idle_openai_cloudinary_mb"] = rss_idle({
            "OPENAI_API_KEY": "sk-bench-not-a-real-key", "CLOUDINARY_URL": "cloudinary://1:2@bench"})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    report(results)


def report(results: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in results.items() if k != "claim_query"}, indent=2))
    claim = results.get("claim_query")
    if claim:
        print(json.dumps({k: v for k, v in claim.items() if k != "plan"}))
        print("\n".join(claim["plan"]))
    print()
    if "lateness_even" in results:
        le = results["lateness_even"]
        print(f"lateness: p50 {le['p50_s']} s, p95 {le['p95_s']} s, p99 {le['p99_s']} s ({le['published']} posts)")
    if "lateness_status_load" in results:
        sl = results["lateness_status_load"]
        print(f"lateness under {sl['status_clients']} /status clients: p50 {sl['p50_s']} s, p99 {sl['p99_s']} s, "
              f"max {sl['max_s']} s ({sl['published']} posts); answers {sl['status_answers']}")
    nv = results.get("naive")
    if nv:
        lb = nv["censored_lateness_lower_bound_s"]
        print(f"naive: {nv['published_in_window']} of {nv['posts']} published in {nv['window_actual_s']} s; "
              f"lateness p50 >= {lb['p50']} s, p95 >= {lb['p95']} s, p99 >= {lb['p99']} s; "
              f"mean serial time {nv['mean_serial_s']} s per post")
        for name, pr in (nv.get("projection") or {}).items():
            print(f"naive, projected to the end ({name}, {pr['per_post_s']} s/post): {pr['total_serial_h']} h of "
                  f"serial work, p99 ~ {pr['p99_s']} s")
        ratio = results.get("naive_ratio")
        if ratio:
            print(f"RATIO naive p99 / postpilot p99 >= {ratio['ratio_lower_bound']}x "
                  f"(lower bound; target >= 50x; projected {ratio.get('projected_ratio_measured_mean')}x)")
        else:
            print("RATIO: not computed (run the lateness scenario in the same run: --only lateness,naive)")
    dr = results.get("drain")
    if dr and dr.get("fraction_of_limit"):
        fr, lim = dr["fraction_of_limit"], dr["limit_posts_per_s"]
        print(f"drain: {dr['published']} posts in {dr['wall_from_first_claim_s']} s = "
              f"{dr['throughput_posts_per_s']} posts/s; limit (issue: {dr['generation_workers']} generation workers "
              f"/ {dr['per_post_latency_s']['prepare_step']} s prepare step) {lim['issue_definition']} posts/s -> "
              f"{fr['issue_definition']:.0%} (target 80%); vs gen+upload only "
              f"{fr['vs_ideal_generation_plus_upload']:.0%}; vs end-to-end {fr['vs_end_to_end']:.0%}")
    for key in ("carousel_rss_cloud", "carousel_rss_embedded"):
        cr = results.get(key)
        if cr:
            print(f"{key}: peak {cr['peak_mb']} MB (VmHWM {cr['vm_hwm_mb']}, sampled {cr['rss_peak_sampled_mb']}) "
                  f"vs target {cr['target_mb']} MB: {cr['verdict']}; {cr['published']}/{cr['posts']} published")


if __name__ == "__main__":
    main()
