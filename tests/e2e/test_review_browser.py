"""Issue 15 in a real browser: Debian's Chromium, headless, driven by Selenium, against ``postpilot run`` with
the review page on, on SQLite and PostgreSQL.

A reviewer logs in, sees a post inserted with plain SQL with the image the offline renderer made for it,
approves it and sees it published on its minute (Graph API fake), regenerates one and cancels one. A
logged-out visit, a forged form (no CSRF token), a viewer's action and a wrong password are each refused
with words. One browser serves the whole module; each test gets its own daemon and a clean cookie jar.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from postpilot.db.repository import Repository
from tests.e2e.test_daemon import (
    IG_USER,
    SECRET_KEY,
    TOKEN,
    Daemon,
    daemon_env,
    free_port,
    live_account,
    wait_for,
)
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState, make_server
from tests.review_helpers import REVIEWER, REVIEWER_PASSWORD, VIEWER, VIEWER_PASSWORD, add_users

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PUBLIC = "https://media.example.test/postpilot"

pytestmark = pytest.mark.slow

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (/usr/bin/chromium, /usr/bin/chromedriver): "
        "run scripts/system-packages.sh as root",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="postpilot-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:  # never leave a daemon behind, even when a test fails
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


@pytest.fixture
def graph() -> Iterator[FakeServer[GraphState]]:
    state = GraphState(image_delay_s=0.0)
    state.add_account(IG_USER, TOKEN, username="brand")
    with make_server(state) as server:
        yield server


def replaced(old: Any) -> Any:
    """A wait condition: the page ``old`` belonged to has been replaced by the next one. Selenium's own
    ``staleness_of`` knows only StaleElementReferenceException; Chromium 156 may instead answer "Node with given
    id does not belong to the document" (a plain WebDriverException) for the same state, which made the wait
    itself fail now and then. Both mean the old page is gone."""

    def gone(_driver: WebDriver) -> bool:
        try:
            old.is_enabled()
        except WebDriverException:  # StaleElementReferenceException is one of these
            return True
        return False

    return gone


class Page:
    """The daemon's review page as the browser sees it."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver = driver
        self.base = base
        driver.delete_all_cookies()

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def text(self, css: str = "body") -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def flashes(self) -> str:
        return " | ".join(e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".flash"))

    def login(self, name: str, password: str) -> None:
        self.open("/login")
        self.driver.find_element(By.ID, "name").send_keys(name)
        self.driver.find_element(By.ID, "password").send_keys(password)
        self.click("login")

    def click(self, element_id: str) -> None:
        """Press a button and wait for the page it leads to (an action runs, then redirects back)."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.ID, element_id).click()
        WebDriverWait(self.driver, 60).until(replaced(old))

    def wait_images(self, css: str) -> list[int]:
        """The natural widths of the images matching ``css`` once the browser has them all."""
        wait_for(lambda: bool(self.images_loaded(css)) and min(self.images_loaded(css)) >= 0, 20, f"images {css}")
        return self.images_loaded(css)

    def images_loaded(self, css: str) -> list[int]:
        """naturalWidth of every image matching ``css``: 0 for one the browser could not load."""
        widths: list[Any] = self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(i => i.complete ? i.naturalWidth : -1)", css
        )
        return [int(w) for w in widths]

    def submit_form(self, action: str, fields: dict[str, str]) -> None:
        """A form this page never rendered, as another site (or a script) would send it."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.execute_script(
            """const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
            for (const [k, v] of Object.entries(arguments[1])) {
              const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
            }
            document.body.appendChild(f); f.submit();""",
            action,
            fields,
        )
        WebDriverWait(self.driver, 30).until(replaced(old))


def start(db_url: str, tmp_path: Path, graph: FakeServer[GraphState], daemons: list[Daemon]) -> str:
    env = daemon_env(db_url, tmp_path, POSTPILOT_GRAPH_URL=graph.url, POSTPILOT_INSTAGRAM_GRAPH_URL=graph.url,
                     POSTPILOT_WEB_LISTEN=f"127.0.0.1:{free_port()}", POSTPILOT_PUBLIC_MEDIA_URL=PUBLIC,
                     POSTPILOT_CONTAINER_POLL_S="0.2", POSTPILOT_LOG_LEVEL="info")
    d = Daemon(env, tmp_path)
    daemons.append(d)
    d.wait_ready()
    return "http://" + env["POSTPILOT_WEB_LISTEN"]


def insert(engine: Engine, account_id: int, *, in_s: float, caption: str, prompt: str) -> int:
    """With plain SQL, as a marketer would."""
    with engine.begin() as conn:
        return int(conn.execute(
            text("INSERT INTO scheduled_posts (account_id, caption, prompt, scheduled_at) "
                 "VALUES (:a, :c, :p, :t) RETURNING id"),
            {"a": account_id, "c": caption, "p": prompt, "t": datetime.now(UTC) + timedelta(seconds=in_s)},
        ).scalar_one())


def row(engine: Engine, post_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM scheduled_posts WHERE id = :i"), {"i": post_id}).mappings().one()
        return dict(found)


def checksums(engine: Engine, post_id: int) -> list[str]:
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(
            text("SELECT checksum FROM post_media WHERE post_id = :i ORDER BY position"), {"i": post_id})]


def as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --------------------------------------------------------------------------------------------- tests
def test_a_reviewer_approves_regenerates_and_cancels(
    browser: WebDriver, db_url: str, engine: Engine, tmp_path: Path, graph: FakeServer[GraphState],
    daemons: list[Daemon],
) -> None:
    repo = Repository(engine=engine)
    account = live_account(engine)
    repo.set_account_require_approval(account, True)
    add_users(repo)
    # Two inside the hour's prepare window (prepared at once, then they wait for a person), one outside it.
    due = insert(engine, account, in_s=25, caption="Opening soon #bakery @ourshop", prompt="a bakery window at dawn")
    other = insert(engine, account, in_s=3 * 3600, caption="Later #bread", prompt="a loaf on a wooden table")
    dropped = insert(engine, account, in_s=50 * 60, caption="Maybe not #cake", prompt="a cake with candles")
    page = Page(browser, start(db_url, tmp_path, graph, daemons))
    wait_for(lambda: all(checksums(engine, p) for p in (due, dropped)), 30, "the posts in the window prepared")

    page.login(REVIEWER, REVIEWER_PASSWORD)
    assert page.text("#who") == f"{REVIEWER} (reviewer)"
    needs = page.text("#needs-you")
    assert f"#{due}" in needs and "Needs you: awaiting approval" in needs
    assert "#bakery" in page.text(f"#post-{due} .caption")
    assert page.wait_images(f"#post-{due} .thumbs img") == [360]  # the card renderer's image, as a thumbnail

    page.open(f"/posts/{due}")
    assert page.wait_images("#images img") == [1080]
    assert "media_publish" in page.text("#requests")
    page.click("do-approve")
    assert f"post {due} approved by web:{REVIEWER}; it is ready" in page.flashes()
    wait_for(lambda: row(engine, due)["status"] == "published", 90, "the approved post published")
    published = row(engine, due)
    scheduled_at, published_at = as_utc(published["scheduled_at"]), as_utc(published["published_at"])
    # On its minute: not before its time, and within the few seconds a precise publish takes.
    assert scheduled_at <= published_at < scheduled_at + timedelta(seconds=30)
    assert published["approved_by"] == f"web:{REVIEWER}"
    page.open(f"/posts/{due}")
    assert page.text("#status") == "Published on Instagram"
    assert f"Approved by web:{REVIEWER} (web:{REVIEWER})" in page.text("#history")

    page.open(f"/posts/{other}")
    assert "No images yet" in page.text("#no-images")
    page.click("do-prepare")  # three hours early, as post prepare ID
    assert f"post {other}: ready" in page.flashes()
    before = checksums(engine, other)
    assert before and page.wait_images("#images img") == [1080]
    page.driver.find_element(By.ID, "new-prompt").send_keys("a loaf on a marble table at night")
    page.click("do-regenerate")
    assert "new images are made at its next preparation" in page.flashes()
    page.click("do-prepare")
    assert f"post {other}: ready" in page.flashes()
    after = checksums(engine, other)
    assert after and after != before
    src = page.driver.find_element(By.CSS_SELECTOR, "#images img").get_attribute("src") or ""
    assert f"v={after[0][:12]}" in src and page.wait_images("#images img") == [1080]

    page.open(f"/posts/{dropped}")
    page.click("do-cancel")
    assert f"post {dropped} is cancelled" in page.flashes()
    assert row(engine, dropped)["status"] == "cancelled"
    assert page.text("#status") == "Cancelled: it will not be published"
    assert graph.state.total_publish_calls() == 1

    for path in ("/", "/week", f"/posts/{due}", "/grid"):
        page.open(path)
        for secret in (TOKEN, SECRET_KEY, REVIEWER_PASSWORD):
            assert secret not in page.driver.page_source, path
    assert page.text("h1").startswith("Grid preview: brand")
    assert daemons[-1].stop() == 0
    assert "Traceback" not in daemons[-1].logs


def test_refusals_are_said_in_words(
    browser: WebDriver, db_url: str, engine: Engine, tmp_path: Path, graph: FakeServer[GraphState],
    daemons: list[Daemon],
) -> None:
    repo = Repository(engine=engine)
    account = live_account(engine)
    add_users(repo)
    post_id = insert(engine, account, in_s=6 * 3600, caption="Stays as it is #calm", prompt="a quiet harbour")
    page = Page(browser, start(db_url, tmp_path, graph, daemons))

    page.open(f"/posts/{post_id}")  # logged out
    assert page.driver.current_url.startswith(page.base + "/login")
    assert "Log in to see the review page." in page.flashes()

    page.login(REVIEWER, "not-the-password")
    assert page.text("#login-error") == "Wrong name or password."

    page.login(REVIEWER, REVIEWER_PASSWORD)
    page.open(f"/posts/{post_id}")
    page.submit_form(f"/posts/{post_id}/cancel", {"csrf_token": "forged"})
    assert page.text("h1") == "Form refused"
    assert page.text("#refusal").startswith("This form was refused and nothing was changed")

    page.driver.delete_all_cookies()
    page.login(VIEWER, VIEWER_PASSWORD)
    page.open(f"/posts/{post_id}")
    assert "You are a viewer" in page.text("#viewer-note")
    token = page.driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute("content") or ""
    page.submit_form(f"/posts/{post_id}/cancel", {"csrf_token": token})
    assert page.text("h1") == "Not allowed for viewers"
    assert page.text("#refusal").startswith(f"You are logged in as {VIEWER}, a viewer")

    assert row(engine, post_id)["status"] == "scheduled"
    events = [e.kind for e in repo.events(post_id)]
    assert "cancelled" not in events
    assert daemons[-1].stop() == 0
