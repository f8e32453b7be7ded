"""The prepare step end to end: the real ``openai`` and ``cloudinary`` SDKs against the local fakes, the
local store against a tiny image host, on SQLite and PostgreSQL.

Each test drives posts through ``Pipeline.prepare`` (after a real claim) or a whole ``run_once`` pass and
asserts what a marketer would look at: the post's status and ``last_error``, its ``post_media`` rows, and
the URLs filled into the row; and, where money or retries are involved, what the fakes counted.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cloudinary.uploader
import httpx
import pytest
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from postpilot.app import App
from postpilot.db.rows import spend
from postpilot.domain.model import TARGET_SIZES, Aspect, MediaSource, PostStatus
from postpilot.pipeline import Outcome
from postpilot.pipeline.once import run_once
from tests.fakes import openai_fake
from tests.fakes.cloudinary_fake import CloudinaryFake, Fault
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState
from tests.integration.prepare_helpers import (
    OPENAI_KEY,
    PROMPT,
    MediaHost,
    add_account,
    add_post,
    make_app,
    make_due_again,
    post,
    prepare_due,
)

MAX_JPEG = 8 * 1024 * 1024
MODEL = "gpt-image-2.6-sunburst"
CLOUD_SECRET = "fake-api-secret-0123456789"

AppFactory = Callable[..., App]


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture
def openai_server() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=OPENAI_KEY)) as server:
        yield server


@pytest.fixture
def cloud() -> Iterator[CloudinaryFake]:
    with CloudinaryFake(api_secret=CLOUD_SECRET) as server:
        yield server
    # The SDK keeps one process-wide urllib3 pool: empty it so no socket outlives the fake.
    cloudinary.uploader._http.clear()


@pytest.fixture
def media_host() -> Iterator[MediaHost]:
    with MediaHost() as server:
        yield server


@pytest.fixture
def new_app(db_url: str, tmp_path: Path) -> Iterator[AppFactory]:
    """Builds Apps on this test's database; closes them afterwards."""
    apps: list[App] = []

    def factory(**overrides: Any) -> App:
        app = make_app(db_url, tmp_path, **overrides)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
def cloud_app(
    new_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake
) -> Callable[..., App]:
    """An App generating with OpenAI (the fake) and storing on Cloudinary (the fake)."""

    def factory(**overrides: Any) -> App:
        values: dict[str, Any] = {
            "image_provider": "openai",
            "openai_api_key": OPENAI_KEY,
            "openai_base_url": openai_server.base_url,
            "openai_model": MODEL,
            "media_store": "cloudinary",
            "cloudinary_url": cloud.cloudinary_url(),
            **overrides,
        }
        return new_app(**values)

    return factory


# --- helpers ------------------------------------------------------------------------------------------


def download(url: str) -> bytes:
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        response = client.get(url)
    assert response.status_code == 200, url
    assert response.headers["content-type"] == "image/jpeg"
    return response.content


def assert_instagram_jpeg(data: bytes, aspect: Aspect) -> None:
    assert len(data) <= MAX_JPEG
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.size == TARGET_SIZES[aspect]
        assert image.mode == "RGB"


def one_result(results: list[Any]) -> Any:
    assert len(results) == 1, results
    return results[0]


# --- OpenAI + Cloudinary: the happy paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("post_type", "aspect", "count"),
    [("photo", "square", 1), ("carousel", "landscape", 5), ("photo", "portrait", 1)],
    ids=["photo-square", "carousel-5-landscape", "photo-portrait"],
)
def test_generated_posts_end_ready_with_instagram_sized_jpegs_on_cloudinary(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake,
    post_type: str, aspect: str, count: int,
) -> None:
    app = cloud_app()
    account = add_account(app)
    extra = {"image_count": count} if post_type == "carousel" else {}
    post_id = add_post(app, account, post_type=post_type, aspect=aspect, prompt=PROMPT, **extra)

    result = one_result(prepare_due(app))

    assert result.outcome is Outcome.READY, result
    done = post(app, post_id)
    assert done.status is PostStatus.READY
    assert done.last_error is None
    assert done.alt_text == PROMPT  # defaulted from the prompt
    media = app.repo.media(post_id)
    assert [m.position for m in media] == list(range(count))
    checksums = set()
    for item in media:
        assert item.source is MediaSource.GENERATED
        assert item.prompt == PROMPT
        assert item.model == MODEL
        assert item.cost_usd > 0
        assert item.alt_text == PROMPT
        assert (item.width, item.height) == TARGET_SIZES[Aspect(aspect)]
        assert item.stored_url is not None
        assert item.stored_url.startswith(cloud.url)
        assert item.stored_url.endswith(f"postpilot/post-{post_id}-{item.position}.jpg")
        data = download(item.stored_url)
        assert_instagram_jpeg(data, Aspect(aspect))
        assert item.bytes == len(data)
        assert item.checksum == f"etag:{hashlib.md5(data).hexdigest()}"
        checksums.add(item.checksum)
    assert len(checksums) == count  # every carousel image is its own picture
    # The row shows what will be published.
    if post_type == "photo":
        assert done.image_url == media[0].stored_url
        assert done.media_urls is None
    else:
        assert done.image_url is None
        assert done.media_urls == [m.stored_url for m in media]
    # What was asked of OpenAI, and paid for: exactly one image per slot, as JPEG, in a size for the aspect.
    assert openai_server.state.generated == count
    bodies = openai_server.state.bodies
    assert {b["model"] for b in bodies} == {MODEL}
    assert {b["output_format"] for b in bodies} == {"jpeg"}
    assert {b["size"] for b in bodies} == {
        {"square": "1088x1088", "portrait": "1088x1360", "landscape": "1344x704"}[aspect]
    }
    assert len({b["prompt"] for b in bodies}) == count  # distinct variations
    # One upload per image, each with the Instagram transform and a deterministic public_id.
    assert cloud.state.assets_stored == count
    forms = cloud.state.received
    width, height = TARGET_SIZES[Aspect(aspect)]
    assert {f["transformation"] for f in forms} == {f"c_fill,g_auto,h_{height},w_{width}"}
    assert {f["format"] for f in forms} == {"jpg"}
    assert {f["overwrite"] for f in forms} == {"0"}


def test_a_marketers_own_image_url_is_kept_and_its_normalised_copy_recorded(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake, media_host: MediaHost
) -> None:
    app = cloud_app()
    account = add_account(app)
    own = f"{media_host.url}/good.png?sig=abc"
    post_id = add_post(app, account, image_url=own, aspect="portrait", alt_text="our new cup")

    result = one_result(prepare_due(app))

    assert result.outcome is Outcome.READY, result
    done = post(app, post_id)
    assert done.status is PostStatus.READY
    assert done.image_url == own  # never overwritten
    assert done.alt_text == "our new cup"
    item = one_result(app.repo.media(post_id))
    assert item.source is MediaSource.PROVIDED
    assert item.source_url == own
    assert item.model is None and item.cost_usd == 0 and item.prompt is None
    assert item.stored_url != own and item.stored_url.startswith(cloud.url)
    data = download(item.stored_url)
    assert_instagram_jpeg(data, Aspect.PORTRAIT)
    assert item.bytes == len(data)
    assert openai_server.state.request_count == 0  # nothing generated for a supplied image
    assert media_host.hits == ["/good.png?sig=abc"]  # Cloudinary fetched it itself


# --- OpenAI failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["server-error", "bad-request"])
def test_a_carousel_failing_midway_regenerates_only_the_missing_images_on_retry(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake, failure: str
) -> None:
    app = cloud_app(openai_max_retries=1)
    account = add_account(app)
    post_id = add_post(app, account, post_type="carousel", image_count=5, prompt=PROMPT)
    state = openai_server.state
    if failure == "server-error":
        # The third image fails twice: once, and once more on the SDK's own retry.
        state.push(openai_fake.ok(), openai_fake.ok(), *[openai_fake.server_error(500, retry_after_ms=10)] * 2)
    else:
        state.push(openai_fake.ok(), openai_fake.ok(), openai_fake.invalid_value("size"))

    result = one_result(prepare_due(app))

    held = post(app, post_id)
    assert [m.position for m in app.repo.media(post_id)] == [0, 1]  # recorded as soon as they existed
    assert state.generated == 2
    if failure == "server-error":
        assert result.outcome is Outcome.WAITING
        assert held.status is PostStatus.SCHEDULED
        assert held.attempts == 1 and held.next_attempt_at is not None
        assert held.last_error is not None
        assert "OpenAI had a temporary problem (HTTP 500, after 2 attempts)" in held.last_error
        make_due_again(app, post_id)
    else:
        assert result.outcome is Outcome.FAILED
        assert held.status is PostStatus.FAILED
        assert held.last_error is not None
        assert held.last_error.startswith("OpenAI refused the image request (the 'size' setting)")
        app.repo.retry(post_id, actor="test")  # the marketer's "post retry"

    again = one_result(prepare_due(app))

    assert again.outcome is Outcome.READY, again
    done = post(app, post_id)
    assert done.status is PostStatus.READY and done.last_error is None
    media = app.repo.media(post_id)
    assert [m.position for m in media] == [0, 1, 2, 3, 4]
    assert done.media_urls == [m.stored_url for m in media]
    assert state.generated == 5  # not 7: the first two were not paid for twice
    assert cloud.state.assets_stored == 5


@pytest.mark.parametrize("rejection", [openai_fake.moderation_blocked, openai_fake.content_policy_violation])
def test_a_safety_rejection_fails_the_post_with_a_readable_message(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake,
    rejection: Callable[[], openai_fake.Action],
) -> None:
    app = cloud_app()
    account = add_account(app)
    post_id = add_post(app, account, prompt=PROMPT)
    openai_server.state.push(rejection())

    result = one_result(prepare_due(app))

    assert result.outcome is Outcome.FAILED
    failed = post(app, post_id)
    assert failed.status is PostStatus.FAILED
    assert failed.last_error is not None
    assert "OpenAI's safety system rejected the prompt" in failed.last_error
    assert "change the prompt or supply an image" in failed.last_error
    assert openai_server.state.request_count == 1  # a rejection is not retried
    assert app.repo.media(post_id) == []
    assert cloud.state.uploads_received == 0


def test_a_rate_limit_with_retry_after_is_waited_out(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake
) -> None:
    app = cloud_app()
    account = add_account(app)
    post_id = add_post(app, account, prompt=PROMPT)
    openai_server.state.push(openai_fake.rate_limited(retry_after_s=0.3))

    started = time.monotonic()
    result = one_result(prepare_due(app))

    assert time.monotonic() - started >= 0.3
    assert result.outcome is Outcome.READY, result
    assert post(app, post_id).status is PostStatus.READY
    assert [r.status for r in openai_server.state.requests] == [429, 200]
    assert openai_server.state.generated == 1


def test_insufficient_quota_makes_the_post_wait_after_a_single_request(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake
) -> None:
    app = cloud_app(openai_max_retries=3)
    account = add_account(app)
    post_id = add_post(app, account, prompt=PROMPT)
    openai_server.state.default = openai_fake.insufficient_quota()

    result = one_result(prepare_due(app))

    assert result.outcome is Outcome.WAITING
    waiting = post(app, post_id)
    assert waiting.status is PostStatus.SCHEDULED
    assert waiting.attempts == 0  # waiting for credit does not use up the post's attempts
    assert waiting.next_attempt_at is not None
    assert waiting.last_error is not None
    assert "out of credit (insufficient quota)" in waiting.last_error
    assert OPENAI_KEY not in waiting.last_error
    assert openai_server.state.request_count == 1  # no retry storm
    assert cloud.state.uploads_received == 0


def test_the_daily_image_budget_makes_posts_wait_without_generating(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake
) -> None:
    app = cloud_app(daily_image_budget_usd=0.001)
    account = add_account(app)
    post_id = add_post(app, account, post_type="carousel", image_count=3, prompt=PROMPT)

    result = one_result(prepare_due(app))

    assert result.outcome is Outcome.WAITING
    waiting = post(app, post_id)
    assert waiting.status is PostStatus.SCHEDULED
    assert waiting.attempts == 0
    assert waiting.last_error is not None
    assert waiting.last_error.startswith("the daily image budget of $0.00 is spent")
    assert "POSTPILOT_DAILY_IMAGE_BUDGET_USD" in waiting.last_error
    assert openai_server.state.request_count == 0
    assert app.repo.media(post_id) == []
    # The marketer is told once that day, however many posts wait for the budget.
    add_post(app, account, prompt=PROMPT)
    prepare_due(app)
    assert [(kind, title) for kind, title, _ in app.repo.notices()] == [
        ("budget", "postpilot: the daily image budget of $0.00 is spent")
    ]


# --- Cloudinary failures --------------------------------------------------------------------------------


def test_a_hung_cloudinary_is_abandoned_at_the_timeout_and_the_post_retried(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake
) -> None:
    app = cloud_app(cloudinary_timeout_s=0.5)
    account = add_account(app)
    post_id = add_post(app, account, prompt=PROMPT)
    cloud.state.push_faults(Fault.hang(30))

    started = time.monotonic()
    tally = run_once(app)

    assert time.monotonic() - started < 10
    assert tally.counts == {"waiting": 1}
    held = post(app, post_id)
    assert held.status is PostStatus.SCHEDULED
    assert held.attempts == 1 and held.next_attempt_at is not None
    assert held.last_error is not None
    assert "Cloudinary could not be reached or did not answer within 0.5 s" in held.last_error
    assert cloud.state.uploads_received == 1
    assert app.repo.media(post_id) == []

    # The process carries on: the next attempt (Cloudinary answering again) gets the post ready.
    make_due_again(app, post_id)
    assert run_once(app).counts == {"ready": 1}
    assert post(app, post_id).status is PostStatus.READY
    # The image paid for on the first attempt was kept and uploaded: generated once, and its price recorded
    # (the daily budget adds up these rows).
    assert openai_server.state.request_count == 1
    (item,) = app.repo.media(post_id)
    assert item.cost_usd > 0 and item.model
    assert app.repo.spend_today() == pytest.approx(item.cost_usd)
    assert not list((app.settings.state_dir / "spool").iterdir())


def test_a_wrong_cloudinary_secret_waits_with_a_clear_message_after_one_upload(
    cloud_app: AppFactory, openai_server: OpenAIFake, cloud: CloudinaryFake
) -> None:
    wrong = "not-the-secret-9876543210"
    app = cloud_app(cloudinary_url=cloud.cloudinary_url(api_secret=wrong))
    account = add_account(app)
    post_id = add_post(app, account, prompt=PROMPT)

    result = one_result(prepare_due(app))

    assert result.outcome is Outcome.WAITING
    waiting = post(app, post_id)
    assert waiting.status is PostStatus.SCHEDULED
    assert waiting.attempts == 0
    assert waiting.last_error is not None
    assert "Cloudinary credentials were rejected" in waiting.last_error
    assert "CLOUDINARY_URL" in waiting.last_error
    assert wrong not in waiting.last_error and CLOUD_SECRET not in waiting.last_error
    assert cloud.state.uploads_received == 1  # an authentication error, not a retry loop
    assert cloud.state.assets_stored == 0
    assert app.repo.media(post_id) == []


# --- marketer media through the local store ---------------------------------------------------------------


# Each case: the bad post's columns, and the fragments its ``last_error`` must contain ({host} is the image
# host). Fragments rather than whole sentences, so a rewording keeps the test while the facts stay checked.
BAD_MEDIA: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "404": ({"image_url": "{host}/missing.jpg"}, ("answered 404 Not Found", "{host}/missing.jpg")),
    "html-page": (
        {"image_url": "{host}/page.jpg"},
        ("{host}/page.jpg", "returned a web page (text/html), not an image", "direct link to the image file"),
    ),
    "60-MB": ({"image_url": "{host}/huge.jpg"}, ("{host}/huge.jpg", "is larger than 50 MB")),
    "png-bomb": (
        {"image_url": "{host}/bomb.png"},
        ("{host}/bomb.png", "is too large to process (40000×40000 pixels)", "80 megapixels"),
    ),
    "ftp": (
        {"image_url": "ftp://example.com/cup.jpg"},
        ("image_url must start with http:// or https:// (got ftp://)",),
    ),
    "carousel-of-1": (
        {"post_type": "carousel", "media_urls": ["{host}/good-1.png"]},
        ("a carousel needs 2 to 10 images; media_urls has 1",),
    ),
    "carousel-of-11": (
        {"post_type": "carousel", "media_urls": [f"{{host}}/good-{i}.png" for i in range(11)]},
        ("a carousel needs 2 to 10 images; media_urls has 11",),
    ),
}


def _fill_host(value: Any, host: str) -> Any:
    if isinstance(value, str):
        return value.replace("{host}", host)
    if isinstance(value, list):
        return [_fill_host(v, host) for v in value]
    if isinstance(value, dict):
        return {k: _fill_host(v, host) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", list(BAD_MEDIA))
def test_bad_marketer_media_fails_that_post_and_the_run_carries_on(
    new_app: AppFactory, media_host: MediaHost, tmp_path: Path, case: str
) -> None:
    app = new_app(image_provider="card", media_store="local")
    account = add_account(app)
    values, fragments = BAD_MEDIA[case]
    bad_id = add_post(app, account, **_fill_host(values, media_host.url))
    good_urls = [f"{media_host.url}/good-{i}.png" for i in range(2)]
    good_id = add_post(app, account, post_type="carousel", media_urls=good_urls)

    tally = run_once(app)

    assert tally.counts == {"failed": 1, "ready": 1}
    bad = post(app, bad_id)
    assert bad.status is PostStatus.FAILED
    assert bad.last_error is not None
    for fragment in fragments:
        assert _fill_host(fragment, media_host.url) in bad.last_error
    assert tally.problems == [f"post {bad_id}: {bad.last_error}"]
    assert app.repo.media(bad_id) == []
    assert not list((tmp_path / "media").glob(f"post-{bad_id}-*"))
    good = post(app, good_id)
    assert good.status is PostStatus.READY
    assert [m.width for m in app.repo.media(good_id)] == [1080, 1080]
    if case in ("ftp", "carousel-of-1", "carousel-of-11"):
        # Validation comes first: nothing was downloaded for the bad post.
        assert all(hit.startswith("/good-") and int(hit[6:-4]) < 2 for hit in media_host.hits)


# --- the offline path: the card renderer and the local store -----------------------------------------------


@pytest.mark.parametrize(
    ("post_type", "aspect", "count"),
    [("photo", "square", 1), ("carousel", "portrait", 3)],
    ids=["photo-square", "carousel-3-portrait"],
)
def test_the_offline_renderer_fills_the_local_store_with_instagram_jpegs(
    new_app: AppFactory, tmp_path: Path, post_type: str, aspect: str, count: int
) -> None:
    app = new_app(image_provider="card", media_store="local")
    account = add_account(app)
    extra = {"image_count": count} if post_type == "carousel" else {}
    post_id = add_post(app, account, post_type=post_type, aspect=aspect, prompt=PROMPT, **extra)

    assert run_once(app).counts == {"ready": 1}

    done = post(app, post_id)
    assert done.status is PostStatus.READY
    assert done.alt_text == PROMPT
    media = app.repo.media(post_id)
    assert [m.position for m in media] == list(range(count))
    for item in media:
        path = tmp_path / "media" / f"post-{post_id}-{item.position}.jpg"
        assert item.stored_url == path.resolve().as_uri()
        data = path.read_bytes()
        assert_instagram_jpeg(data, Aspect(aspect))
        assert (item.width, item.height, item.bytes) == (*TARGET_SIZES[Aspect(aspect)], len(data))
        assert item.checksum == hashlib.sha256(data).hexdigest()
        assert item.source is MediaSource.GENERATED and item.cost_usd == 0 and item.model
    assert len({m.checksum for m in media}) == count
    urls = [m.stored_url for m in media]
    assert (done.image_url, done.media_urls) == ((urls[0], None) if post_type == "photo" else (None, urls))



@pytest.mark.parametrize("depth", [33, 3000])
def test_absurdly_deep_json_is_refused_at_insert_on_both_databases(new_app: AppFactory, depth: int) -> None:
    app = new_app()
    account = add_account(app)
    deep = "[" * depth + "]" * depth
    insert = (
        "INSERT INTO scheduled_posts (account_id, post_type, media_urls, scheduled_at) VALUES (:a, 'carousel', :m, :t)"
    )
    with pytest.raises(DBAPIError) as info, app.engine.begin() as conn:
        conn.execute(text(insert), {"a": account, "m": deep, "t": datetime.now(UTC) + timedelta(minutes=30)})
    message = str(info.value.orig)
    assert "media_urls is nested deeper than 32 levels" in message or (
        # SQLite's own JSON reader gives up past 2,000 levels, before the depth rule is asked.
        depth > 2000 and "media_urls must be a JSON array of URLs" in message
    ), message


def test_a_row_with_absurdly_deep_json_fails_alone(new_app: AppFactory) -> None:
    """Written around the guard (it dropped by hand): the row fails alone with a message, the rest goes on."""
    app = new_app()
    account = add_account(app)
    healthy = add_post(app, account, prompt="a lighthouse at dawn")
    deep = "[" * 1500 + "]" * 1500  # past Python's reader, within SQLite's
    with app.engine.begin() as conn:
        if app.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER scheduled_posts_media_urls_depth_ins"))
        else:
            conn.execute(text("ALTER TABLE scheduled_posts DISABLE TRIGGER scheduled_posts_json_depth"))
        conn.execute(
            text(
                "INSERT INTO scheduled_posts (account_id, post_type, media_urls, scheduled_at) "
                "VALUES (:a, 'carousel', :m, :t)"
            ),
            {"a": account, "m": deep, "t": datetime.now(UTC) + timedelta(minutes=30)},
        )
        bad = int(conn.execute(text("SELECT max(id) FROM scheduled_posts")).scalar_one())

    try:
        tally = run_once(app)

        assert tally.counts == {"ready": 1, "failed": 1}
        assert post(app, healthy).status is PostStatus.READY
        failed = post(app, bad)
        assert failed.status is PostStatus.FAILED
        assert failed.last_error is not None and "media_urls must be a JSON array" in failed.last_error
        assert app.repo.list_posts()  # listing every row still works
    finally:
        if app.engine.dialect.name == "postgresql":  # the database is shared by this worker's later tests
            with app.engine.begin() as conn:
                conn.execute(text("DELETE FROM scheduled_posts WHERE id = :i"), {"i": bad})
                conn.execute(text("ALTER TABLE scheduled_posts ENABLE TRIGGER scheduled_posts_json_depth"))


def test_the_spend_ledger_reserves_first_settles_refusals_at_zero_and_keeps_lost_answers(
    cloud_app: AppFactory, openai_server: OpenAIFake
) -> None:
    """Issue 12 item 10, on both databases: every generation is on the books before it is requested. A refusal
    (safety, 5xx) costs nothing; an answer that never arrived keeps its estimate, since the image may have been
    made and billed; a delivered image is settled at the price its usage says."""
    app = cloud_app(openai_max_retries=0, daily_image_budget_usd=50.0)
    account = add_account(app)
    refused = add_post(app, account, prompt=PROMPT)
    openai_server.state.push(openai_fake.content_policy_violation())
    one_result(prepare_due(app))
    lost = add_post(app, account, prompt=PROMPT + " again")
    openai_server.state.push(openai_fake.drop())
    one_result(prepare_due(app))
    made = add_post(app, account, prompt=PROMPT + " once more")
    one_result(prepare_due(app))

    with app.engine.connect() as conn:
        rows = {r.post_id: r for r in conn.execute(select(spend))}
    assert rows[refused].cost_usd == 0.0 and rows[refused].estimate_usd > 0
    assert rows[lost].cost_usd is None and rows[lost].estimate_usd > 0  # the answer was lost: maybe billed
    (item,) = app.repo.media(made)
    assert rows[made].cost_usd == pytest.approx(item.cost_usd) and item.cost_usd > 0
    assert app.repo.spend_today() == pytest.approx(rows[lost].estimate_usd + item.cost_usd)
    assert post(app, lost).status is PostStatus.SCHEDULED  # retried later, the estimate already counted
