"""The stage / publish / reconcile pipeline end to end: the real ``GraphClient`` (httpx) against the Graph API
fake over 127.0.0.1, on SQLite and PostgreSQL.

Every test proves "never twice" with the fake's per-container ``media_publish`` counter, and every test ends
with the fake confirming that no request carried the token in its URL.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import update

from postpilot.app import App
from postpilot.db.rows import accounts
from postpilot.domain.errors import PostpilotError
from postpilot.domain.model import LoginKind, PostStatus
from postpilot.logging import configure_logging
from postpilot.pipeline import Outcome
from postpilot.pipeline.once import run_once
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import (
    IG_USER,
    TOKEN,
    PostSpec,
    add_account,
    add_ready_post,
    age_publish_attempt,
    event_kinds,
    make_app,
    only_publish,
    post,
    publish_now,
    reconcile_stale,
    set_post,
)


def clear_throttle(app: App) -> None:
    with app.engine.begin() as conn:
        conn.execute(update(accounts).values(throttled_until=None))


def assert_published_once(app: App, state: GraphState, post_id: int, *, calls: int = 1) -> str:
    """Published, one live media, and ``media_publish`` called ``calls`` times for one container (a call
    Instagram refused with an error published nothing, but the fake still counts it)."""
    row = post(app, post_id)
    assert row.status is PostStatus.PUBLISHED, row.last_error
    assert row.published_at is not None
    assert row.last_error is None
    container, count = only_publish(state)
    assert count == calls
    assert row.container_id == container
    assert state.container_status(container) == "PUBLISHED"
    assert state.published_count(IG_USER) == 1
    return container


# --- the happy paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        PostSpec("photo", 1, caption="New roast today ☕ #coffee", alt_text="A cup of coffee on a wooden table"),
        PostSpec("carousel", 2),
        PostSpec("carousel", 5),
        PostSpec("carousel", 10),
        PostSpec("reel", 0, caption="Behind the scenes"),
    ],
    ids=["photo", "carousel2", "carousel5", "carousel10", "reel"],
)
def test_each_post_type_publishes_exactly_once(app: App, state: GraphState, account_id: int, spec: PostSpec) -> None:
    post_id = add_ready_post(app, account_id, spec)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    container_id = assert_published_once(app, state, post_id)
    row = post(app, post_id)
    media = state.media[0]
    assert row.ig_media_id == media.id
    assert row.permalink == media.permalink
    assert media.caption == spec.caption
    container = state.containers[container_id]
    assert container.caption == spec.caption
    if spec.kind == "photo":
        assert container.media_type == "IMAGE"
        assert container.alt_text == spec.alt_text
    elif spec.kind == "carousel":
        assert container.media_type == "CAROUSEL"
        assert len(container.children) == spec.images
        children = [state.containers[c] for c in container.children]
        assert [c.alt_text for c in children] == [f"item {i} alt" for i in range(spec.images)]
        assert all(c.is_carousel_item and c.caption == "" for c in children)
        assert [c.image_url for c in children] == [m.stored_url for m in app.repo.media(post_id)]
        assert [m.container_id for m in app.repo.media(post_id)] == container.children
        assert len(media.children) == spec.images
    else:
        assert container.media_type == "REELS"
        assert container.video_url == row.video_url
        assert container.cover_url == row.cover_url
        assert container.share_to_feed is True
    kinds = event_kinds(app, post_id)
    assert kinds[:3] == ["created", "prepared", "claimed"]
    assert "container_created" in kinds and "publish_attempt" in kinds
    assert kinds[-1] == "published"
    published = app.repo.events(post_id)[-1]
    assert published.from_status == "publishing" and published.to_status == "published"
    assert published.detail["media_id"] == media.id


def test_run_once_publishes_a_due_post(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id, PostSpec("carousel", 3))

    tally = run_once(app)

    assert tally.counts == {"published": 1}
    assert_published_once(app, state, post_id)


# --- quota, token, throttling, transient ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["quota_total", "error_9_2207042"])
def test_quota_exhausted_defers_then_publishes(app: App, state: GraphState, account_id: int, how: str) -> None:
    post_id = add_ready_post(app, account_id)
    if how == "quota_total":
        state.consume_quota(IG_USER, state.accounts[IG_USER].quota_total)
    else:
        state.inject_error("publish", 9, 2207042)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY
    assert row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)
    assert row.last_error is not None and "limit" in row.last_error and "waits" in row.last_error
    assert row.attempts == 0  # a full quota is not a failed attempt
    assert row.publish_attempted_at is None
    assert state.media == []
    assert not app.repo.claim_for_publish(owner=app.owner, lease_s=60, batch=5)  # held until the window frees

    # The 24 h window frees a slot; time travel past next_attempt_at.
    with state.lock:
        state.accounts[IG_USER].publish_times.clear()
    set_post(app, post_id, next_attempt_at=None)
    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    # 9/2207042 was an answer from Instagram (nothing published), so that one refused call is counted too.
    assert_published_once(app, state, post_id, calls=1 if how == "quota_total" else 2)
    assert "waiting" in event_kinds(app, post_id)


def test_expired_token_holds_the_post_and_marks_the_account(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id)
    state.expire_token(TOKEN)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY
    assert row.last_error is not None
    assert "expired" in row.last_error and "postpilot account connect brand" in row.last_error
    assert row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)
    account = app.repo.account(account_id)
    assert account is not None and account.needs_reconnect
    assert state.publish_calls == {}

    # Held: even when due again, it waits without calling Instagram.
    set_post(app, post_id, next_attempt_at=None)
    requests_before = len(state.requests)
    assert publish_now(app, post_id).outcome is Outcome.WAITING
    assert len(state.requests) == requests_before
    assert post(app, post_id).status is PostStatus.READY


@pytest.mark.parametrize("code", [4, 17, 80002])
def test_throttling_waits_and_throttles_the_account(app: App, state: GraphState, account_id: int, code: int) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_rate_limit("create", code=code, regain_minutes=7)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY
    assert row.last_error is not None and "rate limit" in row.last_error
    assert row.attempts == 0
    until = app.repo.account_throttled_until(account_id)
    assert until is not None
    wait_s = (until - datetime.now(UTC)).total_seconds()
    assert 6 * 60 < wait_s <= 7 * 60  # from X-Business-Use-Case-Usage's estimated_time_to_regain_access
    assert row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)
    assert state.publish_calls == {}

    # Once the account's throttle has passed, the post goes out once.
    clear_throttle(app)
    set_post(app, post_id, next_attempt_at=None)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert_published_once(app, state, post_id)


@pytest.mark.parametrize("code", [1, 2])
def test_transient_error_is_retried_later(app: App, state: GraphState, account_id: int, code: int) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_transient("create", code=code)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY
    assert row.attempts == 1
    assert row.last_error is not None and "temporary" in row.last_error
    assert row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)
    assert "retry_scheduled" in event_kinds(app, post_id)

    set_post(app, post_id, next_attempt_at=None)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert_published_once(app, state, post_id)


def test_object_not_visible_right_after_creation_still_succeeds(app: App, state: GraphState, account_id: int) -> None:
    state.hide_fresh_objects(2)  # the first two reads of every new container / media answer 100/33
    post_id = add_ready_post(app, account_id)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    assert_published_once(app, state, post_id)
    # The permalink read may also have hit 100/33: best effort, never a failure.
    assert post(app, post_id).ig_media_id == state.media[0].id


# --- outcome unknown ------------------------------------------------------------------------------------


def test_5xx_on_publish_after_commit_is_reconciled_as_published(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_error("publish", 2, http_status=500, commit=True)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    assert_published_once(app, state, post_id)
    row = post(app, post_id)
    assert row.ig_media_id == state.media[0].id  # recovered by caption and time
    assert any(e.kind == "published" and e.message and "recovered" in e.message for e in app.repo.events(post_id))


def test_5xx_on_publish_without_commit_settles_then_publishes_once(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_server_error("publish", status=502, html=True)

    result = publish_now(app, post_id)

    # The container still reads FINISHED, but the request might still be in flight at Meta: wait, do not
    # publish again at once.
    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.PUBLISHING
    assert row.publish_attempted_at is not None
    assert state.total_publish_calls() == 1 and state.media == []
    assert reconcile_stale(app) == []  # the lease is still held while settling

    age_publish_attempt(app, post_id)
    results = reconcile_stale(app)

    assert [r.outcome for r in results] == [Outcome.PUBLISHED]
    row = post(app, post_id)
    assert row.status is PostStatus.PUBLISHED and row.ig_media_id == state.media[0].id
    _container, count = only_publish(state)
    assert count == 2  # the failed call (nothing published) and the real one
    assert state.published_count(IG_USER) == 1


def test_slow_publish_that_commits_first_is_reconciled_once(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_slow("publish", 2.0, commit_first=True)  # publish_timeout_s is 1.0

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    assert_published_once(app, state, post_id)
    assert post(app, post_id).ig_media_id == state.media[0].id


def test_slow_publish_that_lands_after_the_timeout_is_never_repeated(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_slow("publish", 1.5, commit_first=False)  # Meta applies it only after we gave up

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING  # FINISHED right after the timeout: settle, do not publish
    assert post(app, post_id).status is PostStatus.PUBLISHING
    deadline = time.monotonic() + 5
    while not state.media and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.media, "the slow publish never landed"

    age_publish_attempt(app, post_id)
    assert [r.outcome for r in reconcile_stale(app)] == [Outcome.PUBLISHED]
    assert_published_once(app, state, post_id)
    assert post(app, post_id).ig_media_id == state.media[0].id


def test_lost_response_is_published_exactly_once(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id, PostSpec(caption="Lost but live"))
    state.inject_lost_response("publish")

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    assert_published_once(app, state, post_id)
    row = post(app, post_id)
    assert row.ig_media_id == state.media[0].id
    assert row.permalink == state.media[0].permalink


def test_lost_response_with_an_ambiguous_caption_leaves_the_media_id_empty(
    app: App, state: GraphState, account_id: int
) -> None:
    # Another post with the same caption went out moments ago (e.g. from the Instagram app): matching by
    # caption and time is ambiguous, so the media id stays empty rather than a guess.
    post_id = add_ready_post(app, account_id, PostSpec(caption="Same words"))
    other = add_ready_post(app, account_id, PostSpec(caption="Same words"))
    assert publish_now(app, other).outcome is Outcome.PUBLISHED
    state.inject_lost_response("publish")

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    row = post(app, post_id)
    assert row.status is PostStatus.PUBLISHED
    assert row.ig_media_id is None and row.permalink is None
    assert state.publish_calls[row.container_id or ""] == 1
    assert state.total_publish_calls() == 2  # one per post


def test_spam_block_on_publish_is_reconciled(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id)
    state.inject_spam_block(published=True)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.PUBLISHED, result.message
    assert_published_once(app, state, post_id)
    assert post(app, post_id).ig_media_id == state.media[0].id


def test_container_error_gets_a_new_container_then_publishes(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id)
    state.script_containers("ERROR", error_subcode=2207001)

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY and row.container_id is None
    assert row.container_attempts == 1
    assert row.last_error is not None and "could not process the media" in row.last_error
    assert "new_container" in event_kinds(app, post_id)
    first = next(iter(state.containers))

    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    container = assert_published_once(app, state, post_id)
    assert container != first
    assert state.container_status(first) == "ERROR"


# --- crashed workers -----------------------------------------------------------------------------------


def _published_elsewhere(app: App, state: GraphState, account_id: int, post_id: int) -> str:
    """A worker created the container and called media_publish, then died before recording anything."""
    account = app.repo.account(account_id)
    assert account is not None
    graph = app.graphs.graph_for(account)
    row = post(app, post_id)
    container = graph.create_image_container(IG_USER, image_url=row.image_url or "", caption=row.caption)
    graph.publish(IG_USER, container)
    past = datetime.now(UTC).replace(microsecond=0)
    set_post(
        app,
        post_id,
        status="publishing",
        container_id=container,
        publish_attempted_at=past,
        lease_owner="dead-worker",
        lease_until=datetime(2020, 1, 1, tzinfo=UTC),
    )
    return container


def test_expired_publishing_lease_is_reconciled_without_publishing_again(
    app: App, state: GraphState, account_id: int
) -> None:
    post_id = add_ready_post(app, account_id)
    container = _published_elsewhere(app, state, account_id, post_id)

    results = reconcile_stale(app)

    assert [r.outcome for r in results] == [Outcome.PUBLISHED]
    assert state.publish_calls == {container: 1}
    row = post(app, post_id)
    assert row.status is PostStatus.PUBLISHED
    assert row.ig_media_id == state.media[0].id
    assert "reconcile" in event_kinds(app, post_id)


def test_unreadable_container_ends_unconfirmed(app: App, state: GraphState, account_id: int) -> None:
    post_id = add_ready_post(app, account_id)
    container = _published_elsewhere(app, state, account_id, post_id)
    state.inject_server_error("status", status=503, count=20)

    results = reconcile_stale(app)

    assert [r.outcome for r in results] == [Outcome.UNCONFIRMED]
    row = post(app, post_id)
    assert row.status is PostStatus.UNCONFIRMED
    assert row.last_error is not None
    assert row.last_error.startswith("Unconfirmed:")
    assert f"postpilot post retry {post_id} --force" in row.last_error
    assert state.publish_calls == {container: 1}
    assert "unconfirmed" in event_kinds(app, post_id)


# --- dry run and secrets --------------------------------------------------------------------------------


def test_dry_run_account_simulates_without_any_request(app: App, state: GraphState) -> None:
    dry_token = "dry-secret-Qw7Er9Ty1Ui3Op5"
    account_id = add_account(app, name="dry", ig_user_id="17841400000000099", token=dry_token, dry_run=True)
    post_id = add_ready_post(app, account_id, PostSpec("carousel", 2, caption="Dry caption"))

    result = publish_now(app, post_id)

    assert result.outcome is Outcome.SIMULATED, result.message
    row = post(app, post_id)
    assert row.status is PostStatus.SIMULATED
    assert row.ig_media_id is not None and row.ig_media_id.startswith("dryrun-")
    assert state.requests == []
    events = [e for e in app.repo.events(post_id) if e.kind == "dry_run_requests"]
    assert len(events) == 1
    requests = events[0].detail["requests"]
    ops = [(r["method"], r["path"].split("/", 2)[-1]) for r in requests]
    ig = "17841400000000099"
    assert ops[:2] == [("POST", f"{ig}/media"), ("POST", f"{ig}/media")]
    assert ("POST", f"{ig}/media_publish") in ops
    assert ("GET", f"{ig}/content_publishing_limit") in ops
    children = [r["form"] for r in requests[:2]]
    assert [c["image_url"] for c in children] == [m.stored_url for m in app.repo.media(post_id)]
    assert all(c["is_carousel_item"] == "true" for c in children)
    parent = next(r["form"] for r in requests if r["form"].get("media_type") == "CAROUSEL")
    assert parent["caption"] == "Dry caption"
    blob = json.dumps(events[0].detail)
    assert dry_token not in blob and "access_token" not in blob
    assert all(r["headers"].get("Authorization") == "Bearer <redacted>" for r in requests)


@pytest.mark.parametrize(
    "login,host",
    [(LoginKind.FACEBOOK, "https://graph.facebook.com"), (LoginKind.INSTAGRAM, "https://graph.instagram.com")],
)
def test_dry_run_records_the_host_and_version_a_real_run_would_use(
    db_url: str, tmp_path: Path, login: LoginKind, host: str
) -> None:
    # Real hosts: a dry run never sends anything, so nothing goes out to them.
    dry_app = make_app(
        db_url,
        tmp_path,
        "https://graph.facebook.com",
        instagram_graph_url="https://graph.instagram.com",
        graph_version="v24.0",
    )
    try:
        account_id = add_account(dry_app, name="dry", token=None, dry_run=True, login_kind=login)
        post_id = add_ready_post(dry_app, account_id)

        assert publish_now(dry_app, post_id).outcome is Outcome.SIMULATED

        (event,) = [e for e in dry_app.repo.events(post_id) if e.kind == "dry_run_requests"]
        urls = [r["url"] for r in event.detail["requests"]]
        assert urls and all(u.startswith(f"{host}/v24.0/") for u in urls), urls
    finally:
        dry_app.close()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    httpx_level = logging.getLogger("httpx").level
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # request lines show every URL sent
    yield stream
    structlog.reset_defaults()
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    logging.getLogger("httpx").setLevel(httpx_level)


def test_token_never_appears_in_logs_errors_or_urls(
    app: App, state: GraphState, account_id: int, log_stream: io.StringIO
) -> None:
    seen: list[str] = []
    faults = [
        lambda: state.inject_transient("create", code=1),
        lambda: state.inject_rate_limit("status", code=80002, regain_minutes=1),
        lambda: state.inject_lost_response("publish"),
        lambda: state.inject_server_error("publish", status=500),
        lambda: state.inject_spam_block(published=True),
        lambda: state.inject_token_expired("create"),
    ]
    for inject in faults:
        post_id = add_ready_post(app, account_id)
        inject()
        result = publish_now(app, post_id)
        seen.append(str(result.message))
        if post(app, post_id).status is PostStatus.PUBLISHING:  # settling after a 5xx: finish it
            age_publish_attempt(app, post_id)
            seen.extend(str(r.message) for r in reconcile_stale(app))
        # Error messages as stored and shown: events (messages and details) and last_error.
        seen.extend(str(e.message) + json.dumps(e.detail) for e in app.repo.events(post_id))
        seen.append(str(post(app, post_id).last_error))
        clear_throttle(app)  # let the next case reach Instagram again

    # The client's own exceptions, with their causes and tracebacks, as a crash report would show them: a
    # dropped connection (an httpx cause) and, since the token has expired by now, Meta's 190 envelope.
    account = app.repo.account(account_id)
    assert account is not None
    graph = app.graphs.graph_for(account)
    state.inject_lost_response("create")
    for _ in range(2):
        with pytest.raises(PostpilotError) as info:
            graph.create_image_container(IG_USER, image_url="https://media.example.test/x.jpg")
        seen.append("".join(traceback.format_exception(info.value)))
    assert "RemoteProtocolError" in seen[-2] and "190/463" in seen[-1]

    logged = log_stream.getvalue()
    assert "HTTP Request" in logged  # httpx really logged its URLs
    assert TOKEN not in logged
    for text in seen:
        assert TOKEN not in text
    assert state.token_in_url_count == 0
    assert any(r.token == TOKEN for r in state.requests)  # it did travel, in the header
    assert (app.repo.account(account_id) or pytest.fail("no account")).needs_reconnect


# --- a real crash --------------------------------------------------------------------------------------

_CRASH_SCRIPT = """
import sys
from postpilot.app import build_app
from postpilot.config import Settings

app = build_app(Settings(_env_file=None), owner="doomed-worker")
post_id = int(sys.argv[1])
(post,) = app.repo.claim_for_publish(owner=app.owner, lease_s=60, batch=1, post_id=post_id)
print("CLAIMED", flush=True)
app.pipeline.publish(post)
print("RETURNED", flush=True)
"""


def test_sigkill_between_media_publish_and_commit(
    app: App, state: GraphState, account_id: int, tmp_path: Path, server: FakeServer[GraphState]
) -> None:
    post_id = add_ready_post(app, account_id, PostSpec(caption="Killed mid-publish"))
    # The fake publishes, then holds the answer: the worker is killed while waiting for it.
    state.inject_slow("publish", 3.0, commit_first=True)
    script = tmp_path / "crash_worker.py"
    script.write_text(textwrap.dedent(_CRASH_SCRIPT), encoding="utf-8")
    s = app.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPILOT_")}
    env.update(
        {
            "POSTPILOT_DATABASE_URL": s.resolved_database_url,
            "POSTPILOT_STATE_DIR": str(tmp_path),
            "POSTPILOT_SECRET_KEY": s.secret_key.get_secret_value() if s.secret_key else "",
            "POSTPILOT_GRAPH_URL": server.url,
            "POSTPILOT_CONTAINER_POLL_S": "0.05",
            "POSTPILOT_PUBLISH_TIMEOUT_S": "30",
            "POSTPILOT_LOG_LEVEL": "warning",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), str(post_id)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not state.media and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert state.media, f"the worker never published: {proc.poll()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert b"RETURNED" not in out, err.decode()

    row = post(app, post_id)
    assert row.status is PostStatus.PUBLISHING  # the worker died before recording the outcome
    assert row.publish_attempted_at is not None and row.ig_media_id is None
    # Its lease expires (simulated rather than waited for); any worker then reconciles.
    set_post(app, post_id, lease_until=datetime(2020, 1, 1, tzinfo=UTC))
    results = reconcile_stale(app)

    assert [r.outcome for r in results] == [Outcome.PUBLISHED]
    assert_published_once(app, state, post_id)
    assert post(app, post_id).ig_media_id == state.media[0].id


def test_a_post_whose_outcome_is_unknown_never_shows_as_ready(app: App, state: GraphState, account_id: int) -> None:
    """A lost publish answer, then the account is rate-limited before the check: the post stays publishing,
    says it is being checked and when, and media_publish is not called again."""
    post_id = add_ready_post(app, account_id)
    claimed = app.repo.claim_for_publish(owner=app.owner, lease_s=60, batch=1, post_id=post_id)
    assert [p.id for p in claimed] == [post_id]
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    set_post(app, post_id, container_id="17900000000000099", publish_attempted_at=past, lease_owner=None,
             lease_until=past)
    app.repo.set_account_throttled(account_id, 600, "Instagram's rate limit was reached")

    [result] = reconcile_stale(app)

    assert result.outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.PUBLISHING
    assert row.last_error is not None
    assert row.last_error.startswith("being checked: an earlier publish may have gone through; looking again at ")
    assert row.lease_until is not None and row.lease_until > datetime.now(UTC)
    assert state.publish_calls == {}
    assert reconcile_stale(app) == []  # nobody takes it before the stated time


@pytest.mark.parametrize("status", ["ready", "publishing"])
def test_a_status_set_by_hand_fails_with_a_clear_message_at_once(
    app: App, state: GraphState, account_id: int, status: str
) -> None:
    post_id = app.repo.add_post(
        {"account_id": account_id, "post_type": "photo", "prompt": "p", "scheduled_at": datetime.now(UTC)},
        actor="test",
    )
    set_post(app, post_id, status=status)  # UPDATE scheduled_posts SET status = '…' by a marketer

    results = reconcile_stale(app) if status == "publishing" else [publish_now(app, post_id)]

    assert [r.outcome for r in results] == [Outcome.FAILED]
    row = post(app, post_id)
    assert row.status is PostStatus.FAILED and row.attempts == 1
    assert row.last_error is not None and "has no prepared media" in row.last_error
    assert f"postpilot post retry {post_id}" in row.last_error
    assert state.publish_calls == {} and not state.containers
