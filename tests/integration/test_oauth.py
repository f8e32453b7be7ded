"""The account-connection helpers against the Graph API fake's OAuth endpoints on 127.0.0.1.

requests-oauthlib refuses plain http unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set, so the tests that talk
to the fake set it (and one test proves that without it the refusal is a clear ConfigError).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from postpilot.domain.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    NeedsReconnect,
    Permanent,
    PostpilotError,
    Transient,
)
from postpilot.domain.model import LoginKind
from postpilot.instagram.oauth import (
    FACEBOOK_SCOPES,
    INSTAGRAM_SCOPES,
    PageChoice,
    Token,
    TokenCheck,
    check_token,
    facebook_authorization_url,
    facebook_exchange,
    instagram_authorization_url,
    instagram_exchange,
    list_pages_with_instagram,
    refresh_instagram_token,
)
from tests.fakes.base import FakeServer
from tests.fakes.graph import LONG_LIVED_EXPIRES_IN, GraphState, make_server

FB_APP, FB_SECRET = "1111222233334444", "fbappsecret0123456789abcdef"
IG_APP, IG_SECRET = "5555666677778888", "igappsecret0123456789abcdef"
REDIRECT = "https://localhost/postpilot/callback"
FB_IG = "17841400000000011"
IG_IG = "17841400000000022"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


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
    with make_server(state) as server:
        yield server
    assert state.token_in_url_count == 0  # data calls: header only


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    text = str(error)
    for secret in (FB_SECRET, IG_SECRET, *secrets):
        assert secret not in text
    # Not chained to the HTTP library's exception, whose request URL holds Meta's query secrets.
    assert error.__cause__ is None


def connect_facebook(server: FakeServer[GraphState], http: httpx.Client, **overrides: object) -> Token:
    _, state = facebook_authorization_url(
        app_id=FB_APP, redirect_uri=REDIRECT, dialog_base="https://www.facebook.com", version="v25.0"
    )
    code = server.state.issue_code(FB_APP, FB_IG)
    options: dict[str, object] = {
        "http": http,
        "app_id": FB_APP,
        "app_secret": FB_SECRET,
        "redirect_uri": REDIRECT,
        "redirect_response_url": f"{REDIRECT}?code={code}&state={state}",
        "state": state,
        "graph_url": server.url,
        "version": "v25.0",
        "timeout_s": 5.0,
        "now": NOW,
    }
    options.update(overrides)
    return facebook_exchange(**options)  # type: ignore[arg-type]


def connect_instagram(server: FakeServer[GraphState], http: httpx.Client, **overrides: object) -> Token:
    _, state = instagram_authorization_url(app_id=IG_APP, redirect_uri=REDIRECT, oauth_base="https://www.instagram.com")
    code = server.state.issue_code(IG_APP, IG_IG)
    options: dict[str, object] = {
        "http": http,
        "app_id": IG_APP,
        "app_secret": IG_SECRET,
        "redirect_uri": REDIRECT,
        "redirect_response_url": f"{REDIRECT}?code={code}&state={state}#_",
        "state": state,
        "api_url": server.url,
        "graph_url": server.url,
        "timeout_s": 5.0,
        "now": NOW,
    }
    options.update(overrides)
    return instagram_exchange(**options)  # type: ignore[arg-type]


# --- Facebook Login ----------------------------------------------------------------------------------------


def test_facebook_authorization_url() -> None:
    url, state = facebook_authorization_url(
        app_id=FB_APP, redirect_uri=REDIRECT, dialog_base="https://www.facebook.com/", version="v25.0"
    )
    assert url.startswith("https://www.facebook.com/v25.0/dialog/oauth?")
    query = query_of(url)
    assert query["client_id"] == FB_APP
    assert query["redirect_uri"] == REDIRECT
    assert query["response_type"] == "code"
    assert query["state"] == state and len(state) >= 16
    assert set(query["scope"].replace(",", " ").split()) == set(FACEBOOK_SCOPES)


def test_an_http_dialog_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    with pytest.raises(ConfigError, match="https"):
        facebook_authorization_url(
            app_id=FB_APP, redirect_uri=REDIRECT, dialog_base="http://fb.example", version="v25.0"
        )


def test_facebook_connect_pages_and_check(server: FakeServer[GraphState], http: httpx.Client) -> None:
    state = server.state
    token = connect_facebook(server, http)
    assert token.login_kind is LoginKind.FACEBOOK
    assert token.issued_at == NOW
    assert token.expires_at == NOW + timedelta(seconds=LONG_LIVED_EXPIRES_IN)
    assert state.tokens[token.access_token].kind == "long"
    assert token.access_token not in repr(token)
    # The code went in a POST body (client id and secret too), never in a query string.
    code_exchange = next(r for r in state.requests if r.kind == "oauth")
    assert code_exchange.method == "POST"
    assert code_exchange.params["client_id"] == FB_APP
    assert code_exchange.params["client_secret"] == FB_SECRET

    fb_user = state.accounts[FB_IG].fb_user_id
    assert fb_user is not None
    state.add_page(fb_user, "A page without Instagram")
    listing = list_pages_with_instagram(
        http, token=token.access_token, graph_url=server.url, version="v25.0", timeout_s=5
    )
    assert listing.pages_seen == 2
    pages = listing.choices
    assert pages == [PageChoice(str(state.accounts[FB_IG].page_id), "Brand Page", FB_IG, pages[0].page_token)]
    assert pages[0].page_token and pages[0].page_token not in repr(pages[0])

    check = check_token(
        http=http,
        login_kind=LoginKind.FACEBOOK,
        token=token.access_token,
        graph_url=server.url,
        version="v25.0",
        timeout_s=5,
        app_id=FB_APP,
        app_secret=FB_SECRET,
    )
    assert check.valid and check.problem is None
    assert set(check.scopes) == set(FACEBOOK_SCOPES)
    assert check.missing_scopes == ()
    assert check.expires_at is not None and check.expires_at.tzinfo is not None

    page_check = check_token(
        http=http,
        login_kind=LoginKind.FACEBOOK,
        token=str(pages[0].page_token),
        graph_url=server.url,
        version="v25.0",
        timeout_s=5,
        app_id=FB_APP,
        app_secret=FB_SECRET,
    )
    assert page_check.valid and page_check.expires_at is None  # a Page token does not expire


def test_facebook_check_reports_missing_scopes_and_invalid_tokens(
    server: FakeServer[GraphState], http: httpx.Client
) -> None:
    state = server.state
    state.add_token("EAAnarrowtoken0123456789", FB_IG, scopes=["instagram_basic", "pages_show_list"])
    state.add_token("EAAexpiredtoken0123456789", FB_IG)
    state.expire_token("EAAexpiredtoken0123456789")

    def check(token: str, secret: str = FB_SECRET) -> TokenCheck:
        return check_token(
            http=http,
            login_kind=LoginKind.FACEBOOK,
            token=token,
            graph_url=server.url,
            version="v25.0",
            timeout_s=5,
            app_id=FB_APP,
            app_secret=secret,
        )

    narrow = check("EAAnarrowtoken0123456789")
    assert narrow.valid
    assert narrow.missing_scopes == ("instagram_content_publish", "pages_read_engagement")
    expired = check("EAAexpiredtoken0123456789")
    assert not expired.valid
    assert expired.problem and "Session has expired" in expired.problem
    assert "EAAexpiredtoken0123456789" not in expired.problem
    assert not check("EAAnosuchtoken0123456789").valid
    with pytest.raises(ConfigError, match="app id/secret") as caught:
        check("EAAnarrowtoken0123456789", secret="wrong-secret-0123456789")
    assert_no_secret(caught.value, "wrong-secret-0123456789")
    with pytest.raises(ConfigError):
        check_token(
            http=http, login_kind=LoginKind.FACEBOOK, token="x", graph_url=server.url, version="v25.0", timeout_s=5
        )


def test_facebook_state_mismatch_is_refused_before_any_request(
    server: FakeServer[GraphState], http: httpx.Client
) -> None:
    code = server.state.issue_code(FB_APP, FB_IG)
    with pytest.raises(InvalidInput, match="does not belong to this login attempt"):
        connect_facebook(server, http, redirect_response_url=f"{REDIRECT}?code={code}&state=forged")
    assert server.state.requests == []


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("error=access_denied&error_reason=user_denied&error_description=Permissions+error", "declined"),
        ("", "no authorization code"),
    ],
)
def test_facebook_declined_or_codeless_redirect(
    server: FakeServer[GraphState], http: httpx.Client, query: str, says: str
) -> None:
    _, state = facebook_authorization_url(
        app_id=FB_APP, redirect_uri=REDIRECT, dialog_base="https://www.facebook.com", version="v25.0"
    )
    separator = "&" if query else ""
    with pytest.raises(InvalidInput, match=says):
        connect_facebook(server, http, state=state, redirect_response_url=f"{REDIRECT}?{query}{separator}state={state}")


def test_facebook_code_used_twice(server: FakeServer[GraphState], http: httpx.Client) -> None:
    _, state = facebook_authorization_url(
        app_id=FB_APP, redirect_uri=REDIRECT, dialog_base="https://www.facebook.com", version="v25.0"
    )
    code = server.state.issue_code(FB_APP, FB_IG)
    redirect = f"{REDIRECT}?code={code}&state={state}"
    connect_facebook(server, http, state=state, redirect_response_url=redirect)
    with pytest.raises(Permanent, match="has been used") as caught:
        connect_facebook(server, http, state=state, redirect_response_url=redirect)
    assert_no_secret(caught.value, code)


def test_facebook_wrong_app_secret(server: FakeServer[GraphState], http: httpx.Client) -> None:
    with pytest.raises(Permanent, match="app's credentials") as caught:
        connect_facebook(server, http, app_secret="not-the-secret-0123456789")
    assert_no_secret(caught.value, "not-the-secret-0123456789")


def test_facebook_token_endpoint_answering_html_502(server: FakeServer[GraphState], http: httpx.Client) -> None:
    server.state.inject_server_error("oauth", status=502, html=True)
    with pytest.raises(Transient):
        connect_facebook(server, http)


def test_plain_http_token_endpoint_without_the_test_switch(
    server: FakeServer[GraphState], http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    with pytest.raises(ConfigError, match="https"):
        connect_facebook(server, http)


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_unreachable_token_endpoint_hides_the_query(
    server: FakeServer[GraphState], http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Transient) as caught:
        connect_facebook(server, http, graph_url=_closed_port_url())
    assert "/v25.0/oauth/access_token" in caught.value.message
    assert_no_secret(caught.value)


def test_unreachable_graph_for_the_long_lived_exchange_hides_the_query(
    server: FakeServer[GraphState], http: httpx.Client
) -> None:
    """The secret and the short token travel in this GET's query (Meta's API): the error must not show them."""
    with pytest.raises(Transient) as caught:
        refresh_instagram_token(
            http=http,
            graph_url=_closed_port_url(),
            token="IGQVJshorttoken0123456789",
            expires_at=NOW + timedelta(days=30),
            timeout_s=2,
            now=NOW,
        )
    assert_no_secret(caught.value, "IGQVJshorttoken0123456789")
    assert "refresh_access_token" in caught.value.message


# --- Instagram Login ---------------------------------------------------------------------------------------


def test_instagram_authorization_url() -> None:
    url, state = instagram_authorization_url(
        app_id=IG_APP, redirect_uri=REDIRECT, oauth_base="https://www.instagram.com"
    )
    assert url.startswith("https://www.instagram.com/oauth/authorize?")
    query = query_of(url)
    assert query["scope"] == ",".join(INSTAGRAM_SCOPES)
    assert (query["client_id"], query["redirect_uri"], query["response_type"], query["state"]) == (
        IG_APP,
        REDIRECT,
        "code",
        state,
    )


@pytest.mark.parametrize("style", ["flat", "data"])
def test_instagram_connect(server: FakeServer[GraphState], http: httpx.Client, style: str) -> None:
    server.state.ig_code_response_style = style
    token = connect_instagram(server, http)
    assert token.login_kind is LoginKind.INSTAGRAM
    assert token.user_id == IG_IG
    assert set(token.scopes) == set(INSTAGRAM_SCOPES)
    assert token.expires_at == NOW + timedelta(seconds=LONG_LIVED_EXPIRES_IN)
    assert server.state.tokens[token.access_token].kind == "long"

    check = check_token(
        http=http,
        login_kind=LoginKind.INSTAGRAM,
        token=token.access_token,
        graph_url=server.url,
        version="v25.0",
        timeout_s=5,
        expires_at=token.expires_at,
        now=NOW,
    )
    assert (check.valid, check.user_id, check.username, check.expires_at) == (True, IG_IG, "studio", token.expires_at)


def test_instagram_code_with_wrong_secret(server: FakeServer[GraphState], http: httpx.Client) -> None:
    with pytest.raises(PostpilotError) as caught:
        connect_instagram(server, http, app_secret="not-the-secret-0123456789")
    assert "client secret" in caught.value.message
    assert_no_secret(caught.value, "not-the-secret-0123456789")


def _young_ig_token(state: GraphState) -> str:
    state.add_token("IGQVJlongtoken0123456789abc", IG_IG, app_id=IG_APP)
    return "IGQVJlongtoken0123456789abc"


def test_refresh_refuses_a_young_token_locally(server: FakeServer[GraphState], http: httpx.Client) -> None:
    token = _young_ig_token(server.state)
    for issued_at in (NOW - timedelta(hours=3), None):
        with pytest.raises(Conflict, match="less than 24 hours old"):
            refresh_instagram_token(
                http=http,
                graph_url=server.url,
                token=token,
                issued_at=issued_at,
                expires_at=NOW + timedelta(days=60) - timedelta(hours=3),
                timeout_s=5,
                now=NOW,
            )
    assert server.state.requests == []


def test_refresh_refuses_an_expired_token_locally(server: FakeServer[GraphState], http: httpx.Client) -> None:
    with pytest.raises(Conflict, match="postpilot account connect studio"):
        refresh_instagram_token(
            http=http,
            graph_url=server.url,
            token=_young_ig_token(server.state),
            expires_at=NOW - timedelta(minutes=1),
            timeout_s=5,
            account="studio",
            now=NOW,
        )
    assert server.state.requests == []


def test_refresh_an_old_enough_token(server: FakeServer[GraphState], http: httpx.Client) -> None:
    token = _young_ig_token(server.state)
    server.state.backdate_token(token, 2 * 86_400)
    fresh = refresh_instagram_token(
        http=http,
        graph_url=server.url,
        token=token,
        issued_at=NOW - timedelta(days=2),
        expires_at=NOW + timedelta(days=58),
        timeout_s=5,
        now=NOW,
    )
    assert fresh.access_token != token
    assert server.state.tokens[fresh.access_token].kind == "long"
    assert fresh.expires_at is not None
    assert fresh.expires_at - fresh.issued_at == timedelta(seconds=LONG_LIVED_EXPIRES_IN)
    refresh_call = next(r for r in server.state.requests if r.kind == "oauth")
    assert refresh_call.params["grant_type"] == "ig_refresh_token"


def test_refresh_of_a_revoked_token_needs_reconnect(server: FakeServer[GraphState], http: httpx.Client) -> None:
    token = _young_ig_token(server.state)
    server.state.backdate_token(token, 2 * 86_400)
    server.state.revoke_token(token, subcode=458)
    with pytest.raises(NeedsReconnect, match="postpilot account connect studio") as caught:
        refresh_instagram_token(
            http=http,
            graph_url=server.url,
            token=token,
            expires_at=NOW + timedelta(days=58),
            timeout_s=5,
            account="studio",
            now=NOW,
        )
    assert_no_secret(caught.value, token)


def test_instagram_check_of_a_dead_or_overdue_token(server: FakeServer[GraphState], http: httpx.Client) -> None:
    token = _young_ig_token(server.state)

    def check(expires_at: datetime | None) -> TokenCheck:
        return check_token(
            http=http,
            login_kind=LoginKind.INSTAGRAM,
            token=token,
            graph_url=server.url,
            version="",
            timeout_s=5,
            expires_at=expires_at,
            now=NOW,
        )

    overdue = check(NOW - timedelta(hours=1))
    assert not overdue.valid and overdue.problem and "expired on" in overdue.problem
    server.state.expire_token(token)
    dead = check(NOW + timedelta(days=10))
    assert not dead.valid
    assert dead.problem and "expired" in dead.problem and token not in dead.problem
