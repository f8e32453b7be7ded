"""GraphClient over real HTTP against the Graph API fake (``tests/fakes/graph/``) on 127.0.0.1.

Client-level flows (photo, carousel of 2/5/10, reel), each error class the client must produce, and the
faults that matter for "never twice": a publish whose response is lost, dropped or too slow is
``OutcomeUnknown``; one that never left is ``Transient``. After every test the fake confirms that no data
request carried the token in its URL.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from postpilot.domain.errors import (
    MediaFetchFailed,
    NeedsNewContainer,
    NeedsReconnect,
    OutcomeUnknown,
    Permanent,
    QuotaExhausted,
    Throttled,
    Transient,
)
from postpilot.instagram.client import GraphClient
from tests.fakes.base import FakeServer
from tests.fakes.graph import GraphState, make_server

IG = "17841400000000001"
TOKEN = "EAAGwiretesttoken0123456789abcdef"
IMG = "https://cdn.example/a.jpg"


@pytest.fixture
def state() -> GraphState:
    state = GraphState(image_delay_s=0.0, video_delay_s=30.0)
    state.add_account(IG, TOKEN, username="brand")
    return state


@pytest.fixture
def server(state: GraphState, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer[GraphState]]:
    # The handler writes headers and body separately; with Nagle on, each answer waits ~40 ms for the
    # client's delayed ACK. (Belongs in tests/fakes/base.py; harmless once it is there.)
    with make_server(state) as server:
        yield server
    # Every test: the token only ever travelled in the Authorization header.
    assert state.token_in_url_count == 0
    assert all(not r.token_in_url for r in state.requests)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def client_for(server: FakeServer[GraphState], http: httpx.Client, **overrides: object) -> GraphClient:
    options: dict[str, object] = {
        "http": http,
        "base_url": server.url,
        "version": "v25.0",
        "token": TOKEN,
        "timeout_s": 5.0,
        "publish_timeout_s": 5.0,
        "account": "brand",
    }
    options.update(overrides)
    return GraphClient(**options)  # type: ignore[arg-type]


@pytest.fixture
def client(server: FakeServer[GraphState], http: httpx.Client) -> GraphClient:
    return client_for(server, http)


# --- flows -------------------------------------------------------------------------------------------------


def test_photo_flow(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG, caption="Hello #tea", alt_text="A cup")
    assert client.container_status(container).status_code == "FINISHED"
    before = client.publishing_limit(IG)
    assert (before.quota_usage, before.quota_total, before.quota_duration_s) == (0, 50, 86400)

    media_id = client.publish(IG, container)

    info = client.media_info(media_id)
    assert info.id == media_id
    assert info.permalink and info.permalink.startswith("https://www.instagram.com/p/")
    assert info.media_type == "IMAGE"
    assert info.caption == "Hello #tea"
    assert info.timestamp is not None and info.timestamp.tzinfo is not None
    assert client.container_status(container).status_code == "PUBLISHED"
    assert client.publishing_limit(IG).quota_usage == 1
    assert state.published_count(IG) == 1
    assert state.publish_calls == {container: 1}
    assert state.containers[container].alt_text == "A cup"
    assert all(r.token == TOKEN for r in state.requests)


@pytest.mark.parametrize("items", [2, 5, 10])
def test_carousel_flow(client: GraphClient, state: GraphState, items: int) -> None:
    children = [
        client.create_image_container(IG, image_url=f"https://cdn.example/{i}.jpg", is_carousel_item=True)
        for i in range(items)
    ]
    assert {client.container_status(c).status_code for c in children} == {"FINISHED"}
    parent = client.create_carousel_container(IG, children=children, caption="Many")
    assert client.container_status(parent).status_code == "FINISHED"
    media_id = client.publish(IG, parent)
    assert client.media_info(media_id).media_type == "CAROUSEL_ALBUM"
    assert state.published_count(IG) == 1
    assert client.publishing_limit(IG).quota_usage == 1  # a carousel counts once
    assert state.containers[parent].children == children


@pytest.mark.parametrize("items", [1, 11])
def test_carousel_of_the_wrong_size_is_permanent(client: GraphClient, items: int) -> None:
    children = [client.create_image_container(IG, image_url=IMG, is_carousel_item=True) for _ in range(items)]
    with pytest.raises(Permanent, match="2 to 10 items"):
        client.create_carousel_container(IG, children=children, caption="x")


def test_reel_flow(client: GraphClient, state: GraphState) -> None:
    container = client.create_reel_container(
        IG, video_url="https://cdn.example/v.mp4", caption="Reel", cover_url="https://cdn.example/c.jpg"
    )
    assert client.container_status(container).status_code == "IN_PROGRESS"
    with pytest.raises(Transient, match="still processing") as caught:
        client.publish(IG, container)  # 9007/2207027: nothing published, publish again later
    assert not isinstance(caught.value, OutcomeUnknown)
    state.advance(31)
    assert client.container_status(container).status_code == "FINISHED"
    media_id = client.publish(IG, container)
    info = client.media_info(media_id)
    assert info.media_type == "VIDEO"
    assert info.permalink and "/reel/" in info.permalink
    stored = state.containers[container]
    assert (stored.media_type, stored.share_to_feed, stored.cover_url) == ("REELS", True, "https://cdn.example/c.jpg")


def test_recent_media_pages_by_cursor(client: GraphClient, state: GraphState) -> None:
    state.accounts[IG].quota_total = 100
    for i in range(55):
        client.publish(IG, client.create_image_container(IG, image_url=IMG, caption=f"post {i}"))
    recent = client.recent_media(IG, limit=55)
    assert [m.caption for m in recent] == [f"post {i}" for i in reversed(range(55))]  # newest first
    media_reads = [r for r in state.requests if r.kind == "media_read"]
    assert len(media_reads) == 2  # 50 + 5: the second page came from the cursor, not the token-bearing link


def test_instagram_login_host_without_a_version(server: FakeServer[GraphState], http: httpx.Client) -> None:
    server.state.add_account("17841400000000002", "IGQVJtokenforinstagramlogin0123", login_kind="instagram")
    client = client_for(server, http, token="IGQVJtokenforinstagramlogin0123", version="")
    assert client.me(["user_id", "username"])["user_id"] == "17841400000000002"
    container = client.create_image_container("17841400000000002", image_url=IMG, caption="IG login")
    assert client.publish("17841400000000002", container)
    assert server.state.published_count("17841400000000002") == 1


# --- errors ------------------------------------------------------------------------------------------------


def test_expired_token_needs_reconnect(client: GraphClient, state: GraphState) -> None:
    state.inject_token_expired("create")
    with pytest.raises(NeedsReconnect, match=r"has expired\. Run: postpilot account connect brand") as caught:
        client.create_image_container(IG, image_url=IMG)
    assert TOKEN not in str(caught.value)
    with pytest.raises(NeedsReconnect):
        client.container_status("1790")  # stays expired


def test_revoked_token_needs_reconnect(client: GraphClient, state: GraphState) -> None:
    state.revoke_token(TOKEN, subcode=460)
    with pytest.raises(NeedsReconnect, match="password was changed"):
        client.publishing_limit(IG)


def test_missing_publish_permission_needs_reconnect(server: FakeServer[GraphState], http: httpx.Client) -> None:
    server.state.add_token("EAAGnarrowtoken0123456789abcdefgh", IG, scopes=["instagram_basic"])
    client = client_for(server, http, token="EAAGnarrowtoken0123456789abcdefgh")
    with pytest.raises(NeedsReconnect, match="lacks a permission"):
        client.create_image_container(IG, image_url=IMG)


@pytest.mark.parametrize("code", [4, 17, 80002])
def test_rate_limit_is_throttled_with_the_header_wait(client: GraphClient, state: GraphState, code: int) -> None:
    state.inject_rate_limit("create", code=code, regain_minutes=7)
    with pytest.raises(Throttled) as caught:
        client.create_image_container(IG, image_url=IMG)
    assert caught.value.retry_after_s == 420.0


def test_quota_exhausted(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.consume_quota(IG, 50)
    assert client.publishing_limit(IG).quota_usage == 50
    with pytest.raises(QuotaExhausted):
        client.publish(IG, container)
    assert state.published_count(IG) == 0


@pytest.mark.parametrize("kind", ["create", "status"])
def test_meta_transient_errors_are_transient(client: GraphClient, state: GraphState, kind: str) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.inject_transient(kind, code=2)
    with pytest.raises(Transient) as caught:
        if kind == "create":
            client.create_image_container(IG, image_url=IMG)
        else:
            client.container_status(container)
    assert type(caught.value) is Transient


def test_html_502_is_transient_outside_publish(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.inject_server_error("status", status=502, html=True)
    with pytest.raises(Transient, match="HTTP 502"):
        client.container_status(container)


@pytest.mark.parametrize("html", [True, False])
def test_5xx_on_publish_is_outcome_unknown(client: GraphClient, state: GraphState, html: bool) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.inject_server_error("publish", status=502 if html else 500, html=html)
    with pytest.raises(OutcomeUnknown):
        client.publish(IG, container)


def test_spam_block_that_published_anyway_is_outcome_unknown(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.inject_spam_block(published=True)
    with pytest.raises(OutcomeUnknown, match="may be live anyway"):
        client.publish(IG, container)
    assert state.published_count(IG) == 1
    assert client.container_status(container).status_code == "PUBLISHED"


def test_expired_container_needs_a_new_one(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.expire_container(container)
    assert client.container_status(container).status_code == "EXPIRED"
    with pytest.raises(NeedsNewContainer):
        client.publish(IG, container)


def test_container_not_found_yet_is_transient(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.inject_error("publish", 24, 2207008)
    with pytest.raises(Transient, match="can be temporary") as caught:
        client.publish(IG, container)
    assert caught.value.retry_after_s == 30
    assert client.publish(IG, container)


def test_container_that_failed_reads_error(client: GraphClient, state: GraphState) -> None:
    state.script_containers("ERROR", error_subcode=2207026)
    container = client.create_reel_container(IG, video_url="https://cdn.example/v.mp4")
    state.advance(31)
    status = client.container_status(container)
    assert status.status_code == "ERROR"
    assert status.status and "2207026" in status.status


def test_unfetchable_media_is_a_media_fetch_failure_to_try_again(client: GraphClient) -> None:
    with pytest.raises(MediaFetchFailed, match=r"could not download the media from ftp://files\.example/a\.jpg;"):
        client.create_image_container(IG, image_url="ftp://files.example/a.jpg?sig=secret")


def test_caption_too_long_is_permanent(client: GraphClient) -> None:
    with pytest.raises(Permanent, match="2,200 characters"):
        client.create_image_container(IG, image_url=IMG, caption="x" * 2201)


def test_fresh_object_not_visible_yet_is_a_short_transient(client: GraphClient, state: GraphState) -> None:
    state.hide_fresh_objects(1)
    container = client.create_image_container(IG, image_url=IMG)
    with pytest.raises(Transient, match="not show the new object yet") as caught:
        client.container_status(container)
    assert caught.value.retry_after_s == 2
    assert client.container_status(container).status_code == "FINISHED"


def test_unknown_account_at_creation_needs_reconnect(client: GraphClient) -> None:
    with pytest.raises(NeedsReconnect, match="does not know this account"):
        client.create_image_container("17849999999999999", image_url=IMG)


# --- the faults that decide "never twice" ------------------------------------------------------------------


def test_lost_response_on_publish_is_outcome_unknown(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG, caption="lost")
    state.inject_lost_response("publish")
    with pytest.raises(OutcomeUnknown):
        client.publish(IG, container)
    # It went live: reading the container tells, and the recent media show it.
    assert state.published_count(IG) == 1
    assert state.publish_calls == {container: 1}
    assert client.container_status(container).status_code == "PUBLISHED"
    assert [m.caption for m in client.recent_media(IG, limit=5)] == ["lost"]


def test_dropped_publish_that_did_nothing_is_still_outcome_unknown(client: GraphClient, state: GraphState) -> None:
    container = client.create_image_container(IG, image_url=IMG)
    state.inject_drop("publish")
    with pytest.raises(OutcomeUnknown):
        client.publish(IG, container)
    assert state.published_count(IG) == 0
    assert client.container_status(container).status_code == "FINISHED"  # reconcile: safe to publish


def test_publish_timeout_is_outcome_unknown(server: FakeServer[GraphState], http: httpx.Client) -> None:
    client = client_for(server, http, publish_timeout_s=0.3)
    container = client.create_image_container(IG, image_url=IMG)
    server.state.inject_slow("publish", 1.0, commit_first=True)
    with pytest.raises(OutcomeUnknown, match="timed out"):
        client.publish(IG, container)
    assert server.state.published_count(IG) == 1


def test_dropped_connection_elsewhere_is_transient(client: GraphClient, state: GraphState) -> None:
    state.inject_drop("create")
    with pytest.raises(Transient) as caught:
        client.create_image_container(IG, image_url=IMG)
    assert type(caught.value) is Transient


def test_publish_that_cannot_connect_is_transient(http: httpx.Client) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = GraphClient(
        http=http,
        base_url=f"http://127.0.0.1:{port}",
        version="v25.0",
        token=TOKEN,
        timeout_s=2.0,
        publish_timeout_s=2.0,
    )
    with pytest.raises(Transient, match="nothing was sent") as caught:
        client.publish(IG, "1790")
    assert not isinstance(caught.value, OutcomeUnknown)
