"""Issue 15, the review page through Flask's test client, on SQLite and PostgreSQL: the login (Argon2, one
message for a wrong name or password, lockout), the session cookie, CSRF on every POST, viewers refused,
each action the same repository or pipeline operation as the CLI (same messages, the user's name in the
history), images only for logged-in users with thumbnails made once, and no secret on any page.

Posts are prepared by the real prepare step (card renderer, local store); publishing goes to the Graph fake.
"""

from __future__ import annotations

import html
import http.client
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import text

from postpilot.app import App
from postpilot.domain.errors import ConfigError
from postpilot.domain.model import LoginKind, PostStatus
from postpilot.domain.users import MAX_FAILED_LOGINS
from postpilot.pipeline import Outcome
from postpilot.review.auth import WRONG
from postpilot.review.factory import create_review_app
from postpilot.review.images import ImageFiles
from postpilot.review.process import ReviewProcess
from postpilot.review.server import ReviewServer
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState
from tests.integration.pipeline_helpers import TOKEN, make_app, post, set_post
from tests.integration.prepare_helpers import MediaHost
from tests.review_helpers import (
    REVIEWER,
    REVIEWER_PASSWORD,
    VIEWER,
    VIEWER_PASSWORD,
    add_users,
    csrf_token,
    flashes,
    login_error,
    refusal,
)

PUBLIC = "https://media.example.test/postpilot"


@pytest.fixture
def app(db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    # Loopback allowed for marketers' URLs: the media host stands in for a marketer's image host.
    application = make_app(db_url, tmp_path, server.url, public_media_url=PUBLIC, image_provider="card",
                           media_store="local", fetch_allow_networks="127.0.0.0/8")
    add_users(application.repo)
    yield application
    application.close()


@pytest.fixture
def web(app: App) -> Flask:
    return create_review_app(app)


@pytest.fixture
def client(web: Flask) -> FlaskClient:
    return web.test_client()


def login(client: FlaskClient, name: str = REVIEWER, password: str = REVIEWER_PASSWORD) -> Any:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "name": name, "password": password, "next": "/"})


def insert(app: App, account_id: int, **extra: object) -> int:
    """A post written with plain SQL, as a marketer would."""
    columns = {
        "account_id": account_id,
        "caption": "Lighthouse week #sea @harbour",
        "prompt": "a lighthouse at dawn",
        "scheduled_at": datetime.now(UTC) + timedelta(hours=3),
        **extra,
    }
    names, values = ", ".join(columns), ", ".join(f":{k}" for k in columns)
    with app.engine.begin() as conn:
        statement = text(f"INSERT INTO scheduled_posts ({names}) VALUES ({values}) RETURNING id")
        return int(conn.execute(statement, columns).scalar_one())


def fetch(client: FlaskClient, path: str) -> tuple[int, bytes, Any]:
    """GET a file the page serves; the response is closed (it streams a file)."""
    with client.get(path) as response:
        return response.status_code, response.get_data(), response.headers


def act(client: FlaskClient, post_id: int, action: str, **form: str) -> Any:
    """Press an action's button: the token comes from the post page, as a browser's form carries it."""
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    return client.post(
        f"/posts/{post_id}/{action}", data={"csrf_token": csrf_token(page), **form}, follow_redirects=True
    )


def events_by(app: App, post_id: int) -> list[tuple[str, str | None]]:
    return [(e.kind, e.actor) for e in app.repo.events(post_id)]


# --------------------------------------------------------------------------------------------- the door
def test_every_page_and_image_wants_a_login(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id)
    pages = ("/", "/week", "/grid", f"/posts/{post_id}", "/media/1/thumb", "/media/1/full",
             f"/posts/{post_id}/cover/thumb")
    for path in pages:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    followed = client.get(f"/posts/{post_id}", follow_redirects=True).get_data(as_text=True)
    assert ("info", "Log in to see the review page.") in flashes(followed)
    refused = client.post(f"/posts/{post_id}/cancel", data={})
    assert refused.status_code == 401
    assert "You are not logged in" in refusal(refused.get_data(as_text=True))
    assert post(app, post_id).status is PostStatus.SCHEDULED


def test_a_wrong_password_and_an_unknown_name_get_the_same_words(client: FlaskClient) -> None:
    wrong = login(client, REVIEWER, "not-the-password")
    unknown = login(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert login_error(wrong.get_data(as_text=True)) == login_error(unknown.get_data(as_text=True)) == WRONG


def test_repeated_wrong_passwords_lock_the_name_until_a_new_password(app: App, client: FlaskClient) -> None:
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert login(client, REVIEWER, "guess-guess-guess").status_code == 401
    locked = login(client, REVIEWER, "guess-guess-guess")
    assert locked.status_code == 429
    assert "logging in is locked for 15 minutes" in login_error(locked.get_data(as_text=True))
    # While locked even the right password is refused (the form is no guessing machine).
    assert login(client).status_code == 429
    from postpilot.review.passwords import hash_password

    app.repo.set_review_user_password(REVIEWER, hash_password("a-brand-new-password"))  # postpilot user password
    assert login(client, REVIEWER, "a-brand-new-password").status_code == 302
    user = app.repo.require_review_user(REVIEWER)
    assert user.failed_logins == 0 and user.locked_until is None and user.last_login_at is not None


@pytest.fixture
def variant(app: App) -> Iterator[Any]:
    """The same database behind a page built with other settings (closed after the test)."""
    made: list[App] = []

    def build(**update: Any) -> Flask:
        made.append(App(settings=app.settings.model_copy(update=update)))
        return create_review_app(made[-1])

    yield build
    for other in made:
        other.close()


def test_the_session_cookie_is_signed_http_only_and_same_site(client: FlaskClient, variant: Any) -> None:
    response = login(client)
    assert response.status_code == 302
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("postpilot_review="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert REVIEWER not in cookie and REVIEWER_PASSWORD not in cookie
    secure_client = variant(web_secure_cookies=True).test_client()
    cookie = next(v for v in login(secure_client).headers.getlist("Set-Cookie") if "postpilot_review=" in v)
    assert "Secure" in cookie
    # A cookie signed with another key is no login at all.
    other_client = variant(secret_key=SecretStr("another-key")).test_client()
    other_client.set_cookie("postpilot_review", cookie.split(";")[0].split("=", 1)[1])
    assert other_client.get("/").status_code == 302


def test_a_password_change_or_removal_ends_open_sessions(app: App, client: FlaskClient) -> None:
    login(client)
    assert client.get("/").status_code == 200
    from postpilot.review.passwords import hash_password

    app.repo.set_review_user_password(REVIEWER, hash_password("changed-elsewhere-1"))
    assert client.get("/").status_code == 302
    login(client, REVIEWER, "changed-elsewhere-1")
    app.repo.remove_review_user(REVIEWER)
    assert client.get("/").status_code == 302


def test_the_page_refuses_to_start_without_the_secret_key(variant: Any) -> None:
    with pytest.raises(ConfigError, match="needs POSTPILOT_SECRET_KEY: it signs the login cookie"):
        variant(secret_key=None)


# --------------------------------------------------------------------------------------------- CSRF, roles
def test_a_post_without_the_pages_token_is_refused_in_words(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id)
    login(client)
    for form in ({}, {"csrf_token": "forged-token-from-another-site"}):
        refused = client.post(f"/posts/{post_id}/cancel", data=form)
        assert refused.status_code == 400
        words = refusal(refused.get_data(as_text=True))
        assert words.startswith("This form was refused and nothing was changed") and "CSRF" in words
        assert "Traceback" not in refused.get_data(as_text=True)
    assert post(app, post_id).status is PostStatus.SCHEDULED
    # The login form is protected too.
    assert client.post("/login", data={"name": REVIEWER, "password": REVIEWER_PASSWORD}).status_code == 400


def test_a_viewer_looks_but_every_action_is_refused(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id, requires_approval=True)
    login(client, VIEWER, VIEWER_PASSWORD)
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert "You are a viewer" in page and 'id="do-cancel"' not in page
    token = csrf_token(page)
    for action in ("approve", "reject", "regenerate", "retry", "cancel", "prepare"):
        refused = client.post(f"/posts/{post_id}/{action}", data={"csrf_token": token, "reason": "no"})
        assert refused.status_code == 403, action
        assert refusal(refused.get_data(as_text=True)).startswith(f"You are logged in as {VIEWER}, a viewer")
    after = post(app, post_id)
    assert after.status is PostStatus.SCHEDULED and after.approved_at is None
    assert events_by(app, post_id) == []  # a plain INSERT has no history yet, and nothing was added


# --------------------------------------------------------------------------------------------- actions
def test_prepare_now_then_approve_publishes_at_its_time_with_the_reviewer_in_the_history(
    app: App, client: FlaskClient, state: GraphState, account_id: int
) -> None:
    post_id = insert(app, account_id, requires_approval=True)
    login(client)
    prepared = act(client, post_id, "prepare")
    expected = f"post {post_id}: ready: waiting for approval: run postpilot post approve {post_id} (or post reject"
    assert flashes(prepared.get_data(as_text=True))[0][1].startswith(expected)
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert "Needs you: awaiting approval" in page and 'id="do-approve"' in page
    assert f"/{app.settings.graph_version}/{'17841400000000001'}/media" in page  # the requests publishing makes
    approved = act(client, post_id, "approve")
    assert ("ok", f"post {post_id} approved by web:{REVIEWER}; it is ready") in flashes(approved.get_data(as_text=True))
    assert post(app, post_id).approved_by == f"web:{REVIEWER}"
    assert ("prepare_requested", f"web:{REVIEWER}") in events_by(app, post_id)
    assert ("approved", f"web:{REVIEWER}") in events_by(app, post_id)
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET scheduled_at = :t WHERE id = :i"),
                     {"t": datetime.now(UTC) - timedelta(seconds=1), "i": post_id})
    claimed = app.repo.claim_for_publish(owner=app.owner, lease_s=60, batch=5)
    assert [app.pipeline.publish(p).outcome for p in claimed] == [Outcome.PUBLISHED]
    assert state.total_publish_calls() == 1
    history = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert "Published on Instagram" in history and f"(web:{REVIEWER})" in history


def test_reject_wants_a_reason_and_then_cancels_with_it(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id)
    login(client)
    empty = act(client, post_id, "reject", reason="  ")
    assert ("error", "the reason is empty: say why, so the author knows what to change") in flashes(
        empty.get_data(as_text=True)
    )
    act(client, post_id, "reject", reason="wrong product in the picture")
    rejected = post(app, post_id)
    assert rejected.status is PostStatus.CANCELLED
    assert rejected.last_error == f"rejected by web:{REVIEWER}: wrong product in the picture"
    assert ("rejected", f"web:{REVIEWER}") in events_by(app, post_id)


def test_regenerate_with_a_new_prompt_gives_new_images_and_new_thumbnails(
    app: App, web: Flask, client: FlaskClient, account_id: int
) -> None:
    post_id = insert(app, account_id)
    login(client)
    act(client, post_id, "prepare")
    (old,) = app.repo.media(post_id)
    status, old_thumb, _ = fetch(client, f"/media/{old.id}/thumb")
    assert status == 200
    regenerated = act(client, post_id, "regenerate", prompt="a lighthouse at night")
    assert (
        "ok",
        f"post {post_id} is scheduled: new images are made at its next preparation (or now, with Prepare now)",
    ) in flashes(regenerated.get_data(as_text=True))
    act(client, post_id, "prepare")
    (new,) = app.repo.media(post_id)
    assert new.checksum != old.checksum and new.prompt == "a lighthouse at night"
    # SQLite may give the new row the old id: the thumbnail is keyed by the image's checksum too.
    status, new_thumb, _ = fetch(client, f"/media/{new.id}/thumb")
    assert status == 200 and new_thumb != old_thumb
    assert ("regenerate", f"web:{REVIEWER}") in events_by(app, post_id)


def test_retry_and_cancel_say_what_the_cli_says(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id)
    login(client)
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'unconfirmed', last_error = 'lost' WHERE id = :i"),
                     {"i": post_id})
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert "Instagram may already show it" in page and 'id="force"' in page
    refused = act(client, post_id, "retry")
    words = (
        f"post {post_id} is unconfirmed: Instagram may already show it. Check the account on Instagram; if the "
        f"post is not there, run: postpilot post retry {post_id} --force"
    )
    assert ("error", words) in flashes(refused.get_data(as_text=True))
    act(client, post_id, "retry", force="yes")
    assert post(app, post_id).status is PostStatus.SCHEDULED
    assert ("retry", f"web:{REVIEWER}") in events_by(app, post_id)
    act(client, post_id, "cancel")
    assert post(app, post_id).status is PostStatus.CANCELLED
    assert ("cancelled", f"web:{REVIEWER}") in events_by(app, post_id)
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'published' WHERE id = :i"), {"i": post_id})
    published = act(client, post_id, "cancel")
    assert ("error", f"post {post_id} is already published; delete it on Instagram instead") in flashes(
        published.get_data(as_text=True)
    )
    missing = client.post("/posts/999/cancel", data={"csrf_token": csrf_token(page)}, follow_redirects=True)
    assert ("error", "no post with id 999") in flashes(missing.get_data(as_text=True))


# --------------------------------------------------------------------------------------------- what it shows
def test_the_queue_lists_what_needs_people_first_and_groups_days_in_the_accounts_zone(
    app: App, client: FlaskClient, account_id: int
) -> None:
    app.repo.set_account_time_zone(account_id, "Asia/Tokyo")
    tokyo_midnight = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    # 00:30 the day after tomorrow in Tokyo: still the day before in UTC.
    when = (tokyo_midnight + timedelta(days=2)).replace(hour=0, minute=30, second=0, microsecond=0)
    later = insert(app, account_id, scheduled_at=when.astimezone(UTC), caption="Night post #late")
    failed = insert(app, account_id, scheduled_at=datetime.now(UTC) + timedelta(hours=5))
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'failed', last_error = 'the image was refused' "
                          "WHERE id = :i"), {"i": failed})
    login(client)
    page = client.get("/").get_data(as_text=True)
    needs = page.split('id="needs-you"', 1)[1].split('class="day"', 1)[0]
    assert f'id="needs-{failed}"' in needs and "Needs you: failed" in needs and f'-{later}"' not in needs
    tokyo_day = when.date().isoformat()
    assert f'id="post-{later}"' in page.split(f'id="day-{tokyo_day}"', 1)[1].split('class="day"', 1)[0]
    assert "times in Asia/Tokyo" in page
    assert '<span class="tag">#late</span>' in page
    utc_page = client.get("/?tz=UTC").get_data(as_text=True)
    utc_day = when.astimezone(UTC).date().isoformat()
    assert f'id="post-{later}"' in utc_page.split(f'id="day-{utc_day}"', 1)[1].split('class="day"', 1)[0]
    filtered = client.get("/?status=failed").get_data(as_text=True)
    assert f'id="post-{later}"' not in filtered and f'id="post-{failed}"' in filtered
    assert client.get("/week").status_code == 200 and client.get("/grid?account=brand").status_code == 200


def test_thumbnails_are_made_once_and_kept_on_disk(app: App, web: Flask, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id, post_type="carousel", image_count=2, aspect="portrait")
    login(client)
    act(client, post_id, "prepare")
    items = app.repo.media(post_id)
    assert len(items) == 2
    files: ImageFiles = web.extensions["postpilot.images"]
    for _ in range(3):
        page = client.get("/").get_data(as_text=True)
        for m in items:
            assert f"/media/{m.id}/thumb" in page
            status, data, headers = fetch(client, f"/media/{m.id}/thumb")
            assert status == 200 and headers["Content-Type"] == "image/jpeg"
            assert headers["Cache-Control"] == "private, max-age=3600"
            with Image.open(io.BytesIO(data)) as thumb:
                assert max(thumb.size) <= 360 and thumb.size[1] > thumb.size[0]  # portrait, made smaller
    assert files.thumbnails_made == 2
    assert len(list((app.settings.state_dir / "review-cache" / "thumbs").glob("*.jpg"))) == 2
    _, full, _ = fetch(client, f"/media/{items[0].id}/full")
    with Image.open(io.BytesIO(full)) as image:
        assert image.size == (1080, 1350)


def test_cloudinary_images_are_fetched_once_and_served_from_the_cache(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState]
) -> None:
    import cloudinary.uploader

    from tests.fakes.cloudinary_fake import CloudinaryFake

    with CloudinaryFake() as cloud:
        # The fake's delivery host is this machine: allowed here, as an intranet store would be allowed.
        cloud_app = make_app(db_url, tmp_path, server.url, image_provider="card", media_store="cloudinary",
                             cloudinary_url=cloud.cloudinary_url(), fetch_allow_networks="127.0.0.0/8")
        try:
            add_users(cloud_app.repo)
            account = cloud_app.repo.create_account(name="shop", ig_user_id="17841400000000009",
                                                    login_kind=LoginKind.FACEBOOK, dry_run=True, token_encrypted=None)
            post_id = insert(cloud_app, account)
            web = create_review_app(cloud_app)
            client = web.test_client()
            login(client)
            act(client, post_id, "prepare")
            (item,) = cloud_app.repo.media(post_id)
            assert item.stored_url and item.stored_url.startswith(cloud.url)  # Cloudinary's delivery URL
            status, first, _ = fetch(client, f"/media/{item.id}/thumb")
            assert status == 200
            cloud.state.assets.clear()  # gone from the store: what the page shows now comes from its cache
            again, second, _ = fetch(client, f"/media/{item.id}/thumb")
            assert again == 200 and second == first
            status, full, _ = fetch(client, f"/media/{item.id}/full")
            with Image.open(io.BytesIO(full)) as image:
                assert status == 200 and image.size == (1080, 1080)
        finally:
            cloud_app.close()
            cloudinary.uploader._http.clear()  # the SDK's process-wide pool: no socket outlives the fake


def test_only_files_of_the_media_directory_are_served(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id)
    login(client)
    act(client, post_id, "prepare")
    (item,) = app.repo.media(post_id)
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE post_media SET stored_url = 'file:///etc/passwd' WHERE id = :i"), {"i": item.id})
    assert fetch(client, f"/media/{item.id}/full")[0] == 404
    assert fetch(client, f"/media/{item.id}/thumb")[0] == 404


def test_no_secret_reaches_a_page(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id, image_url="https://user:hunter2@images.example.test/a.jpg?sig=s3cr3t")
    secrets = [
        TOKEN,
        app.settings.secret_key.get_secret_value() if app.settings.secret_key else "",
        REVIEWER_PASSWORD,
        app.repo.require_review_user(REVIEWER).password_hash,
        app.repo.account_token_encrypted(account_id) or "",
        "hunter2",
        "s3cr3t",
    ]
    pages = [client.get("/login").get_data(as_text=True)]
    login(client)
    pages += [client.get(p).get_data(as_text=True) for p in ("/", "/week", "/grid", f"/posts/{post_id}")]
    assert "images.example.test/a.jpg?…" in pages[-1]  # the URL is shown, its credentials and query are not
    for page in pages:
        for secret in secrets:
            assert secret and secret not in page


# --------------------------------------------------------------------------------------------- the server
def test_the_server_thread_serves_the_page_and_stops(app: App) -> None:
    server = ReviewServer(create_review_app(app), host="127.0.0.1", port=0)
    server.start()
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as redirected:
            opener.open(server.url + "/", timeout=10)
        assert redirected.value.code == 302 and "/login" in redirected.value.headers["Location"]
        redirected.value.close()
        with opener.open(server.url + "/login", timeout=10) as resp:
            assert resp.status == 200 and b"Log in" in resp.read()
        url = server.url
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/login", timeout=2)


def test_behind_a_tls_proxy_the_forwarded_scheme_is_trusted(variant: Any) -> None:
    """With POSTPILOT_WEB_SECURE_COOKIES the proxy's X-Forwarded-Proto counts: the page knows it is HTTPS, so
    the cookie is Secure and a form must come from this site (the CSRF check's referrer rule for HTTPS)."""
    server = ReviewServer(variant(web_secure_cookies=True), host="127.0.0.1", port=0, behind_proxy=True)
    server.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        https = {"X-Forwarded-Proto": "https"}
        conn.request("GET", "/login", headers=https)
        page = conn.getresponse()
        cookie = page.getheader("Set-Cookie") or ""
        token = csrf_token(page.read().decode())
        assert "Secure" in cookie
        form = urllib.parse.urlencode({"csrf_token": token, "name": REVIEWER, "password": REVIEWER_PASSWORD})
        headers = {**https, "Cookie": cookie.split(";")[0], "Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", "/login", body=form, headers=headers)
        refused = conn.getresponse()
        assert refused.status == 400 and "referrer" in refusal(refused.read().decode()).lower()
        origin = f"https://127.0.0.1:{server.port}/login"
        conn.request("POST", "/login", body=form, headers={**headers, "Host": f"127.0.0.1:{server.port}",
                                                           "Referer": origin})
        accepted = conn.getresponse()
        accepted.read()
        assert accepted.status == 302
        conn.close()
    finally:
        server.stop()


def test_the_daemon_runs_the_page_in_a_process_of_its_own(app: App) -> None:
    """``App.review_server()`` (what ``postpilot run`` starts): a spawned child with the same Settings."""
    listen = app.settings.model_copy(update={"web_listen": "127.0.0.1:0"})
    page = App(settings=listen).review_server()
    assert isinstance(page, ReviewProcess)
    page.start()
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(page.url + "/login", timeout=10) as resp:
            assert resp.status == 200 and b"Log in" in resp.read()
        # The same port again: the second child cannot listen, and says so in words.
        taken = ReviewProcess(listen, host="127.0.0.1", port=int(page.url.rsplit(":", 1)[1]))
        with pytest.raises(ConfigError, match=r"the review page cannot listen on 127\.0\.0\.1:\d+"):
            taken.start()
    finally:
        page.stop()
    no_key = ReviewProcess(listen.model_copy(update={"secret_key": None}), host="127.0.0.1", port=0)
    with pytest.raises(ConfigError, match="needs POSTPILOT_SECRET_KEY"):
        no_key.start()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_an_account_that_needs_reconnecting_is_listed_first(app: App, client: FlaskClient, account_id: int) -> None:
    post_id = insert(app, account_id)
    app.repo.mark_account_needs_reconnect(account_id, "the token was revoked")
    login(client)
    needs = client.get("/").get_data(as_text=True).split('id="needs-you"', 1)[1].split('class="day"', 1)[0]
    assert f'id="needs-{post_id}"' in needs and "Needs you: account needs reconnecting" in needs



# --------------------------------------------------------------------------------------------- issue-16 kinds
@pytest.fixture
def media_host() -> Iterator[MediaHost]:
    """The marketer's image host (carousel images, a reel's cover)."""
    with MediaHost() as host:
        yield host


def add(app: App, account_id: int, **values: object) -> int:
    """A post added as the CLI and the import add it (JSON columns as lists and objects)."""
    row = {"account_id": account_id, "caption": "", "scheduled_at": datetime.now(UTC) + timedelta(hours=3), **values}
    return app.repo.add_post(row, actor="test")


def prepared(client: FlaskClient, app: App, post_id: int) -> None:
    act(client, post_id, "prepare")
    assert post(app, post_id).status is PostStatus.READY, post(app, post_id).last_error


def words_of(fragment: str) -> str:
    """What a person reads in a piece of the page: the text without tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def card_of(page: str, post_id: int, prefix: str = "post") -> str:
    start = page.index(f'id="{prefix}-{post_id}"')
    return page[start : page.index("</article>", start)]


def section_of(page: str, section_id: str) -> str:
    return page.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def status_line(page: str) -> str:
    found = re.search(r'id="status">(.*?)</p>', page, re.S)
    return words_of(found.group(1)) if found else ""


_ROW = re.compile(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", re.S)


def field_table(page: str) -> dict[str, str]:
    """The post page's "Every field" table, as the marketer reads it."""
    table = page.split('<section class="fields">', 1)[1].split("</section>", 1)[0]
    return {html.unescape(name): html.unescape(value) for name, value in _ROW.findall(table)}


def test_stories_are_9_by_16_and_a_video_story_says_it_is_a_video(
    app: App, client: FlaskClient, account_id: int
) -> None:
    image_story = add(app, account_id, post_type="story", prompt="croissants fresh from the oven")
    video_story = add(app, account_id, post_type="story", video_url="https://cdn.example.test/clip.mp4?sig=s3cr3t")
    login(client)
    prepared(client, app, image_story)
    prepared(client, app, video_story)
    (made,) = app.repo.media(image_story)
    assert (made.width, made.height) == (1080, 1920)

    page = client.get("/").get_data(as_text=True)
    image_card, video_card = card_of(page, image_story), card_of(page, video_story)
    assert "story · 9:16 · image" in words_of(image_card) and f"/media/{made.id}/thumb" in image_card
    assert "story · 9:16 · video" in words_of(video_card) and "video (story)" in words_of(video_card)
    assert "Ready: checked, published at its time" in words_of(video_card)
    for words in (words_of(image_card), words_of(video_card)):
        assert "square" not in words
    assert "not made yet" not in words_of(video_card) and "images made" not in words_of(video_card)

    shown = client.get(f"/posts/{video_story}").get_data(as_text=True)
    media = words_of(section_of(shown, "images"))
    assert "video (story)" in media and "video (reel)" not in media
    assert "cdn.example.test/clip.mp4?…" in media and "s3cr3t" not in shown
    fields = field_table(shown)
    assert fields["type"] == "story" and fields["aspect"] == "9:16 (every story fills the phone's screen)"
    assert fields["video_url"] == "https://cdn.example.test/clip.mp4?…"

    week = client.get(f"/week?start={post(app, video_story).scheduled_at.date()}").get_data(as_text=True)
    slot = week.split(f'href="/posts/{video_story}"', 1)[1].split("</a>", 1)[0]
    assert "video (story)" in words_of(slot) and "story · 9:16 · video" in words_of(slot)


def test_a_reel_shows_its_cover_and_says_whether_it_is_in_the_feed(
    app: App, web: Flask, client: FlaskClient, account_id: int, media_host: MediaHost
) -> None:
    with_cover = add(app, account_id, post_type="reel", caption="Behind the scenes",
                     video_url="https://cdn.example.test/bts.mp4", cover_url=f"{media_host.url}/good-cover.png")
    off_feed = add(app, account_id, post_type="reel", caption="Shop tour",
                   video_url="https://cdn.example.test/tour.mp4", share_to_feed=False)
    login(client)
    page = client.get("/").get_data(as_text=True)
    cover_card, off_card = card_of(page, with_cover), card_of(page, off_feed)
    assert f"/posts/{with_cover}/cover/thumb" in cover_card and 'alt="the reel\'s cover"' in html.unescape(cover_card)
    assert "reel" in words_of(cover_card) and "not in the feed" not in words_of(cover_card)
    assert "reel · not in the feed (Reels tab only)" in words_of(off_card) and "video (reel)" in words_of(off_card)
    assert "square" not in words_of(cover_card) + words_of(off_card)

    status, data, headers = fetch(client, f"/posts/{with_cover}/cover/thumb")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(data)) as thumb:
        assert max(thumb.size) <= 360 and thumb.size[0] > thumb.size[1]  # the host's 1400×1000 image, smaller
    hits = len(media_host.hits)
    assert fetch(client, f"/posts/{with_cover}/cover/thumb")[0] == 200
    assert fetch(client, f"/posts/{with_cover}/cover/full")[0] == 200
    assert len(media_host.hits) == hits  # fetched once, then served from the page's cache
    assert fetch(client, f"/posts/{off_feed}/cover/thumb")[0] == 404  # no cover_url

    prepared(client, app, with_cover)
    prepared(client, app, off_feed)
    shown = client.get(f"/posts/{with_cover}").get_data(as_text=True)
    media = section_of(shown, "images")
    assert f"/posts/{with_cover}/cover/full" in media and "video (reel)" in words_of(media)
    assert status_line(shown) == "Ready: checked, published at its time"
    fields = field_table(shown)
    assert fields["share_to_feed"] == "yes (not given: a reel is also in the feed and on the profile grid)"
    assert fields["aspect"] == "the video's own (aspect is not used for a reel)"
    off = field_table(client.get(f"/posts/{off_feed}").get_data(as_text=True))
    assert off["share_to_feed"] == "no: only on the Reels tab, not in the feed or on the profile grid"


def test_a_carousel_with_a_video_slide_and_object_items(
    app: App, client: FlaskClient, account_id: int, media_host: MediaHost
) -> None:
    slides = [{"url": f"{media_host.url}/good-1.png", "alt_text": "the counter"},
              {"url": "https://cdn.example.test/making-of.mp4?sig=s3cr3t", "type": "video"},
              f"{media_host.url}/good-2.png"]
    post_id = add(app, account_id, post_type="carousel", caption="Three looks", media_urls=slides,
                  alt_text="our shop")
    login(client)
    before = words_of(card_of(client.get("/").get_data(as_text=True), post_id))
    assert "carousel · square · 3 slides: 2 images, 1 video" in before
    assert "image 1 not fetched yet" in before and "video (slide 2 of 3)" in before

    prepared(client, app, post_id)
    items = app.repo.media(post_id)
    assert [m.kind for m in items] == ["image", "video", "image"]
    one = card_of(client.get("/").get_data(as_text=True), post_id)
    assert f"/media/{items[0].id}/thumb" in one and f"/media/{items[2].id}/thumb" in one
    assert 'alt="the counter"' in one and 'alt="our shop"' in one
    assert "video (slide 2 of 3)" in words_of(one) and "3 images" not in words_of(one)

    shown = client.get(f"/posts/{post_id}").get_data(as_text=True)
    media = words_of(section_of(shown, "images"))
    assert "video (slide 2 of 3)" in media and "video (reel)" not in media
    assert json.loads(field_table(shown)["media_urls"]) == [
        {"url": f"{media_host.url}/good-1.png", "alt_text": "the counter"},
        {"url": "https://cdn.example.test/making-of.mp4?…", "type": "video"},
        f"{media_host.url}/good-2.png",
    ]
    assert "s3cr3t" not in shown


def test_the_post_page_shows_every_field_of_issue_16(app: App, client: FlaskClient, account_id: int) -> None:
    series_id = app.repo.add_series({"account_id": account_id, "prompt": "soup", "freq": "daily",
                                     "local_time": "09:00", "starts_on": date(2030, 1, 1)})
    photo = add(app, account_id, caption="Launch day", prompt="a shop front", first_comment="#launch #shop",
                user_tags=[{"username": "friend", "x": 0.25, "y": 0.5}], collaborators=["partner_shop", "studio"],
                location_id="110843418940484")
    next_try = datetime.now(UTC) + timedelta(minutes=5)
    occurrence = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    set_post(app, photo, allow_duplicate=True, series_id=series_id, occurrence_at=occurrence,
             first_comment_error="Instagram refused the comment", first_comment_attempts=2,
             first_comment_next_at=next_try)
    reel = add(app, account_id, post_type="reel", caption="Behind the scenes",
               video_url="https://cdn.example.test/bts.mp4", share_to_feed=False, thumb_offset=1500,
               audio_name="Bakery sounds", trial_params={"graduation_strategy": "SS_PERFORMANCE"})
    posted = add(app, account_id, caption="Done", prompt="a loaf", first_comment="#bread")
    set_post(app, posted, first_comment_id="17890000000000001")
    login(client)

    fields = field_table(client.get(f"/posts/{photo}").get_data(as_text=True))
    assert fields["first_comment"] == "#launch #shop"
    assert fields["comment"].startswith("not posted yet: Instagram refused the comment (try 2 of 5; next try ")
    assert next_try.isoformat(timespec="seconds") in fields["comment"]
    assert fields["user_tags"] == "friend@0.25,0.5"
    assert fields["collaborators"] == "partner_shop studio"
    assert fields["location_id"] == "110843418940484"
    assert fields["allow_duplicate"] == "yes: published even if it repeats a recent post"
    assert fields["series"].startswith(f"{series_id} (an occurrence of a recurring series, its time Tue 1 Jan 2030")
    assert f"postpilot series show {series_id}" in fields["series"] and occurrence.isoformat() in fields["series"]
    assert fields["caption"] == "Launch day" and fields["aspect"] == "square"

    reel_fields = field_table(client.get(f"/posts/{reel}").get_data(as_text=True))
    assert reel_fields["share_to_feed"] == "no: only on the Reels tab, not in the feed or on the profile grid"
    assert reel_fields["thumb_offset"] == "1500 ms into the video (the cover frame)"
    assert reel_fields["audio_name"] == "Bakery sounds"
    assert reel_fields["trial_params"].startswith("SS_PERFORMANCE (a trial reel: shown to non-followers first")
    assert "first_comment" not in reel_fields and "allow_duplicate" not in reel_fields  # not set: not listed

    assert field_table(client.get(f"/posts/{posted}").get_data(as_text=True))["comment"] == (
        "posted (comment 17890000000000001)"
    )


def test_the_grid_leaves_out_stories_and_reels_that_are_not_on_the_profile(
    app: App, client: FlaskClient, account_id: int
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=2)
    photo = add(app, account_id, caption="Photo", prompt="a loaf", scheduled_at=soon)
    story = add(app, account_id, post_type="story", prompt="a croissant", scheduled_at=soon + timedelta(minutes=1))
    reel = add(app, account_id, post_type="reel", caption="In the feed", video_url="https://cdn.example.test/a.mp4",
               scheduled_at=soon + timedelta(minutes=2))
    off_feed = add(app, account_id, post_type="reel", caption="Reels tab", video_url="https://cdn.example.test/b.mp4",
                   share_to_feed=False, scheduled_at=soon + timedelta(minutes=3))
    trial = add(app, account_id, post_type="reel", caption="Trial", video_url="https://cdn.example.test/c.mp4",
                trial_params={"graduation_strategy": "MANUAL"}, scheduled_at=soon + timedelta(minutes=4))
    old_story = add(app, account_id, post_type="story", prompt="yesterday's story")
    old_photo = add(app, account_id, caption="Yesterday", prompt="a cake")
    for done in (old_story, old_photo):
        set_post(app, done, status="published", published_at=datetime.now(UTC) - timedelta(days=1),
                 ig_media_id=f"1790000000000{done}")
    upcoming, published = app.repo.next_posts(account_id)
    assert [p.id for p in upcoming] == [photo, reel] and [p.id for p in published] == [old_photo]

    login(client)
    grid = client.get("/grid?account=brand").get_data(as_text=True)
    cells = re.findall(r'id="cell-(\d+)"', grid)
    assert cells == [str(reel), str(photo), str(old_photo)]  # the newest first, as on the profile
    assert "Stories, reels kept off the feed (share_to_feed false) and trial reels are not on the profile grid" in (
        words_of(grid)
    )
    reel_cell = grid.split(f'id="cell-{reel}"', 1)[1].split("</a>", 1)[0]
    assert "video (reel)" in words_of(reel_cell)
    for left_out in (story, off_feed, trial, old_story):
        assert f'id="cell-{left_out}"' not in grid


def test_a_stored_image_address_inside_the_machine_is_not_fetched_by_the_page(
    db_url: str, tmp_path: Path, server: FakeServer[GraphState]
) -> None:
    """The page downloads stored images with the client that reaches public addresses only, as preparation
    does: a post_media row pointed at this machine (by hand, or a store that moved) is refused, not fetched."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Inside(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    inside = ThreadingHTTPServer(("127.0.0.1", 0), Inside)
    threading.Thread(target=inside.serve_forever, daemon=True).start()
    guarded = make_app(db_url, tmp_path, server.url, image_provider="card", media_store="local")
    try:
        add_users(guarded.repo)
        account = guarded.repo.create_account(name="shop", ig_user_id="17841400000000009",
                                              login_kind=LoginKind.FACEBOOK, dry_run=True, token_encrypted=None)
        post_id = insert(guarded, account)
        client = create_review_app(guarded).test_client()
        login(client)
        act(client, post_id, "prepare")
        (item,) = guarded.repo.media(post_id)
        with guarded.engine.begin() as conn:
            conn.execute(text("UPDATE post_media SET stored_url = :u WHERE id = :i"),
                         {"u": f"http://127.0.0.1:{inside.server_address[1]}/secret.jpg", "i": item.id})
        status, body, _ = fetch(client, f"/media/{item.id}/full")
        assert status == 502 and hits == []
        assert b"127.0.0.1" not in body or b"public internet address" in body
    finally:
        guarded.close()
        inside.shutdown()
        inside.server_close()
