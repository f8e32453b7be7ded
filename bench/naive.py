"""The naive baseline: how a typical hand-written script would publish the same schedule.

Every 60 s it selects the due, unpublished posts and handles them one after another: generate the image
(``openai`` SDK), upload it (``cloudinary`` SDK), create the container (plain httpx), sleep a fixed time for
Instagram to process it, ``media_publish``, and mark the row published. Nothing is prepared ahead and nothing
runs in parallel, so at 1,000 posts a minute it falls hours behind; the benchmark runs it for a bounded
window and reports the lateness it reached as lower bounds (censored at the end of the window), plus a
projection of the whole run from the measured per-post time.

``run_scenario`` sets up the fakes and the schedule and is what ``run.py --only naive`` calls.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import cloudinary
import cloudinary.uploader
import httpx
import openai
import psycopg
import support
from support import GRAPH_LATENCY, OPENAI_KEY, RecordingOpenAIState, pct
from tests.fakes.cloudinary_fake import CloudinaryFake
from tests.fakes.graph import GraphState, make_server
from tests.fakes.openai_fake import OpenAIFake

from postpilot.domain.model import utcnow

POLL_S = 60.0  # "every minute", as a cron-minded script would
SLEEP_AFTER_CREATE_S = 2.0  # "give Instagram a moment" before media_publish


# --- the script ---------------------------------------------------------------------------------------------


@dataclass
class NaiveConfig:
    database: str  # libpq URL
    openai_base_url: str
    openai_key: str
    cloud_name: str
    cloudinary_key: str
    cloudinary_secret: str
    cloudinary_upload_prefix: str
    graph_url: str
    tokens: dict[int, tuple[str, str]]  # account id -> (Instagram user id, access token)
    poll_s: float = POLL_S
    sleep_after_create_s: float = SLEEP_AFTER_CREATE_S
    graph_version: str = "v25.0"
    model: str = "gpt-image-1.5"


@dataclass
class NaiveRun:
    started: float = 0.0  # time.time() of the script's start
    stopped: float = 0.0  # time.time() when it stopped (the end of the window)
    polls: list[tuple[float, int]] = field(default_factory=list)  # (time.time(), posts found due) per poll
    serial_s: list[float] = field(default_factory=list)  # seconds per published post, start to commit
    errors: list[str] = field(default_factory=list)


class NaivePublisher:
    """One post after another, exactly as simple as it sounds."""

    def __init__(self, cfg: NaiveConfig) -> None:
        self.cfg = cfg
        self.openai = openai.OpenAI(api_key=cfg.openai_key, base_url=cfg.openai_base_url)
        cloudinary.config(cloud_name=cfg.cloud_name, api_key=cfg.cloudinary_key, api_secret=cfg.cloudinary_secret,
                          upload_prefix=cfg.cloudinary_upload_prefix)
        self.graph = httpx.Client(base_url=f"{cfg.graph_url}/{cfg.graph_version}", timeout=30)

    def close(self) -> None:
        self.openai.close()
        self.graph.close()

    def run(self, *, until: float) -> NaiveRun:
        """Poll, publish everything due, sleep a minute, repeat; no new post is started after ``until``."""
        result = NaiveRun(started=time.time())
        with psycopg.connect(self.cfg.database, autocommit=True) as db:
            while time.time() < until:
                polled = time.time()
                due = db.execute(
                    "SELECT id, account_id, caption, prompt FROM scheduled_posts "
                    "WHERE status <> 'published' AND scheduled_at <= now() ORDER BY scheduled_at, id").fetchall()
                result.polls.append((polled, len(due)))
                for post_id, account_id, caption, prompt in due:
                    if time.time() >= until:
                        break
                    started = time.monotonic()
                    try:
                        media_id = self.publish_one(account_id, caption, prompt)
                    except Exception as exc:  # a script logs and moves on to the next post
                        result.errors.append(f"post {post_id}: {type(exc).__name__}: {exc}"[:300])
                        continue
                    db.execute("UPDATE scheduled_posts SET status = 'published', published_at = now(), "
                               "ig_media_id = %s WHERE id = %s", (media_id, post_id))
                    result.serial_s.append(time.monotonic() - started)
                if time.time() < until:
                    time.sleep(max(0.0, min(self.cfg.poll_s, until - time.time())))
        result.stopped = time.time()
        return result

    def publish_one(self, account_id: int, caption: str, prompt: str) -> str:
        ig_user_id, token = self.cfg.tokens[account_id]
        image = self.openai.images.generate(model=self.cfg.model, prompt=prompt, size="1024x1024")
        assert image.data and image.data[0].b64_json
        png = base64.b64decode(image.data[0].b64_json)
        uploaded = cloudinary.uploader.upload(io.BytesIO(png), folder="naive", format="jpg")
        created = self.graph.post(f"/{ig_user_id}/media", data={
            "image_url": uploaded["secure_url"], "caption": caption, "access_token": token})
        created.raise_for_status()
        container = created.json()["id"]
        time.sleep(self.cfg.sleep_after_create_s)
        published = self.graph.post(f"/{ig_user_id}/media_publish",
                                    data={"creation_id": container, "access_token": token})
        published.raise_for_status()
        return str(published.json()["id"])


# --- projection ---------------------------------------------------------------------------------------------


def project(due_offsets: list[float], *, per_post_s: float, poll_s: float, first_poll: float) -> list[float]:
    """Lateness of every post if the script ran to the end: polls at ``first_poll`` (seconds, on the same
    axis as ``due_offsets``), handles everything due one post per ``per_post_s``, sleeps ``poll_s``, polls
    again."""
    pending = sorted(due_offsets)
    late: list[float] = []
    now, i = first_poll, 0
    while i < len(pending):
        if pending[i] > now:
            now += poll_s
            continue
        batch_end = i
        while batch_end < len(pending) and pending[batch_end] <= now:
            batch_end += 1
        for due in pending[i:batch_end]:
            now += per_post_s
            late.append(now - due)
        i = batch_end
        now += poll_s
    return late


# --- the scenario -------------------------------------------------------------------------------------------


def run_scenario(url: str, *, posts: int, accounts: int, first_in_s: float, spread_s: float, window_s: float,
                 sleep_s: float = SLEEP_AFTER_CREATE_S, poll_s: float = POLL_S) -> dict[str, Any]:
    """The naive script on the lateness scenario's schedule (prompts instead of prepared media), stopped
    ``window_s`` after the first post was due."""
    graph = GraphState(latency=dict(GRAPH_LATENCY))
    oai_state = RecordingOpenAIState(api_key=OPENAI_KEY, latency_s=support.GENERATION_LATENCY_S)
    support.use_realistic_images([(1024, 1024)])
    with OpenAIFake(oai_state) as oai, CloudinaryFake(latency_s=support.UPLOAD_LATENCY_S,
                                                      api_secret="bench-secret-0123") as cld, \
            make_server(graph) as gserver:
        app = support.open_app(url)
        try:
            accts = support.add_accounts(app, graph, accounts)
            first_due = utcnow() + timedelta(seconds=first_in_s)
            rows = [{"account_id": accts[n % accounts].id, "post_type": "photo", "caption": f"bench {n}",
                     "prompt": support.random_prompt(n),
                     "scheduled_at": first_due + timedelta(seconds=spread_s * n / posts)} for n in range(posts)]
            app.repo.add_posts(rows, actor="bench")
        finally:
            app.close()
        cfg = NaiveConfig(
            database=support.libpq_url(url), openai_base_url=oai.base_url, openai_key=OPENAI_KEY,
            cloud_name=cld.state.cloud_name, cloudinary_key=cld.api_key, cloudinary_secret=cld.api_secret,
            cloudinary_upload_prefix=cld.url, graph_url=gserver.url,
            tokens={a.id: (a.ig_user_id, a.token) for a in accts}, poll_s=poll_s, sleep_after_create_s=sleep_s)
        publisher = NaivePublisher(cfg)
        try:
            run = publisher.run(until=first_due.timestamp() + window_s)
        finally:
            publisher.close()
        with psycopg.connect(support.libpq_url(url)) as db:
            rows_out = db.execute(
                "SELECT extract(epoch FROM scheduled_at)::float8, extract(epoch FROM published_at)::float8 "
                "FROM scheduled_posts ORDER BY scheduled_at, id").fetchall()
        publish_calls = graph.total_publish_calls()
        max_per_container = max(graph.publish_calls.values(), default=0)
        draws = list(oai_state.draws)
    return summarize(rows_out, run, posts=posts, accounts=accounts, spread_s=spread_s, window_s=window_s,
                     sleep_s=sleep_s, poll_s=poll_s, first_due=first_due.timestamp(), draws=draws,
                     publish_calls=publish_calls, max_per_container=max_per_container)


def summarize(rows: list[tuple[float, float | None]], run: NaiveRun, *, posts: int, accounts: int, spread_s: float,
              window_s: float, sleep_s: float, poll_s: float, first_due: float, draws: list[float],
              publish_calls: int, max_per_container: int) -> dict[str, Any]:
    end = run.stopped
    published = [pub - due for due, pub in rows if pub is not None]
    # Exact lateness where the post was published; a lower bound (end - scheduled_at) where it was not.
    censored = [(pub if pub is not None else end) - due for due, pub in rows if pub is not None or due <= end]
    mean_serial = sum(run.serial_s) / len(run.serial_s) if run.serial_s else None
    mean_draw = sum(draws) / len(draws) if draws else None
    first_busy = next((at for at, found in run.polls if found), None)
    out: dict[str, Any] = {
        "posts": posts, "accounts": accounts, "spread_s": spread_s, "poll_s": poll_s,
        "sleep_after_create_s": sleep_s, "window_after_first_due_s": window_s,
        "window_actual_s": round(end - first_due, 1),
        "published_in_window": len(published), "unpublished_at_end": len(censored) - len(published),
        "errors": len(run.errors), "error_examples": run.errors[:3],
        "polls": [(round(at - first_due, 1), found) for at, found in run.polls],  # (s after first due, found)
        "first_busy_poll_after_first_due_s": round(first_busy - first_due, 1) if first_busy else None,
        "published_lateness_s": {"p50": pct(published, 0.5), "max": round(max(published), 3) if published else None},
        # Lower bounds: a post still unpublished at the end is at least (end - scheduled_at) late.
        "censored_lateness_lower_bound_s": {"p50": pct(censored, 0.5), "p95": pct(censored, 0.95),
                                            "p99": pct(censored, 0.99)},
        "mean_serial_s": round(mean_serial, 3) if mean_serial else None,
        "mean_generation_draw_s": round(mean_draw, 3) if mean_draw else None,
        "publish_calls": publish_calls, "max_calls_per_container": max_per_container,
    }
    if mean_serial and mean_draw and run.polls:
        dues = [due - run.started for due, _ in rows]
        first_poll = run.polls[0][0] - run.started
        # With the few posts of a window the drawn generation times are a small sample: the projection is
        # also given with the fake's expected mean (uniform 2-10 s: 6 s) in place of the drawn one.
        expected = mean_serial - mean_draw + sum(support.GENERATION_LATENCY_S) / 2
        out["projection"] = {}
        for name, per_post in (("measured_mean", mean_serial), ("expected_generation_mean", expected)):
            late = project(dues, per_post_s=per_post, poll_s=poll_s, first_poll=first_poll)
            out["projection"][name] = {
                "per_post_s": round(per_post, 3), "total_serial_h": round(posts * per_post / 3600, 2),
                "p50_s": pct(late, 0.5), "p95_s": pct(late, 0.95), "p99_s": pct(late, 0.99)}
    return out

