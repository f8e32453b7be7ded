"""Issue 15 benchmark: the review page (a report, not a test).

* ``render``: a queue page of 50 upcoming posts (images made by the card renderer, thumbnails already made),
  served by a real ``postpilot run`` and asked for again and again over HTTP from this process, on SQLite and
  on PostgreSQL: p50/p95 of the queue's HTML, of one thumbnail, of the post and week pages, and of the queue
  with all its thumbnails fetched as a browser with an empty cache would (6 at a time).
* ``lateness``: ``bench/run.py``'s lateness schedule (posts with prepared media spread over a minute, Graph
  fake at realistic latency, a real ``postpilot run`` on PostgreSQL), once with the page off and once with it
  on while ``--clients`` logged-in clients reload the queue without pause.

Results print as JSON and go to bench/results/review_page.json; bench/README.md ("Issue 15: review page") is
the written report. Run from the repository root: ``.venv/bin/python bench/review_page.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import run
import support
from sqlalchemy import text
from support import GRAPH_LATENCY, KEY, ROOT, drop_db, fresh_db, pct
from tests.fakes.graph import GraphState, make_server

from postpilot.db.engine import build_engine
from postpilot.domain.model import LoginKind, utcnow
from postpilot.domain.users import Role
from postpilot.review.passwords import hash_password

USER, PASSWORD = "bench", "bench-password-long"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_THUMB = re.compile(r'src="(/media/\d+/thumb[^"]*)"')


# --------------------------------------------------------------------------------------------- a logged-in client
class Browser:
    """A cookie jar and a login, over urllib (no proxies)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(CookieJar())
        )

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def login(self) -> None:
        _, page = self.get("/login")
        found = _TOKEN.search(page.decode())
        assert found, "no CSRF token on the login page"
        form = urllib.parse.urlencode({"csrf_token": html.unescape(found.group(1)), "name": USER,
                                       "password": PASSWORD, "next": "/"}).encode()
        with self.opener.open(self.base + "/login", data=form, timeout=30) as resp:
            assert "/login" not in resp.url, "the login was refused"


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def summary_ms(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": pct(values, 0.50), "p95_ms": pct(values, 0.95),
            "max_ms": round(max(values), 1), "mean_ms": round(statistics.mean(values), 1)}


# --------------------------------------------------------------------------------------------- render
def seed_queue(url: str, posts: int) -> None:
    """``posts`` posts over the next days (photos and 3-image carousels) and a reviewer."""
    app = support.open_app(url)
    try:
        account = app.repo.create_account(name="shop", ig_user_id="17841400000000001",
                                          login_kind=LoginKind.FACEBOOK, dry_run=True, token_encrypted=None)
        start = utcnow() + timedelta(hours=2)
        rows = []
        for n in range(posts):
            carousel = n % 5 == 0
            rows.append({"account_id": account, "post_type": "carousel" if carousel else "photo",
                         "image_count": 3 if carousel else None,
                         "caption": f"Post {n} of the week #bench #n{n} @shop", "prompt": support.random_prompt(n),
                         "scheduled_at": start + timedelta(minutes=150 * n)})
        app.repo.add_posts(rows, actor="bench")
        app.repo.add_review_user(name=USER, password_hash=hash_password(PASSWORD), role=Role.REVIEWER)
    finally:
        app.close()


def prepared(health_port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/status", timeout=10) as resp:
        counts = json.loads(resp.read())["counts"]
    return not counts.get("scheduled") and not counts.get("preparing")


def render(url: str, *, posts: int, rounds: int) -> dict[str, Any]:
    """The page as the daemon serves it: ``postpilot run`` prepares the posts (card renderer, local store,
    prepare window 30 days) and serves the page; this process is the browser."""
    seed_queue(url, posts)
    workdir = Path(tempfile.mkdtemp(prefix="bench-review-render-"))
    health, web = support.free_port(), support.free_port()
    proc = support.daemon({"POSTPILOT_DATABASE_URL": url, "POSTPILOT_SECRET_KEY": KEY,
                           "POSTPILOT_STATE_DIR": str(workdir / "state"),
                           "POSTPILOT_HEALTH_LISTEN": f"127.0.0.1:{health}", "POSTPILOT_WEB_LISTEN": f"127.0.0.1:{web}",
                           "POSTPILOT_PREPARE_AHEAD_S": str(30 * 86400), "POSTPILOT_POLL_INTERVAL_S": "1",
                           "POSTPILOT_LOG_LEVEL": "warning", "POSTPILOT_LOG_FORMAT": "json"}, workdir)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if prepared(health):
                    break
            time.sleep(1)
        browser = Browser(f"http://127.0.0.1:{web}")
        browser.login()
        days = (posts * 150) // (24 * 60) + 2  # every post on the one page
        queue = f"/?days={min(days, 31)}"
        status, page = browser.get(queue)
        assert status == 200, status
        thumbs = _THUMB.findall(page.decode())
        started = time.perf_counter()
        for path in thumbs:  # made now, once: what is measured below starts with every thumbnail on disk
            assert browser.get(html.unescape(path))[0] == 200
        first_thumbs_s = time.perf_counter() - started
        cards = page.decode().count('class="card')
        html_ms = [timed(lambda: browser.get(queue)) for _ in range(rounds)]
        post_ms = [timed(lambda: browser.get("/posts/2")) for _ in range(rounds)]
        week_ms = [timed(lambda: browser.get("/week")) for _ in range(rounds)]
        thumb_ms = [timed(lambda p=p: browser.get(html.unescape(p))) for p in thumbs for _ in range(3)]

        def full_page() -> None:
            _, body = browser.get(queue)
            with ThreadPoolExecutor(6) as pool:  # a browser's six connections per host
                list(pool.map(lambda p: browser.get(html.unescape(p)), _THUMB.findall(body.decode())))

        full_ms = [timed(full_page) for _ in range(max(5, rounds // 5))]
        return {"database": url.split(":", 1)[0], "posts": posts, "cards_on_page": cards,
                "thumbnails": len(thumbs), "html_bytes": len(page),
                "first_thumbnails_made_s": round(first_thumbs_s, 2),
                "queue_html": summary_ms(html_ms), "one_thumbnail": summary_ms(thumb_ms),
                "queue_with_thumbnails_uncached": summary_ms(full_ms),
                "post_page": summary_ms(post_ms), "week_page": summary_ms(week_ms),
                "log_problems": support.log_problems(workdir)}
    finally:
        support.stop(proc)


# --------------------------------------------------------------------------------------------- lateness
class Reloader:
    """``clients`` logged-in clients asking for the queue again as soon as it arrives."""

    def __init__(self, base: str, clients: int) -> None:
        self.base = base
        self.stop = threading.Event()
        self.answers: Counter[str] = Counter()
        self.ms: list[float] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Reloader:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _client(self) -> None:
        browser = Browser(self.base)
        while not self.stop.is_set():
            try:
                browser.login()
                break
            except (OSError, AssertionError):
                time.sleep(0.2)  # the daemon is not listening yet
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                status, _ = browser.get("/?days=1")
                outcome = str(status)
            except OSError:
                outcome = "error"
            with self.lock:
                self.answers[outcome] += 1
                self.ms.append((time.perf_counter() - started) * 1000)


def lateness(url: str, *, posts: int, spread_s: float, first_in_s: float, clients: int) -> dict[str, Any]:
    """``bench/run.py``'s lateness scenario (its seed and measurement), with the review page on and reloaded
    by ``clients`` clients when ``clients`` > 0."""
    graph = GraphState(latency=dict(GRAPH_LATENCY))
    workdir = Path(tempfile.mkdtemp(prefix="bench-review-lateness-"))
    with make_server(graph) as server:
        run.seed(url, graph, posts=posts, accounts=50, first_in_s=first_in_s, spread_s=spread_s)
        engine = build_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO review_users (name, password_hash, role) VALUES (:n, :h, 'reviewer')"),
                         {"n": USER, "h": hash_password(PASSWORD)})
        web_port = support.free_port()
        env = {"POSTPILOT_DATABASE_URL": url, "POSTPILOT_SECRET_KEY": KEY, "POSTPILOT_GRAPH_URL": server.url,
               "POSTPILOT_HEALTH_LISTEN": f"127.0.0.1:{support.free_port()}", "POSTPILOT_POLL_INTERVAL_S": "1",
               "POSTPILOT_STAGE_AHEAD_S": "900", "POSTPILOT_CONTAINER_POLL_S": "0.1", "POSTPILOT_WORKERS": "16",
               "POSTPILOT_STAGE_WORKERS": "16", "POSTPILOT_LOG_LEVEL": "warning", "POSTPILOT_LOG_FORMAT": "json"}
        if clients:
            env["POSTPILOT_WEB_LISTEN"] = f"127.0.0.1:{web_port}"
        proc = support.daemon(env, workdir)
        load = Reloader(f"http://127.0.0.1:{web_port}", clients) if clients else contextlib.nullcontext()
        try:
            deadline = time.monotonic() + first_in_s + spread_s + 120
            with load:
                while time.monotonic() < deadline and proc.poll() is None:
                    with engine.connect() as conn:
                        done = conn.execute(
                            text("SELECT count(*) FROM scheduled_posts WHERE status='published'")).scalar()
                    if done == posts:
                        break
                    time.sleep(1)
            with engine.connect() as conn:
                late = [float(r[0]) for r in conn.execute(text(
                    "SELECT extract(epoch FROM published_at - scheduled_at) FROM scheduled_posts "
                    "WHERE status = 'published'"))]
        finally:
            support.stop(proc)
            engine.dispose()
    out: dict[str, Any] = {"posts": posts, "published": len(late), "page_clients": clients,
                           "p50_s": pct(late, 0.50), "p95_s": pct(late, 0.95), "p99_s": pct(late, 0.99),
                           "max_s": round(max(late), 3) if late else None,
                           "publish_calls": graph.total_publish_calls(),
                           "log_problems": support.log_problems(workdir)}
    if isinstance(load, Reloader):
        out["page_answers"] = dict(load.answers)
        out["page_ms"] = summary_ms(load.ms) if load.ms else None
    return out


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the script)")
    parser.add_argument("--only", default="render,lateness", help="render, lateness or both (default)")
    parser.add_argument("--clients", type=int, default=8, help="clients reloading the queue in the lateness run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "review_page.json")
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",")}
    rounds, posts, spread = (30, 200, 12.0) if args.quick else (200, 1000, 60.0)
    results: dict[str, Any] = {"meta": {"quick": args.quick, "graph_latency_s": GRAPH_LATENCY}}
    if "render" in only:
        with tempfile.TemporaryDirectory() as d:
            results["render_sqlite"] = render(support.fresh_sqlite(Path(d)), posts=50, rounds=rounds)
        url = fresh_db()
        try:
            results["render_postgresql"] = render(url, posts=50, rounds=rounds)
        finally:
            drop_db(url)
    if "lateness" in only:
        for name, clients in (("lateness_page_off", 0), ("lateness_page_reloaded", args.clients)):
            url = fresh_db()
            try:
                results[name] = lateness(url, posts=posts, spread_s=spread, first_in_s=45, clients=clients)
            finally:
                drop_db(url)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
