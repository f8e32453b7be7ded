"""Meta login as Meta documents it, through ``postpilot account connect`` and the daemon's token refresher, on
SQLite and PostgreSQL, against the Graph API fake: the permissions each login asks for, the Instagram account
id read from ``/me`` (not the code exchange's app-scoped id), the Page token that does not expire, and
Instagram Login tokens refreshed before they die."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner, Result

from postpilot.app import App
from postpilot.cli import cli
from postpilot.domain.model import LoginKind, PostStatus
from postpilot.pipeline import Outcome
from postpilot.pipeline.once import run_once
from postpilot.tokens import TokenRefresher
from tests.fakes.base import FakeServer
from tests.fakes.graph import DAY_S, GraphState, make_server
from tests.integration.pipeline_helpers import add_ready_post, make_app, post, publish_now

FB_APP, FB_SECRET = "1111222233334444", "fbappsecret0123456789abcdef"
IG_APP, IG_SECRET = "5555666677778888", "igappsecret0123456789abcdef"
REDIRECT = "https://localhost/postpilot/callback"
FB_IG = "17841400000000011"
IG_IG = "17841400000000022"
STATE = "fixed-oauth-state-for-tests"
SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def state() -> GraphState:
    state = GraphState()
    state.add_app(FB_APP, FB_SECRET, redirect_uri=REDIRECT, login_kind="facebook")
    state.add_app(IG_APP, IG_SECRET, redirect_uri=REDIRECT, login_kind="instagram")
    state.add_account(FB_IG, None, login_kind="facebook", username="brand", page_name="Brand Page")
    state.add_account(IG_IG, None, login_kind="instagram", username="studio")
    return state


@pytest.fixture
def server(state: GraphState, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer[GraphState]]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks http on 127.0.0.1
    with make_server(state) as srv:
        yield srv
    assert state.token_in_url_count == 0


@pytest.fixture
def env(db_url: str, tmp_path: Path, server: FakeServer[GraphState], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("POSTPILOT_") or name in ("OPENAI_API_KEY", "CLOUDINARY_URL"):
            monkeypatch.delenv(name)
    values = {
        "POSTPILOT_DATABASE_URL": db_url,
        "POSTPILOT_SECRET_KEY": SECRET_KEY,
        "POSTPILOT_STATE_DIR": str(tmp_path / "state"),
        "POSTPILOT_LOG_LEVEL": "warning",
        "POSTPILOT_GRAPH_URL": server.url,
        "POSTPILOT_INSTAGRAM_GRAPH_URL": server.url,
        "POSTPILOT_INSTAGRAM_API_URL": server.url,
        "POSTPILOT_FACEBOOK_APP_ID": FB_APP,
        "POSTPILOT_FACEBOOK_APP_SECRET": FB_SECRET,
        "POSTPILOT_INSTAGRAM_APP_ID": IG_APP,
        "POSTPILOT_INSTAGRAM_APP_SECRET": IG_SECRET,
        "POSTPILOT_OAUTH_REDIRECT_URI": REDIRECT,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    # The login's state is random; fixed here so the test can paste a matching redirect address.
    monkeypatch.setattr("requests_oauthlib.oauth2_session.generate_token", lambda: STATE)


@pytest.fixture
def app(env: None, db_url: str, tmp_path: Path, server: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, server.url, secret_key=SECRET_KEY, instagram_api_url=server.url)
    yield application
    application.close()


def connect(args: list[str], redirect: str) -> Result:
    return CliRunner().invoke(cli, ["account", "connect", *args], input=redirect + "\n")


def dialog_scopes(result: Result) -> set[str]:
    url = next(line.strip() for line in result.stdout.splitlines() if line.strip().startswith("https://"))
    return set(parse_qs(urlsplit(url).query)["scope"][0].replace(",", " ").split())


# --- Instagram Login ---------------------------------------------------------------------------------------


def test_instagram_login_stores_the_professional_account_id_from_me(app: App, state: GraphState) -> None:
    code = state.issue_code(IG_APP, IG_IG)

    result = connect(["studio", "--login", "instagram"], f"{REDIRECT}?code={code}&state={STATE}#_")

    assert result.exit_code == 0, result.output
    assert dialog_scopes(result) == {
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",  # the first comment
    }
    account = app.repo.require_account("studio")
    app_scoped = state.accounts[IG_IG].app_scoped_id
    assert account.ig_user_id == IG_IG != app_scoped  # the code exchange named the app-scoped id
    assert f"Instagram user {IG_IG}" in result.stdout and "the daemon refreshes it" in result.stdout
    assert any(r.path.endswith("/me") and r.params.get("fields") == "user_id,username" for r in state.requests)
    # What Meta granted is kept: the only time it says (doctor reads it back).
    assert set(account.granted_scopes or ()) == {
        "instagram_business_basic", "instagram_business_content_publish", "instagram_business_manage_comments"}


def test_instagram_login_without_the_publishing_permission_is_refused_at_connect(app: App, state: GraphState) -> None:
    """Meta says what an Instagram Login token may do only in the code exchange: a token without
    instagram_business_content_publish is refused there, not stored to fail the first post."""
    code = state.issue_code(IG_APP, IG_IG, scopes=("instagram_business_basic",))

    result = connect(["studio", "--login", "instagram"], f"{REDIRECT}?code={code}&state={STATE}#_")

    assert result.exit_code == 3, result.output
    assert result.stderr.strip().endswith(
        "error: Instagram did not grant instagram_business_content_publish, which publishing needs: connect again "
        "and leave every permission on in Instagram's dialog"
    )
    assert app.repo.account_by_name("studio") is None


def test_instagram_login_without_comments_connects_and_says_first_comments_will_not_post(
    app: App, state: GraphState
) -> None:
    code = state.issue_code(IG_APP, IG_IG, scopes=("instagram_business_basic", "instagram_business_content_publish"))

    result = connect(["studio", "--login", "instagram"], f"{REDIRECT}?code={code}&state={STATE}#_")

    assert result.exit_code == 0, result.output
    assert "instagram_business_manage_comments was not granted: first comments will not be posted" in result.stderr
    assert app.repo.require_account("studio").ig_user_id == IG_IG


def test_a_token_given_by_hand_has_permissions_no_one_knows(app: App, state: GraphState) -> None:
    code = state.issue_code(IG_APP, IG_IG)
    assert connect(["studio", "--login", "instagram"], f"{REDIRECT}?code={code}&state={STATE}#_").exit_code == 0
    assert app.repo.require_account("studio").granted_scopes
    given = CliRunner().invoke(cli, ["account", "token", "studio"], input="IGQVJ-a-token-pasted-by-hand-000\n")
    assert given.exit_code == 0, given.output
    assert app.repo.require_account("studio").granted_scopes is None  # the old token's are not this one's


# --- Facebook Login ----------------------------------------------------------------------------------------


def test_facebook_login_asks_for_business_pages_and_keeps_the_page_token(app: App, state: GraphState) -> None:
    page = state.pages[state.accounts[FB_IG].page_id or ""]
    page.business_owned = True  # owned by a Business Portfolio: listed only with business_management
    code = state.issue_code(FB_APP, FB_IG)

    result = connect(["brand"], f"{REDIRECT}?code={code}&state={STATE}")

    assert result.exit_code == 0, result.output
    assert dialog_scopes(result) == {
        "instagram_basic",
        "instagram_content_publish",
        "pages_show_list",
        "pages_read_engagement",
        "business_management",
        "instagram_manage_comments",
    }
    assert "Page token without an expiry date" in result.stdout
    account = app.repo.require_account("brand")
    assert account.ig_user_id == FB_IG and account.token_expires_at is None
    stored = app.cipher.decrypt(app.repo.account_token_encrypted(account.id) or "")
    assert state.tokens[stored].kind == "page" and state.tokens[stored].expires_at is None
    # The Page token publishes.
    post_id = add_ready_post(app, account.id)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED
    assert state.published_count(FB_IG) == 1


def test_facebook_login_without_business_management_explains_the_missing_pages(app: App, state: GraphState) -> None:
    page = state.pages[state.accounts[FB_IG].page_id or ""]
    page.business_owned = True
    granted = ("instagram_basic", "instagram_content_publish", "pages_show_list", "pages_read_engagement")
    code = state.issue_code(FB_APP, FB_IG, scopes=granted)  # the person unticked business_management

    result = connect(["brand"], f"{REDIRECT}?code={code}&state={STATE}")

    assert result.exit_code == 3
    assert "Facebook returned none of your Pages" in result.stderr
    assert "Business Portfolio" in result.stderr and "business_management" in result.stderr
    assert "--business-manager" in result.stderr


def test_a_page_without_instagram_is_named(app: App, state: GraphState) -> None:
    other = "17841400000000099"
    state.add_account(other, None, login_kind="facebook", fb_user_id="100999")
    state.accounts.pop(other)
    state.pages[state.accounts[FB_IG].page_id or ""].ig_user_id = None
    code = state.issue_code(FB_APP, FB_IG)

    result = connect(["brand"], f"{REDIRECT}?code={code}&state={STATE}")

    assert result.exit_code == 3
    assert "none of the 1 Facebook Page(s)" in result.stderr and "Linked accounts" in result.stderr


def test_a_page_role_from_business_manager_needs_ads_read(app: App, state: GraphState) -> None:
    page = state.pages[state.accounts[FB_IG].page_id or ""]
    page.role_via_business_manager = True
    code = state.issue_code(FB_APP, FB_IG)
    result = connect(["brand"], f"{REDIRECT}?code={code}&state={STATE}")
    assert result.exit_code == 0, result.output
    assert "ads_read" not in dialog_scopes(result)

    # Without ads_read Meta refuses to publish: the post waits and the message says what to add.
    account = app.repo.require_account("brand")
    post_id = add_ready_post(app, account.id)
    assert publish_now(app, post_id).outcome is Outcome.WAITING
    row = post(app, post_id)
    assert row.status is PostStatus.READY
    assert row.last_error is not None and "--business-manager" in row.last_error
    assert app.repo.require_account("brand").needs_reconnect

    # Reconnecting with --business-manager asks for ads_read, and the post goes out.
    scopes = (*state.accounts[FB_IG].scopes, "ads_read")
    code = state.issue_code(FB_APP, FB_IG, scopes=scopes)
    again = connect(["brand", "--business-manager"], f"{REDIRECT}?code={code}&state={STATE}")
    assert again.exit_code == 0, again.output
    assert "ads_read" in dialog_scopes(again)
    from tests.integration.pipeline_helpers import set_post

    set_post(app, post_id, next_attempt_at=None)
    assert publish_now(app, post_id).outcome is Outcome.PUBLISHED


# --- refreshing Instagram Login tokens ----------------------------------------------------------------------

IG_TOKEN = "IGQW-long-lived-token-0123456789abcdef"


def add_instagram_account(app: App, state: GraphState, *, age_days: float) -> int:
    """An Instagram Login account whose 60-day token was issued ``age_days`` ago (at Meta and in our row)."""
    state.add_token(IG_TOKEN, IG_IG, kind="long", app_id=IG_APP)
    state.backdate_token(IG_TOKEN, age_days * DAY_S)
    issued = datetime.now(UTC) - timedelta(days=age_days)
    account_id = app.repo.create_account(
        name="studio",
        ig_user_id=IG_IG,
        login_kind=LoginKind.INSTAGRAM,
        dry_run=False,
        token_encrypted=app.cipher.encrypt(IG_TOKEN),
        token_expires_at=issued + timedelta(days=60),
        token_issued_at=issued,
    )
    return account_id


def test_a_token_within_ten_days_of_its_end_is_refreshed(app: App, state: GraphState) -> None:
    account_id = add_instagram_account(app, state, age_days=52)

    results = app.token_refresher.refresh_due()

    assert [(r.account, r.refreshed) for r in results] == [("studio", True)]
    account = app.repo.require_account("studio")
    assert account.token_expires_at is not None
    assert account.token_expires_at > datetime.now(UTC) + timedelta(days=59)
    fresh = app.cipher.decrypt(app.repo.account_token_encrypted(account_id) or "")
    assert fresh != IG_TOKEN and state.tokens[fresh].kind == "long"
    assert app.token_refresher.refresh_due() == []  # nothing is due any more
    assert sum(1 for r in state.requests if r.path.endswith("/refresh_access_token")) == 1


def test_a_token_far_from_its_end_is_left_alone(app: App, state: GraphState) -> None:
    add_instagram_account(app, state, age_days=20)
    assert app.token_refresher.refresh_due() == []
    assert not any(r.path.endswith("/refresh_access_token") for r in state.requests)


def test_a_failed_refresh_puts_the_account_at_risk_and_is_tried_again(app: App, state: GraphState) -> None:
    add_instagram_account(app, state, age_days=55)
    state.inject_server_error("oauth", count=1)

    [result] = app.token_refresher.refresh_due()

    assert not result.refreshed
    account = app.repo.require_account("studio")
    assert not account.needs_reconnect
    assert account.token_refresh_error is not None and "postpilot account refresh studio" in account.token_refresh_error
    at_risk = app.status()["accounts_at_risk"]
    assert [a["name"] for a in at_risk] == ["studio"]
    assert "automatic refresh of the Instagram token failed" in at_risk[0]["problem"]
    # An hour later it works, and the account is no longer at risk.
    [again] = app.token_refresher.refresh_due()
    assert again.refreshed
    assert app.repo.require_account("studio").token_refresh_error is None
    assert app.status()["accounts_at_risk"] == []


def test_a_revoked_token_needs_reconnecting(app: App, state: GraphState) -> None:
    add_instagram_account(app, state, age_days=55)
    state.revoke_token(IG_TOKEN, subcode=460)

    [result] = app.token_refresher.refresh_due()

    assert not result.refreshed
    account = app.repo.require_account("studio")
    assert account.needs_reconnect
    assert account.last_error is not None and "postpilot account connect studio" in account.last_error


def test_two_replicas_refreshing_at_once_never_go_backwards(app: App, state: GraphState) -> None:
    account_id = add_instagram_account(app, state, age_days=55)
    [due] = app.token_refresher.due()
    first = app.token_refresher.refresh(due)
    second = app.token_refresher.refresh(due)  # the other replica read the account before the first stored

    assert first.refreshed and not second.refreshed
    stored = app.cipher.decrypt(app.repo.account_token_encrypted(account_id) or "")
    assert state.tokens[stored].kind == "long" and not state.tokens[stored].is_expired(state.now())


# --- refreshing by the daemon and by run-once ------------------------------------------------------------------


def refresh_calls(state: GraphState) -> int:
    return sum(1 for r in state.requests if r.path.endswith("/refresh_access_token"))


def test_run_once_refreshes_a_due_instagram_login_token(app: App, state: GraphState) -> None:
    account_id = add_instagram_account(app, state, age_days=52)  # 8 days left

    run_once(app)

    assert refresh_calls(state) == 1
    account = app.repo.require_account("studio")
    assert account.token_expires_at is not None
    assert account.token_expires_at > datetime.now(UTC) + timedelta(days=59)
    assert account.token_issued_at is not None and account.token_issued_at > datetime.now(UTC) - timedelta(minutes=5)
    assert account.token_refresh_error is None and not account.needs_reconnect
    fresh = app.cipher.decrypt(app.repo.account_token_encrypted(account_id) or "")
    assert fresh != IG_TOKEN and not state.tokens[fresh].is_expired(state.now())
    run_once(app)  # the next pass finds nothing due
    assert refresh_calls(state) == 1


def test_the_daemons_hourly_job_refreshes_a_due_instagram_login_token(app: App, state: GraphState) -> None:
    add_instagram_account(app, state, age_days=55)
    daemon = app.daemon()
    try:
        daemon.jobs.refresh_tokens()  # the "token-refresh" job, run at start and every REFRESH_EVERY_S
    finally:
        daemon.runner.shutdown(timeout_s=5.0)

    assert refresh_calls(state) == 1
    account = app.repo.require_account("studio")
    assert account.token_expires_at is not None and account.token_expires_at > datetime.now(UTC) + timedelta(days=59)


def test_a_token_younger_than_a_day_is_left_alone_even_within_ten_days_of_its_end(app: App, state: GraphState) -> None:
    """Meta refreshes only tokens at least 24 h old: one issued 12 h ago that ends in 5 days (a short-lived
    grant, or a clock that says so) is not sent to Meta, by the refresher nor by run-once; 13 h later it is."""
    issued = datetime.now(UTC) - timedelta(hours=12)
    state.add_token(IG_TOKEN, IG_IG, kind="long", app_id=IG_APP, expires_in=5 * DAY_S + 12 * 3600)
    state.backdate_token(IG_TOKEN, 12 * 3600)  # at Meta too: issued 12 h ago, 5 days left
    app.repo.create_account(
        name="studio",
        ig_user_id=IG_IG,
        login_kind=LoginKind.INSTAGRAM,
        dry_run=False,
        token_encrypted=app.cipher.encrypt(IG_TOKEN),
        token_expires_at=datetime.now(UTC) + timedelta(days=5),
        token_issued_at=issued,
    )

    assert app.token_refresher.due() == []
    assert app.token_refresher.refresh_due() == []
    run_once(app)

    assert refresh_calls(state) == 0
    account = app.repo.require_account("studio")
    assert account.token_issued_at == issued and account.token_refresh_error is None

    # Thirteen hours later (on both clocks) the token is a day old, still within ten days of its end: refreshed.
    state.advance(13 * 3600)
    later = TokenRefresher(
        repo=app.repo,
        cipher=lambda: app.cipher,
        http=app.http,
        instagram_graph_url=app.settings.instagram_graph_url,
        timeout_s=5.0,
        now=lambda: datetime.now(UTC) + timedelta(hours=13),
    )
    assert [(r.account, r.refreshed) for r in later.refresh_due()] == [("studio", True)]
    assert refresh_calls(state) == 1
