"""Tests of the Graph API fake itself, with plain httpx: it must behave like Meta's service."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.fakes.base import FakeHandler, FakeServer
from tests.fakes.graph import LONG_LIVED_EXPIRES_IN, GraphState, make_server

IG = "17841400000000001"
TOKEN = "tok-brand"
OTHER_IG = "17841400000000002"
OTHER_TOKEN = "tok-other"
ROOT = Path(__file__).resolve().parents[2]


# --- fixtures and helpers -----------------------------------------------------------------------------------


@pytest.fixture
def state() -> GraphState:
    s = GraphState(video_delay_s=0.2)
    s.add_account(IG, TOKEN, username="brand")
    s.add_account(OTHER_IG, OTHER_TOKEN, username="other")
    return s


@pytest.fixture
def server(state: GraphState) -> Iterator[FakeServer[GraphState]]:
    with make_server(state) as srv:
        yield srv


@pytest.fixture
def api(server: FakeServer[GraphState]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"{server.url}/v25.0", headers=headers, timeout=5.0) as client:
        yield client


@pytest.fixture
def raw(server: FakeServer[GraphState]) -> Iterator[httpx.Client]:
    """No token, no version: for OAuth endpoints, versionless paths and the admin API."""
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        yield client


def error_of(resp: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err: dict[str, Any] = resp.json()["error"]
    assert err["fbtrace_id"] and "type" in err and "message" in err and "is_transient" in err
    return err


def create_image(api: httpx.Client, caption: str = "Hello #spring", **extra: str) -> str:
    data = {"image_url": "https://cdn.example.com/a.jpg", "caption": caption, **extra}
    resp = api.post(f"/{IG}/media", data=data)
    assert resp.status_code == 200, resp.text
    container_id: str = resp.json()["id"]
    return container_id


def publish(api: httpx.Client, container_id: str) -> httpx.Response:
    return api.post(f"/{IG}/media_publish", data={"creation_id": container_id})


def status(api: httpx.Client, container_id: str) -> dict[str, Any]:
    resp = api.get(f"/{container_id}", params={"fields": "status_code,status"})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def wait_finished(api: httpx.Client, container_id: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while status(api, container_id)["status_code"] == "IN_PROGRESS":
        assert time.monotonic() < deadline, "container never finished"
        time.sleep(0.02)


def jpeg(width: int, height: int, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, format=fmt)
    return buf.getvalue()


class _FileHandler(FakeHandler):
    def do_GET(self) -> None:
        files: dict[str, bytes] = self.server.state
        body = files.get(self.path)
        if body is None:
            self.send_raw(404, b"not found", "text/plain")
        else:
            self.send_raw(200, body, "image/jpeg")


@pytest.fixture
def images() -> Iterator[FakeServer[dict[str, bytes]]]:
    files: dict[str, bytes] = {}
    with FakeServer(_FileHandler, files) as srv:
        yield srv


# --- the photo flow -----------------------------------------------------------------------------------------


def test_photo_flow(api: httpx.Client, state: GraphState) -> None:
    container_id = create_image(api, alt_text="A sunny field")
    assert status(api, container_id) == {
        "status_code": "FINISHED",
        "status": status(api, container_id)["status"],
        "id": container_id,
    }
    resp = publish(api, container_id)
    assert resp.status_code == 200
    media_id = resp.json()["id"]
    assert status(api, container_id)["status_code"] == "PUBLISHED"

    media = api.get(f"/{media_id}", params={"fields": "permalink,timestamp,media_type,caption"}).json()
    assert media["id"] == media_id
    assert media["media_type"] == "IMAGE"
    assert media["caption"] == "Hello #spring"
    assert re.fullmatch(r"https://www\.instagram\.com/p/[\w-]{11}/", media["permalink"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", media["timestamp"])

    limit = api.get(f"/{IG}/content_publishing_limit", params={"fields": "quota_usage,config"}).json()
    assert limit == {"data": [{"quota_usage": 1, "config": {"quota_total": 50, "quota_duration": 86400}}]}
    assert state.publish_calls == {container_id: 1}
    assert state.published_count(IG) == 1 and state.published_count(OTHER_IG) == 0
    assert state.token_in_url_count == 0


def test_versionless_paths_json_bodies_and_token_in_url_counting(
    raw: httpx.Client, state: GraphState
) -> None:
    # graph.instagram.com style: no version segment; token in the query string (counted).
    resp = raw.post(
        f"/{IG}/media", params={"access_token": TOKEN}, data={"image_url": "https://x.test/a.jpg"}
    )
    assert resp.status_code == 200
    assert state.token_in_url_count == 1
    # Token in a form body: accepted, not in the URL.
    resp = raw.post(f"/{IG}/media", data={"image_url": "https://x.test/a.jpg", "access_token": TOKEN})
    assert resp.status_code == 200
    # JSON body with the Bearer header.
    resp = raw.post(
        f"/v25.0/{IG}/media",
        json={"image_url": "https://x.test/a.jpg", "caption": "json"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert resp.status_code == 200
    assert state.containers[resp.json()["id"]].caption == "json"
    assert state.token_in_url_count == 1
    assert [r.token_in_url for r in state.requests] == [True, False, False]


def test_unknown_fields_and_paths_answer_like_meta(api: httpx.Client) -> None:
    container_id = create_image(api)
    err = error_of(api.get(f"/{container_id}", params={"fields": "permalink"}))
    assert err["code"] == 100 and "ShadowIGMediaBuilder" in err["message"]
    err = error_of(api.get(f"/{IG}/nonsense"))
    assert err["code"] == 2500


# --- carousel -----------------------------------------------------------------------------------------------


def test_carousel_flow_counts_once(api: httpx.Client, state: GraphState) -> None:
    children = [
        api.post(
            f"/{IG}/media", data={"image_url": f"https://x.test/{i}.jpg", "is_carousel_item": "true"}
        ).json()["id"]
        for i in range(3)
    ]
    parent = api.post(
        f"/{IG}/media", data={"media_type": "CAROUSEL", "children": ",".join(children), "caption": "three"}
    ).json()["id"]
    wait_finished(api, parent)
    media_id = publish(api, parent).json()["id"]
    media = api.get(f"/{media_id}", params={"fields": "media_type,children{id,media_type},caption"}).json()
    assert media["media_type"] == "CAROUSEL_ALBUM"
    assert [c["media_type"] for c in media["children"]["data"]] == ["IMAGE"] * 3
    assert state.quota_usage(IG) == 1
    assert state.published_count(IG) == 1
    assert all(state.container_status(c) == "PUBLISHED" for c in children)


def test_carousel_rules(api: httpx.Client, state: GraphState) -> None:
    item = api.post(
        f"/{IG}/media", data={"image_url": "https://x.test/1.jpg", "is_carousel_item": "true"}
    ).json()
    err = error_of(api.post(f"/{IG}/media", data={"media_type": "CAROUSEL", "children": item["id"]}))
    assert (err["code"], err["error_subcode"]) == (100, 2207028)
    many = ",".join([item["id"]] * 11)
    err = error_of(api.post(f"/{IG}/media", data={"media_type": "CAROUSEL", "children": many}))
    assert (err["code"], err["error_subcode"]) == (100, 2207028)
    # No caption on items.
    err = error_of(
        api.post(
            f"/{IG}/media",
            data={"image_url": "https://x.test/2.jpg", "is_carousel_item": "true", "caption": "no"},
        )
    )
    assert err["code"] == 100
    # A child that is not a carousel item, or belongs to another account.
    single = create_image(api)
    err = error_of(
        api.post(f"/{IG}/media", data={"media_type": "CAROUSEL", "children": f"{item['id']},{single}"})
    )
    assert err["code"] == 100
    with httpx.Client(
        base_url=str(api.base_url), headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
    ) as other:
        foreign = other.post(
            f"/{OTHER_IG}/media", data={"image_url": "https://x.test/3.jpg", "is_carousel_item": "true"}
        ).json()["id"]
    err = error_of(
        api.post(f"/{IG}/media", data={"media_type": "CAROUSEL", "children": f"{item['id']},{foreign}"})
    )
    assert (err["code"], err["error_subcode"]) == (24, 2207006)
    # A video child still processing.
    video = api.post(
        f"/{IG}/media",
        data={"video_url": "https://x.test/v.mp4", "media_type": "VIDEO", "is_carousel_item": "true"},
    ).json()["id"]
    err = error_of(
        api.post(f"/{IG}/media", data={"media_type": "CAROUSEL", "children": f"{item['id']},{video}"})
    )
    assert (err["code"], err["error_subcode"]) == (9007, 2207027)
    # JSON list of children works once the video is done.
    wait_finished(api, video)
    resp = api.post(f"/{IG}/media", json={"media_type": "CAROUSEL", "children": [item["id"], video]})
    assert resp.status_code == 200
    assert (
        error_of(api.post(f"/{IG}/media", data={"media_type": "CAROUSEL", "children": "[oops"}))["code"]
        == 100
    )
    # A carousel item cannot be published alone.
    assert error_of(publish(api, item["id"]))["code"] == 100


# --- reels and readiness ------------------------------------------------------------------------------------


def test_reel_flow_with_delay_and_not_ready(api: httpx.Client, state: GraphState) -> None:
    reel = api.post(
        f"/{IG}/media",
        data={
            "media_type": "REELS",
            "video_url": "https://x.test/r.mp4",
            "caption": "reel",
            "share_to_feed": "true",
            "cover_url": "https://x.test/c.jpg",
            "thumb_offset": "1500",
        },
    ).json()["id"]
    assert status(api, reel)["status_code"] == "IN_PROGRESS"
    err = error_of(publish(api, reel))
    assert (err["code"], err["error_subcode"]) == (9007, 2207027)
    wait_finished(api, reel)
    media_id = publish(api, reel).json()["id"]
    media = api.get(f"/{media_id}", params={"fields": "media_type,media_product_type,permalink"}).json()
    assert media["media_type"] == "VIDEO" and media["media_product_type"] == "REELS"
    assert media["permalink"].startswith("https://www.instagram.com/reel/")
    assert state.publish_calls[reel] == 2
    err = error_of(
        api.post(
            f"/{IG}/media", data={"media_type": "REELS", "video_url": "https://x/r.mp4", "thumb_offset": "-1"}
        )
    )
    assert (err["code"], err["error_subcode"]) == (1, 2207057)


def test_video_feed_type_and_unknown_type_rejected(api: httpx.Client) -> None:
    err = error_of(api.post(f"/{IG}/media", data={"media_type": "VIDEO", "video_url": "https://x/v.mp4"}))
    assert (err["code"], err["error_subcode"]) == (100, 2207023)
    err = error_of(api.post(f"/{IG}/media", data={"media_type": "HOLOGRAM", "image_url": "https://x/a.jpg"}))
    assert (err["code"], err["error_subcode"]) == (100, 2207023)


def test_scripted_error_and_expiry(api: httpx.Client, state: GraphState) -> None:
    state.script_containers("ERROR", error_subcode=2207026)
    bad = create_image(api)
    assert status(api, bad) == {
        "status_code": "ERROR",
        "status": "Error: Media upload has failed with error code 2207026",
        "id": bad,
    }
    assert (error_of(publish(api, bad))["code"]) == -1
    good = create_image(api)
    assert status(api, good)["status_code"] == "FINISHED"
    state.advance(24 * 3600 + 1)
    assert status(api, good)["status_code"] == "EXPIRED"
    err = error_of(publish(api, good))
    assert (err["code"], err["error_subcode"]) == (-2, 2207020)
    forced = create_image(api)
    state.expire_container(forced)
    assert status(api, forced)["status_code"] == "EXPIRED"


# --- publishing rules ---------------------------------------------------------------------------------------


def test_quota_exhaustion_and_rolling_window(api: httpx.Client, state: GraphState) -> None:
    state.accounts[IG].quota_total = 2
    for _ in range(2):
        assert publish(api, create_image(api)).status_code == 200
    third = create_image(api)
    err = error_of(publish(api, third))
    assert (err["code"], err["error_subcode"]) == (9, 2207042)
    assert state.publish_calls[third] == 1
    usage = api.get(f"/{IG}/content_publishing_limit", params={"fields": "quota_usage,config"}).json()
    assert usage["data"][0]["quota_usage"] == 2 and usage["data"][0]["config"]["quota_total"] == 2
    assert api.get(f"/{IG}/content_publishing_limit").json() == {"data": [{"quota_usage": 2}]}
    state.advance(86_401)  # the window rolls past the first two posts
    fresh = create_image(api)
    assert publish(api, fresh).status_code == 200


def test_consume_quota_helper(api: httpx.Client, state: GraphState) -> None:
    state.consume_quota(IG, 50)
    err = error_of(publish(api, create_image(api)))
    assert err["error_subcode"] == 2207042


def test_unknown_and_foreign_creation_ids(api: httpx.Client, state: GraphState) -> None:
    err = error_of(publish(api, "17999999999999999"))
    assert err["code"] == 100
    assert state.publish_calls == {"17999999999999999": 1}
    with httpx.Client(
        base_url=str(api.base_url), headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
    ) as other:
        foreign = other.post(f"/{OTHER_IG}/media", data={"image_url": "https://x.test/a.jpg"}).json()["id"]
        # Reading or publishing another account's container: not found / not yours.
        assert error_of(api.get(f"/{foreign}"))["error_subcode"] == 33
    err = error_of(publish(api, foreign))
    assert (err["code"], err["error_subcode"]) == (24, 2207006)
    err = error_of(api.post(f"/{IG}/media_publish"))
    assert err["code"] == 100


def test_republish_behaviours(api: httpx.Client, state: GraphState) -> None:
    container_id = create_image(api)
    first = publish(api, container_id).json()["id"]
    err = error_of(publish(api, container_id))
    assert err["code"] == 100
    assert state.publish_calls[container_id] == 2 and state.published_count(IG) == 1
    state.republish_behavior = "same_id"
    assert publish(api, container_id).json()["id"] == first
    state.republish_behavior = "duplicate"
    assert publish(api, container_id).json()["id"] != first
    assert state.published_count(IG) == 2
    assert state.total_publish_calls() == 4
    state.republish_behavior = "error"
    state.republish_error = (24, 2207008)
    assert error_of(publish(api, container_id))["error_subcode"] == 2207008


def test_concurrent_publishes_of_one_container_publish_once(api: httpx.Client, state: GraphState) -> None:
    container_id = create_image(api)
    codes: list[int] = []

    def worker() -> None:
        codes.append(publish(api, container_id).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] + [400] * 7
    assert state.published_count(IG) == 1 and state.publish_calls[container_id] == 8


def test_container_limit(api: httpx.Client, state: GraphState) -> None:
    state.container_limit = 2
    create_image(api)
    create_image(api)
    assert error_of(api.post(f"/{IG}/media", data={"image_url": "https://x/a.jpg"}))["code"] == 4
    state.advance(86_401)
    create_image(api)


# --- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caption",
    ["x" * 2201, " ".join(f"#tag{i}" for i in range(31)), " ".join(f"@user{i}" for i in range(21))],
    ids=["too-long", "hashtags", "mentions"],
)
def test_caption_limits(api: httpx.Client, caption: str) -> None:
    err = error_of(api.post(f"/{IG}/media", data={"image_url": "https://x/a.jpg", "caption": caption}))
    assert (err["code"], err["error_subcode"]) == (36004, 2207010)
    assert err["error_user_msg"]


def test_caption_at_the_limits_is_fine(api: httpx.Client) -> None:
    caption = " ".join(f"#t{i}" for i in range(30)) + " " + " ".join(f"@u{i}" for i in range(20))
    create_image(api, caption=caption.ljust(2200, "x"))


def test_alt_text_and_url_checks(api: httpx.Client) -> None:
    err = error_of(api.post(f"/{IG}/media", data={"image_url": "https://x/a.jpg", "alt_text": "a" * 1001}))
    assert err["code"] == 100
    err = error_of(api.post(f"/{IG}/media", data={"image_url": "ftp://x/a.jpg"}))
    assert (err["code"], err["error_subcode"]) == (9004, 2207052)
    assert error_of(api.post(f"/{IG}/media", data={"caption": "no image"}))["code"] == 100
    create_image(api, image_url="file:///tmp/a.jpg")  # fetching is off: local file URLs pass


def test_fetch_media_checks_images(
    api: httpx.Client, state: GraphState, images: FakeServer[dict[str, bytes]]
) -> None:
    state.fetch_media = True
    images.state.update(
        {
            "/ok.jpg": jpeg(1080, 1350),
            "/png.png": jpeg(1080, 1080, "PNG"),
            "/tall.jpg": jpeg(1080, 1920),
            "/tiny.jpg": jpeg(200, 200),
        }
    )
    expected = {"/ok.jpg": "FINISHED", "/png.png": "ERROR", "/tall.jpg": "ERROR", "/tiny.jpg": "ERROR"}
    for path, code in expected.items():
        cid = create_image(api, image_url=f"{images.url}{path}")
        assert status(api, cid)["status_code"] == code, path
    tall = create_image(api, image_url=f"{images.url}/tall.jpg")
    assert status(api, tall)["status"] == "Error: Media upload has failed with error code 2207009"
    png = create_image(api, image_url=f"{images.url}/png.png")
    assert status(api, png)["status"].endswith("2207005")
    # Unreachable media and file:// URLs fail at creation when Meta would have to fetch them.
    err = error_of(api.post(f"/{IG}/media", data={"image_url": f"{images.url}/missing.jpg"}))
    assert (err["code"], err["error_subcode"]) == (9004, 2207052)
    err = error_of(api.post(f"/{IG}/media", data={"image_url": "file:///tmp/a.jpg"}))
    assert err["error_subcode"] == 2207052
    # Synchronous mode answers the media error on creation instead.
    state.media_errors_sync = True
    err = error_of(api.post(f"/{IG}/media", data={"image_url": f"{images.url}/tall.jpg"}))
    assert (err["code"], err["error_subcode"]) == (36003, 2207009)
    state.accept_png = True
    assert status(api, create_image(api, image_url=f"{images.url}/png.png"))["status_code"] == "FINISHED"


# --- tokens and scopes --------------------------------------------------------------------------------------


def test_token_errors(raw: httpx.Client, state: GraphState) -> None:
    err = error_of(raw.get(f"/v25.0/{IG}/media"))
    assert err["code"] == 190
    resp = raw.get(f"/v25.0/{IG}/media", headers={"Authorization": "Bearer nope"})
    err = error_of(resp)
    assert (err["code"], err["error_subcode"]) == (190, 467)
    assert "invalid_token" in resp.headers["WWW-Authenticate"]
    state.advance(61 * 86_400)
    err = error_of(raw.get(f"/v25.0/{IG}/media", headers={"Authorization": f"Bearer {TOKEN}"}))
    assert (err["code"], err["error_subcode"]) == (190, 463)
    state.add_token("never", IG, expires_in=None)
    assert raw.get(f"/v25.0/{IG}/media", headers={"Authorization": "Bearer never"}).status_code == 200
    state.revoke_token("never")
    assert (
        error_of(raw.get(f"/{IG}/media", headers={"Authorization": "Bearer never"}))["error_subcode"] == 460
    )


def test_scopes_and_ownership(raw: httpx.Client, state: GraphState) -> None:
    state.add_token("read-only", IG, scopes=("instagram_basic",))
    state.add_token("no-scopes", IG, scopes=())
    headers = {"Authorization": "Bearer read-only"}
    err = error_of(raw.post(f"/{IG}/media", data={"image_url": "https://x/a.jpg"}, headers=headers))
    assert err["code"] == 10
    assert raw.get(f"/{IG}/content_publishing_limit", headers=headers).status_code == 200
    err = error_of(raw.get(f"/{IG}/content_publishing_limit", headers={"Authorization": "Bearer no-scopes"}))
    assert err["code"] == 200
    err = error_of(
        raw.post(f"/{OTHER_IG}/media", data={"image_url": "https://x/a.jpg"}, params={"access_token": TOKEN})
    )
    assert (err["code"], err["error_subcode"], err["type"]) == (100, 33, "GraphMethodException")


# --- reading media ------------------------------------------------------------------------------------------


def test_media_list_newest_first_with_paging(api: httpx.Client, state: GraphState) -> None:
    ids = [publish(api, create_image(api, caption=f"post {i}")).json()["id"] for i in range(5)]
    page1 = api.get(f"/{IG}/media", params={"fields": "id,caption,timestamp,permalink", "limit": 2}).json()
    assert [m["id"] for m in page1["data"]] == ids[::-1][:2]
    assert page1["data"][0]["caption"] == "post 4"
    assert "access_token=" in page1["paging"]["next"]  # like Meta: follow the cursor, not the link
    after = page1["paging"]["cursors"]["after"]
    page2 = api.get(f"/{IG}/media", params={"limit": 2, "after": after}).json()
    assert [m["id"] for m in page2["data"]] == ids[::-1][2:4]
    page3 = api.get(f"/{IG}/media", params={"limit": 2, "after": page2["paging"]["cursors"]["after"]}).json()
    assert [m["id"] for m in page3["data"]] == ids[:1] and "next" not in page3["paging"]
    assert state.token_in_url_count == 0


def test_me_alias_for_instagram_login(state: GraphState, raw: httpx.Client) -> None:
    state.add_account("17841400000000009", "ig-tok", login_kind="instagram", username="iguser")
    headers = {"Authorization": "Bearer ig-tok"}
    cid = raw.post("/me/media", data={"image_url": "https://x/a.jpg"}, headers=headers).json()["id"]
    assert raw.post("/me/media_publish", data={"creation_id": cid}, headers=headers).status_code == 200
    assert state.published_count("17841400000000009") == 1


# --- injected faults ----------------------------------------------------------------------------------------


def test_fault_token_expired_sticks(api: httpx.Client, state: GraphState) -> None:
    state.inject_token_expired("create")
    err = error_of(api.post(f"/{IG}/media", data={"image_url": "https://x/a.jpg"}))
    assert (err["code"], err["error_subcode"]) == (190, 463)
    err = error_of(api.get(f"/{IG}/content_publishing_limit"))
    assert (err["code"], err["error_subcode"]) == (190, 463)


@pytest.mark.parametrize("code", [4, 17, 80002])
def test_fault_rate_limits_with_usage_headers(api: httpx.Client, state: GraphState, code: int) -> None:
    state.inject_rate_limit("publish", code=code, regain_minutes=7)
    resp = publish(api, create_image(api))
    err = error_of(resp)
    assert err["code"] == code and err["is_transient"] is True
    buc = json.loads(resp.headers["X-Business-Use-Case-Usage"])
    assert buc[IG][0]["estimated_time_to_regain_access"] == 7
    assert json.loads(resp.headers["X-App-Usage"])["call_count"] == 100
    assert state.published_count(IG) == 0


@pytest.mark.parametrize("code", [1, 2])
def test_fault_transient(api: httpx.Client, state: GraphState, code: int) -> None:
    fault = state.inject_transient("status", code=code, count=2)
    cid = create_image(api)
    for _ in range(2):
        err = error_of(api.get(f"/{cid}", params={"fields": "status_code"}))
        assert err["code"] == code and err["is_transient"] is True
    assert status(api, cid)["status_code"] == "FINISHED"
    assert fault.fired == 2 and state.faults == []


@pytest.mark.parametrize("http_status", [500, 502, 503])
def test_fault_server_errors_json_and_html(api: httpx.Client, state: GraphState, http_status: int) -> None:
    state.inject_server_error("any", status=http_status)
    resp = api.get(f"/{IG}/content_publishing_limit")
    assert error_of(resp, http_status)["is_transient"] is True
    state.inject_server_error("limit", status=http_status, html=True)
    resp = api.get(f"/{IG}/content_publishing_limit")
    assert resp.status_code == http_status and resp.headers["Content-Type"].startswith("text/html")
    assert api.get(f"/{IG}/content_publishing_limit").status_code == 200


def test_fault_fresh_objects_not_visible(api: httpx.Client, state: GraphState) -> None:
    state.hide_fresh_objects(2)
    cid = create_image(api)
    for _ in range(2):
        err = error_of(api.get(f"/{cid}", params={"fields": "status_code"}))
        assert (err["code"], err["error_subcode"]) == (100, 33)
    assert status(api, cid)["status_code"] == "FINISHED"
    media_id = publish(api, cid).json()["id"]  # publishing is not a read
    assert error_of(api.get(f"/{media_id}", params={"fields": "permalink"}))["error_subcode"] == 33
    assert error_of(api.get(f"/{media_id}", params={"fields": "permalink"}))["error_subcode"] == 33
    assert "permalink" in api.get(f"/{media_id}", params={"fields": "permalink"}).json()


@pytest.mark.parametrize("published", [True, False])
def test_fault_spam_block_may_publish(api: httpx.Client, state: GraphState, published: bool) -> None:
    state.inject_spam_block(published=published)
    cid = create_image(api)
    err = error_of(publish(api, cid))
    assert (err["code"], err["error_subcode"]) == (4, 2207051)
    assert state.published_count(IG) == int(published)
    assert status(api, cid)["status_code"] == ("PUBLISHED" if published else "FINISHED")


@pytest.mark.parametrize(
    ("kind", "code", "subcode"),
    [("publish", 24, 2207008), ("create", -2, 2207003), ("create", 9004, 2207052), ("publish", 25, 2207050)],
)
def test_fault_generic_errors(
    api: httpx.Client, state: GraphState, kind: str, code: int, subcode: int
) -> None:
    cid = create_image(api)
    state.inject_error(kind, code, subcode)
    resp = (
        publish(api, cid)
        if kind == "publish"
        else api.post(f"/{IG}/media", data={"image_url": "https://x/a"})
    )
    err = error_of(resp)
    assert (err["code"], err["error_subcode"]) == (code, subcode)
    assert err["error_user_msg"]
    assert state.published_count(IG) == 0


def test_fault_slow_response(api: httpx.Client, state: GraphState) -> None:
    state.inject_slow("status", 0.2)
    cid = create_image(api)
    started = time.monotonic()
    assert status(api, cid)["status_code"] == "FINISHED"
    assert time.monotonic() - started >= 0.2


def test_fault_slow_publish_commits_before_the_client_gives_up(server: FakeServer[GraphState]) -> None:
    state = server.state
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=0.1) as client:
        cid = create_image(client)
        state.inject_slow("publish", 0.3, commit_first=True)
        with pytest.raises(httpx.ReadTimeout):
            publish(client, cid)
        assert state.published_count(IG) == 1
        assert status(client, cid)["status_code"] == "PUBLISHED"
    time.sleep(0.3)  # let the server thread finish writing to the closed socket


def test_fault_lost_response_commits_then_drops(api: httpx.Client, state: GraphState) -> None:
    cid = create_image(api)
    state.inject_lost_response()
    with pytest.raises(httpx.RemoteProtocolError):
        publish(api, cid)
    assert state.publish_calls == {cid: 1}
    assert state.published_count(IG) == 1
    assert state.quota_usage(IG) == 1
    assert status(api, cid)["status_code"] == "PUBLISHED"  # reconciliation finds it live
    assert error_of(publish(api, cid))["code"] == 100  # and a second publish is refused (but counted)
    assert state.publish_calls == {cid: 2} and state.published_count(IG) == 1


def test_fault_drop_without_commit(api: httpx.Client, state: GraphState) -> None:
    cid = create_image(api)
    state.inject_drop("publish")
    with pytest.raises(httpx.RemoteProtocolError):
        publish(api, cid)
    assert state.published_count(IG) == 0 and status(api, cid)["status_code"] == "FINISHED"


def test_latency_per_kind(api: httpx.Client, state: GraphState) -> None:
    state.latency = {"create": 0.1}
    started = time.monotonic()
    cid = create_image(api)
    assert time.monotonic() - started >= 0.1
    started = time.monotonic()
    status(api, cid)
    assert time.monotonic() - started < 0.1


# --- OAuth --------------------------------------------------------------------------------------------------


def test_facebook_login_flow(raw: httpx.Client, state: GraphState) -> None:
    redirect = "https://localhost/postpilot/callback"
    state.add_app("fb-app", "fb-secret", redirect_uri=redirect)
    fb_user = state.accounts[IG].fb_user_id
    assert fb_user is not None
    state.add_page(fb_user, "Pageless shop")
    code = state.issue_code("fb-app", IG)
    params = {"client_id": "fb-app", "client_secret": "fb-secret", "redirect_uri": redirect, "code": code}
    short = raw.get("/v25.0/oauth/access_token", params=params)
    assert short.status_code == 200 and short.json()["token_type"] == "bearer"
    err = error_of(raw.get("/v25.0/oauth/access_token", params=params))  # a code works once
    assert err["code"] == 100
    bad = dict(params, client_secret="wrong", code=state.issue_code("fb-app", IG))
    assert error_of(raw.get("/v25.0/oauth/access_token", params=bad))["code"] == 1

    long = raw.get(
        "/v25.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": "fb-app",
            "client_secret": "fb-secret",
            "fb_exchange_token": short.json()["access_token"],
        },
    ).json()
    assert long["expires_in"] == LONG_LIVED_EXPIRES_IN == 5183944
    user_headers = {"Authorization": f"Bearer {long['access_token']}"}
    pages = raw.get(
        "/v25.0/me/accounts",
        params={"fields": "id,name,access_token,instagram_business_account"},
        headers=user_headers,
    ).json()["data"]
    linked = [p for p in pages if "instagram_business_account" in p]
    assert [p["instagram_business_account"]["id"] for p in linked] == [IG]
    assert any(p["name"] == "Pageless shop" and "instagram_business_account" not in p for p in pages)
    # The Page token publishes for the linked account.
    page_headers = {"Authorization": f"Bearer {linked[0]['access_token']}"}
    cid = raw.post(f"/v25.0/{IG}/media", data={"image_url": "https://x/a.jpg"}, headers=page_headers).json()[
        "id"
    ]
    assert (
        raw.post(f"/v25.0/{IG}/media_publish", data={"creation_id": cid}, headers=page_headers).status_code
        == 200
    )

    debug = raw.get(
        "/v25.0/debug_token", params={"input_token": long["access_token"], "access_token": "fb-app|fb-secret"}
    ).json()["data"]
    assert debug["is_valid"] is True and "instagram_content_publish" in debug["scopes"]
    assert debug["app_id"] == "fb-app" and debug["user_id"] == fb_user and debug["expires_at"] > 0
    page_debug = raw.get(
        "/v25.0/debug_token",
        params={"input_token": linked[0]["access_token"], "access_token": "fb-app|fb-secret"},
    ).json()["data"]
    assert page_debug["expires_at"] == 0 and page_debug["type"] == "PAGE"
    state.advance(61 * 86_400)
    debug = raw.get(
        "/v25.0/debug_token", params={"input_token": long["access_token"], "access_token": "fb-app|fb-secret"}
    ).json()["data"]
    assert debug["is_valid"] is False and debug["error"]["code"] == 190
    err = error_of(raw.get("/v25.0/debug_token", params={"input_token": "x", "access_token": "fb-app|nope"}))
    assert err["code"] == 190
    assert state.oauth_token_in_url_count >= 2 and state.token_in_url_count == 0


@pytest.mark.parametrize("style", ["flat", "data"])
def test_instagram_login_flow(raw: httpx.Client, state: GraphState, style: str) -> None:
    ig = "17841400000000077"
    redirect = "https://localhost/postpilot/callback"
    state.add_account(ig, None, login_kind="instagram", username="igshop")
    state.add_app("ig-app", "ig-secret", redirect_uri=redirect, login_kind="instagram")
    state.ig_code_response_style = style
    code = state.issue_code("ig-app", ig)
    form = {
        "client_id": "ig-app",
        "client_secret": "ig-secret",
        "grant_type": "authorization_code",
        "redirect_uri": redirect,
        "code": code,
    }
    body = raw.post("/oauth/access_token", data=form).json()
    # The code exchange names the app-scoped user id (as Meta documents it), not the professional account id.
    app_scoped = state.accounts[ig].app_scoped_id
    assert app_scoped != ig
    if style == "flat":
        assert body["user_id"] == int(app_scoped) and body["permissions"] == list(state.accounts[ig].scopes)
        short = body["access_token"]
    else:
        entry = body["data"][0]
        assert entry["user_id"] == app_scoped and "instagram_business_content_publish" in entry["permissions"]
        short = entry["access_token"]
    reused = raw.post("/oauth/access_token", data=form)
    assert reused.status_code == 400 and reused.json()["error_type"] == "OAuthException"

    exchange = {"grant_type": "ig_exchange_token", "client_secret": "ig-secret", "access_token": short}
    long = raw.get("/access_token", params=exchange).json()
    assert long["token_type"] == "bearer" and long["expires_in"] == 5183944
    token = long["access_token"]
    me = raw.get(
        "/me", params={"fields": "user_id,username"}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert me["user_id"] == ig and me["username"] == "igshop" and me["id"] != ig

    refresh = {"grant_type": "ig_refresh_token", "access_token": token}
    assert error_of(raw.get("/refresh_access_token", params=refresh))["code"] == 100  # younger than 24 h
    state.backdate_token(token, 2 * 86_400)
    fresh = raw.get("/refresh_access_token", params=refresh).json()
    assert fresh["expires_in"] == 5183944 and fresh["access_token"] != token
    state.backdate_token(token, 59 * 86_400)
    assert error_of(raw.get("/refresh_access_token", params=refresh))["error_subcode"] == 463
    # Publishing on the graph.instagram.com style path with the fresh token.
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    cid = raw.post(f"/{ig}/media", data={"image_url": "https://x/a.jpg"}, headers=headers).json()["id"]
    assert raw.post(f"/{ig}/media_publish", data={"creation_id": cid}, headers=headers).status_code == 200


# --- admin API and separate process -------------------------------------------------------------------------


def test_admin_api(raw: httpx.Client, state: GraphState) -> None:
    assert (
        raw.post("/_fake/accounts", json={"ig_user_id": "555", "token": "t555", "quota_total": 1}).status_code
        == 200
    )
    assert state.accounts["555"].quota_total == 1
    assert (
        raw.post("/_fake/config", json={"latency": {"publish": 0.0}, "video_delay_s": 0.0}).status_code == 200
    )
    assert raw.post("/_fake/config", json={"nope": 1}).status_code == 400
    headers = {"Authorization": "Bearer t555"}
    cid = raw.post("/555/media", data={"image_url": "https://x/a.jpg"}, headers=headers).json()["id"]
    assert raw.post("/_fake/faults", json={"type": "lost_response"}).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        raw.post("/555/media_publish", data={"creation_id": cid}, headers=headers)
    assert raw.get("/_fake/publish_calls").json() == {cid: 1}
    media = raw.get("/_fake/media").json()
    assert [m["container_id"] for m in media] == [cid]
    raw.post("/_fake/faults", json={"type": "error", "kind": "status", "code": 24, "subcode": 2207008})
    assert error_of(raw.get(f"/{cid}", headers=headers))["error_subcode"] == 2207008
    counters = raw.get("/_fake/state").json()
    assert counters["published"]["555"] == 1 and counters["total_publish_calls"] == 1
    assert raw.get("/_fake/containers").json()[0]["status_code"] == "PUBLISHED"
    raw.post("/_fake/advance", json={"seconds": 90_000})
    assert raw.post("/_fake/reset").json() == {"ok": True}
    assert raw.get("/_fake/publish_calls").json() == {}
    raw.post("/_fake/apps", json={"app_id": "a", "secret": "s", "redirect_uri": "https://cb"})
    assert raw.post("/_fake/codes", json={"app_id": "a", "ig_user_id": IG}).json()["code"]
    assert raw.get("/_fake/nope").status_code == 404


@pytest.mark.slow
def test_runs_in_its_own_process(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([{"ig_user_id": IG, "token": TOKEN, "quota_total": 3}]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.graph",
            "--port",
            "0",
            "--accounts-file",
            str(accounts),
            "--latency-publish",
            "0.01",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split(" ", 1)[1]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5.0) as client:
            cid = create_image(client)
            assert publish(client, cid).status_code == 200
            assert client.get("/_fake/publish_calls").json() == {cid: 1}
            limit = client.get(
                f"/{IG}/content_publishing_limit", params={"fields": "quota_usage,config"}
            ).json()
            assert limit["data"][0] == {
                "quota_usage": 1,
                "config": {"quota_total": 3, "quota_duration": 86400},
            }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def test_usage_headers_climb_with_calls_and_the_account_is_refused_at_the_limit() -> None:
    state = GraphState()
    state.add_account("17841400000000777", "tok-usage", username="busy")
    state.account_call_budget = 4
    with make_server(state) as server, httpx.Client(base_url=server.url) as http:
        headers = {"Authorization": "Bearer tok-usage"}
        seen = []
        for _ in range(4):
            answer = http.get("/v25.0/17841400000000777", params={"fields": "id"}, headers=headers)
            assert answer.status_code == 200
            usage = json.loads(answer.headers["X-Business-Use-Case-Usage"])["17841400000000777"][0]
            seen.append((usage["call_count"], usage["estimated_time_to_regain_access"]))
            assert json.loads(answer.headers["X-App-Usage"])["call_count"] == 0
        assert seen == [(25, 0), (50, 0), (75, 0), (100, 60)]
        refused = http.get("/v25.0/17841400000000777", params={"fields": "id"}, headers=headers)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == 80002
        assert json.loads(refused.headers["X-Business-Use-Case-Usage"])["17841400000000777"][0][
            "estimated_time_to_regain_access"
        ] == 60
