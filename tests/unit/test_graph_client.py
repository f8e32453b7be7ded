"""GraphClient against ``httpx.MockTransport``: request shapes, error parsing, and the publish rules
(any doubt after the request may have left → OutcomeUnknown; provably never sent → Transient)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from postpilot.domain.errors import (
    ConfigError,
    MediaFetchFailed,
    NeedsReconnect,
    OutcomeUnknown,
    Permanent,
    Throttled,
    Transient,
)
from postpilot.instagram.answers import parse_graph_time
from postpilot.instagram.client import GraphClient
from postpilot.instagram.graph_api import ContainerStatus, GraphApi, MediaInfo, PublishingLimit
from postpilot.instagram.recording import RecordingGraphClient

TOKEN = "EAAGtesttokenvalue0123456789abcdef"
IG = "17841400000000001"

Handler = Callable[[httpx.Request], httpx.Response]


class Wire:
    """A MockTransport that records requests and answers with a handler the test sets."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.handler: Handler = lambda request: httpx.Response(200, json={"id": "1"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def http(wire: Wire) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(wire)) as client:
        yield client


def make_client(http: httpx.Client, **overrides: object) -> GraphClient:
    options: dict[str, object] = {
        "http": http,
        "base_url": "https://graph.facebook.com",
        "version": "v25.0",
        "token": TOKEN,
        "timeout_s": 5.0,
        "publish_timeout_s": 40.0,
        "account": "shop",
    }
    options.update(overrides)
    return GraphClient(**options)  # type: ignore[arg-type]


@pytest.fixture
def client(http: httpx.Client) -> GraphClient:
    return make_client(http)


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


def assert_token_only_in_header(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert TOKEN not in request.content.decode()
    assert "access_token" not in str(request.url)


def graph_error(code: int, subcode: int | None = None, *, status: int = 400, **extra: object) -> Handler:
    error: dict[str, object] = {"message": "Meta message", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return lambda request: httpx.Response(status, json={"error": error})


# --- request shapes ----------------------------------------------------------------------------------------


def test_image_container_request(client: GraphClient, wire: Wire) -> None:
    wire.handler = lambda request: httpx.Response(200, json={"id": "c-1"})
    container = client.create_image_container(
        IG, image_url="https://cdn.example/a.jpg", caption="Hello #world", alt_text="A cup of tea"
    )
    assert container == "c-1"
    request = wire.last
    assert request.method == "POST"
    assert str(request.url) == f"https://graph.facebook.com/v25.0/{IG}/media"
    assert form_of(request) == {
        "image_url": "https://cdn.example/a.jpg",
        "caption": "Hello #world",
        "alt_text": "A cup of tea",
    }
    assert_token_only_in_header(request)
    assert request.extensions["timeout"]["read"] == 5.0


def test_carousel_item_has_no_caption(client: GraphClient, wire: Wire) -> None:
    client.create_image_container(
        IG, image_url="https://cdn.example/a.jpg", caption="ignored", alt_text=None, is_carousel_item=True
    )
    assert form_of(wire.last) == {"image_url": "https://cdn.example/a.jpg", "is_carousel_item": "true"}


def test_carousel_parent_request(client: GraphClient, wire: Wire) -> None:
    client.create_carousel_container(IG, children=["c1", "c2", "c3"], caption="Three")
    assert form_of(wire.last) == {"media_type": "CAROUSEL", "children": "c1,c2,c3", "caption": "Three"}
    assert_token_only_in_header(wire.last)


def test_reel_request(client: GraphClient, wire: Wire) -> None:
    client.create_reel_container(
        IG, video_url="https://cdn.example/v.mp4", caption="Reel", cover_url="https://cdn.example/c.jpg"
    )
    assert form_of(wire.last) == {
        "media_type": "REELS",
        "video_url": "https://cdn.example/v.mp4",
        "share_to_feed": "true",
        "caption": "Reel",
        "cover_url": "https://cdn.example/c.jpg",
    }
    client.create_reel_container(IG, video_url="https://cdn.example/v.mp4", share_to_feed=False)
    assert form_of(wire.last)["share_to_feed"] == "false"
    assert "caption" not in form_of(wire.last)


def test_container_status(client: GraphClient, wire: Wire) -> None:
    wire.handler = lambda request: httpx.Response(
        200, json={"status_code": "ERROR", "status": "Error: Media upload has failed with error code 2207026"}
    )
    status = client.container_status("c-9")
    assert status == ContainerStatus("ERROR", "Error: Media upload has failed with error code 2207026")
    request = wire.last
    assert request.method == "GET"
    assert request.url.path == "/v25.0/c-9"
    assert request.url.params["fields"] == "status_code,status"
    assert_token_only_in_header(request)


def test_publishing_limit(client: GraphClient, wire: Wire) -> None:
    wire.handler = lambda request: httpx.Response(
        200, json={"data": [{"quota_usage": 2, "config": {"quota_total": 50, "quota_duration": 86400}}]}
    )
    assert client.publishing_limit(IG) == PublishingLimit(2, 50, 86400)
    assert wire.last.url.path == f"/v25.0/{IG}/content_publishing_limit"
    assert wire.last.url.params["fields"] == "quota_usage,config"
    wire.handler = lambda request: httpx.Response(200, json={"data": []})
    assert client.publishing_limit(IG) == PublishingLimit(0, None, None)


def test_publish_request_and_timeout(client: GraphClient, wire: Wire) -> None:
    wire.handler = lambda request: httpx.Response(200, json={"id": "m-1"})
    assert client.publish(IG, "c-1") == "m-1"
    request = wire.last
    assert str(request.url) == f"https://graph.facebook.com/v25.0/{IG}/media_publish"
    assert form_of(request) == {"creation_id": "c-1"}
    assert_token_only_in_header(request)
    assert request.extensions["timeout"]["read"] == 40.0
    assert request.extensions["timeout"]["connect"] == 5.0


def test_media_info_and_timestamps(client: GraphClient, wire: Wire) -> None:
    wire.handler = lambda request: httpx.Response(
        200,
        json={
            "id": "m-1",
            "permalink": "https://www.instagram.com/p/abc/",
            "timestamp": "2026-01-31T09:30:00+0000",
            "media_type": "IMAGE",
            "caption": "Hi",
        },
    )
    info = client.media_info("m-1")
    assert info == MediaInfo(
        "m-1", "https://www.instagram.com/p/abc/", datetime(2026, 1, 31, 9, 30, tzinfo=UTC), "IMAGE", "Hi"
    )
    assert wire.last.url.params["fields"] == "id,permalink,timestamp,media_type,caption"
    assert parse_graph_time("2026-01-31T10:30:00+01:00") == datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    assert parse_graph_time("2026-01-31T10:30:00") is None
    assert parse_graph_time("yesterday") is None


def test_recent_media_follows_cursors_not_next_links(client: GraphClient, wire: Wire) -> None:
    pages = {
        None: {"data": [{"id": "3"}, {"id": "2"}], "paging": {"cursors": {"after": "A"}, "next": "x"}},
        "A": {"data": [{"id": "1"}], "paging": {"cursors": {"after": "B"}, "next": "y"}},
        "B": {"data": [{"id": "0"}], "paging": {"cursors": {"after": "C"}}},
    }
    wire.handler = lambda request: httpx.Response(200, json=pages[request.url.params.get("after")])
    media = client.recent_media(IG, limit=10)
    assert [m.id for m in media] == ["3", "2", "1", "0"]
    assert len(wire.requests) == 3
    for request in wire.requests:
        assert request.url.path == f"/v25.0/{IG}/media"
        assert_token_only_in_header(request)


def test_recent_media_stops_at_the_limit_and_the_page_cap(client: GraphClient, wire: Wire) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        n = len(wire.requests)
        return httpx.Response(
            200,
            json={
                "data": [{"id": f"{n}a"}, {"id": f"{n}b"}],
                "paging": {"cursors": {"after": str(n)}, "next": "z"},
            },
        )

    wire.handler = endless
    assert len(client.recent_media(IG, limit=3)) == 3
    assert len(wire.requests) == 2
    wire.requests.clear()
    assert len(client.recent_media(IG, limit=100)) == 6  # three pages at most
    assert len(wire.requests) == 3


def test_instagram_host_without_version(http: httpx.Client, wire: Wire) -> None:
    client = make_client(http, base_url="https://graph.instagram.com/", version="")
    wire.handler = lambda request: httpx.Response(200, json={"user_id": "1", "username": "shop"})
    assert client.me(["user_id", "username"]) == {"user_id": "1", "username": "shop"}
    assert str(wire.last.url) == "https://graph.instagram.com/me?fields=user_id%2Cusername"


def test_ids_cannot_change_the_path(client: GraphClient, wire: Wire) -> None:
    wire.handler = lambda request: httpx.Response(200, json={"status_code": "FINISHED"})
    client.container_status("1/../../me?x=1")
    assert wire.last.url.raw_path.startswith(b"/v25.0/1%2F..%2F..%2Fme%3Fx%3D1?")


def test_repr_hides_the_token(client: GraphClient) -> None:
    assert TOKEN not in repr(client)


def test_a_client_needs_a_token(http: httpx.Client) -> None:
    with pytest.raises(ConfigError):
        make_client(http, token="")


def test_protocol_is_satisfied(client: GraphClient) -> None:
    apis: list[GraphApi] = [client, RecordingGraphClient()]  # mypy checks the structural match
    assert len(apis) == 2


# --- errors ------------------------------------------------------------------------------------------------


def test_graph_error_envelope_is_classified(client: GraphClient, wire: Wire) -> None:
    wire.handler = graph_error(190, 463)
    with pytest.raises(NeedsReconnect) as caught:
        client.create_image_container(IG, image_url="https://cdn.example/a.jpg")
    assert "postpilot account connect shop" in caught.value.message


def test_a_failed_media_download_names_the_url_without_its_query(client: GraphClient, wire: Wire) -> None:
    wire.handler = graph_error(9004, 2207052)
    with pytest.raises(MediaFetchFailed) as caught:
        client.create_image_container(IG, image_url="https://res.example/a.jpg?signature=abc")
    # Often temporary (nothing is live yet): creating the container is tried again after a pause.
    assert caught.value.retry_after_s == 60.0
    assert "https://res.example/a.jpg;" in caught.value.message
    assert "signature" not in caught.value.message


def test_throttled_carries_retry_after(client: GraphClient, wire: Wire) -> None:
    usage = json.dumps({"1": [{"type": "instagram", "estimated_time_to_regain_access": 3}]})
    wire.handler = lambda request: httpx.Response(
        400,
        json={"error": {"message": "too many calls", "code": 80002, "is_transient": True}},
        headers={"X-Business-Use-Case-Usage": usage},
    )
    with pytest.raises(Throttled) as caught:
        client.container_status("c-1")
    assert caught.value.retry_after_s == 180.0


def test_metas_message_never_shows_the_token(client: GraphClient, wire: Wire) -> None:
    wire.handler = graph_error(12345, error_user_msg=f"Token {TOKEN} looks odd")
    with pytest.raises(Permanent) as caught:
        client.media_info("m-1")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("status", [502, 503])
def test_html_5xx_outside_publish_is_transient(client: GraphClient, wire: Wire, status: int) -> None:
    wire.handler = lambda request: httpx.Response(status, text="<html>Bad Gateway</html>")
    with pytest.raises(Transient) as caught:
        client.container_status("c-1")
    assert type(caught.value) is Transient


def test_unreadable_success_outside_publish_is_transient(client: GraphClient, wire: Wire) -> None:
    wire.handler = lambda request: httpx.Response(200, text="<html>ok?</html>")
    with pytest.raises(Transient):
        client.container_status("c-1")
    wire.handler = lambda request: httpx.Response(200, json={"id": "c"})
    with pytest.raises(Transient):
        client.container_status("c-1")  # no status_code


def raising(exc_type: type[httpx.RequestError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    return handler


MAYBE_SENT = [
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.LocalProtocolError,
]
NEVER_SENT = [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout]


@pytest.mark.parametrize("exc_type", MAYBE_SENT)
def test_publish_failure_after_sending_is_outcome_unknown(
    client: GraphClient, wire: Wire, exc_type: type[httpx.RequestError]
) -> None:
    wire.handler = raising(exc_type)
    with pytest.raises(OutcomeUnknown) as caught:
        client.publish(IG, "c-1")
    assert isinstance(caught.value.__cause__, exc_type)


@pytest.mark.parametrize("exc_type", NEVER_SENT)
def test_publish_that_never_left_is_transient(
    client: GraphClient, wire: Wire, exc_type: type[httpx.RequestError]
) -> None:
    wire.handler = raising(exc_type)
    with pytest.raises(Transient) as caught:
        client.publish(IG, "c-1")
    assert "nothing was sent" in caught.value.message


@pytest.mark.parametrize("exc_type", MAYBE_SENT + NEVER_SENT)
def test_transport_failures_elsewhere_are_transient(
    client: GraphClient, wire: Wire, exc_type: type[httpx.RequestError]
) -> None:
    wire.handler = raising(exc_type)
    with pytest.raises(Transient):
        client.create_image_container(IG, image_url="https://cdn.example/a.jpg")


@pytest.mark.parametrize(
    "handler",
    [
        lambda request: httpx.Response(502, text="<html>Bad Gateway</html>"),
        lambda request: httpx.Response(500, json={"error": {"message": "x", "code": 2, "is_transient": True}}),
        lambda request: httpx.Response(200, text="not json"),
        lambda request: httpx.Response(200, json={"ok": True}),
        graph_error(4, 2207051),
        graph_error(1),
        graph_error(-1, 2207001),
    ],
    ids=["html-502", "json-500", "200-not-json", "200-no-id", "spam-4-2207051", "code-1", "-1-2207001"],
)
def test_publish_answers_that_leave_doubt(client: GraphClient, wire: Wire, handler: Handler) -> None:
    wire.handler = handler
    with pytest.raises(OutcomeUnknown):
        client.publish(IG, "c-1")


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (graph_error(9007, 2207027), Transient),
        (graph_error(9, 2207042), Exception),
        (graph_error(24, 2207006), Exception),
        (graph_error(190, 463), NeedsReconnect),
    ],
)
def test_publish_refusals_that_applied_nothing_are_not_outcome_unknown(
    client: GraphClient, wire: Wire, handler: Handler, expected: type[Exception]
) -> None:
    wire.handler = handler
    with pytest.raises(expected) as caught:
        client.publish(IG, "c-1")
    assert not isinstance(caught.value, OutcomeUnknown)


def test_unsupported_scheme_is_a_config_error(http: httpx.Client) -> None:
    with httpx.Client() as plain:
        client = make_client(plain, base_url="ftp://graph.example")
        with pytest.raises(ConfigError):
            client.me()
    assert http is not None


# --- dry run -----------------------------------------------------------------------------------------------


def test_recording_client_records_exact_requests_and_invents_ids() -> None:
    dry = RecordingGraphClient(base_url="https://graph.facebook.com", version="v25.0", account="shop")
    c1 = dry.create_image_container(IG, image_url="https://cdn.example/a.jpg", is_carousel_item=True)
    c2 = dry.create_image_container(IG, image_url="https://cdn.example/b.jpg", is_carousel_item=True)
    parent = dry.create_carousel_container(IG, children=[c1, c2], caption="Two")
    assert (c1, c2, parent) == ("dryrun-container-1", "dryrun-container-2", "dryrun-container-3")
    assert dry.container_status(parent).status_code == "FINISHED"
    assert dry.publishing_limit(IG).quota_usage == 0
    media = dry.publish(IG, parent)
    assert re.fullmatch(r"dryrun-media-[0-9a-f]{12}", media)
    assert dry.publish(IG, parent) != media  # unique, like real media ids (issue 13)
    assert dry.media_info(media).id == media
    assert dry.recent_media(IG) == []

    recorded = dry.drain()
    assert dry.recorded == []
    assert [(r.method, r.path) for r in recorded] == [
        ("POST", f"/v25.0/{IG}/media"),
        ("POST", f"/v25.0/{IG}/media"),
        ("POST", f"/v25.0/{IG}/media"),
        ("GET", "/v25.0/dryrun-container-3"),
        ("GET", f"/v25.0/{IG}/content_publishing_limit"),
        ("POST", f"/v25.0/{IG}/media_publish"),
        ("POST", f"/v25.0/{IG}/media_publish"),
        ("GET", f"/v25.0/{media}"),
        ("GET", f"/v25.0/{IG}/media"),
    ]
    assert recorded[2].form == {"media_type": "CAROUSEL", "children": f"{c1},{c2}", "caption": "Two"}
    assert recorded[5].as_dict()["form"] == {"creation_id": parent}
    assert recorded[3].url == "https://graph.facebook.com/v25.0/dryrun-container-3?fields=status_code%2Cstatus"
    assert all(r.headers == {"Authorization": "Bearer <redacted>"} for r in recorded)
    json.dumps([r.as_dict() for r in recorded])  # storable in post_events


def test_recording_matches_what_the_real_client_sends(client: GraphClient, wire: Wire) -> None:
    dry = RecordingGraphClient()
    for api in (client, dry):
        api.create_reel_container(IG, video_url="https://cdn.example/v.mp4", caption="R", cover_url=None)
    recorded = dry.recorded[0]
    assert recorded.method == wire.last.method
    assert recorded.url == str(wire.last.url)
    assert recorded.form == form_of(wire.last)
