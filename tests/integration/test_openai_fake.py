"""The OpenAI Images fake itself: the rules other tests rely on, checked at the wire with plain httpx."""

from __future__ import annotations

import base64
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.fakes import openai_fake as f
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState

KEY = "sk-test-fake-key-000000"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=KEY)) as server:
        yield server


@pytest.fixture
def http(fake: OpenAIFake) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
        yield client


def generate(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/images/generations", json={"model": "gpt-image-2.6-sunburst", "prompt": "a cat", **body})


def decode(response: httpx.Response, index: int = 0) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(response.json()["data"][index]["b64_json"])))


def test_a_generation_looks_like_the_real_response(http: httpx.Client, fake: OpenAIFake) -> None:
    response = generate(http, size="1024x1536", quality="low", output_format="jpeg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert set(body) >= {"created", "data", "size", "quality", "output_format", "usage"}
    assert (body["size"], body["quality"], body["output_format"]) == ("1024x1536", "low", "jpeg")
    assert body["usage"]["output_tokens"] == 408
    with decode(response) as image:
        assert (image.format, image.size) == ("JPEG", (1024, 1536))
    assert fake.state.generated == 1
    assert fake.state.requests[0].size == "1024x1536"


@pytest.mark.parametrize(("fmt", "pil"), [("png", "PNG"), ("webp", "WEBP"), (None, "PNG")])
def test_output_formats(http: httpx.Client, fmt: str | None, pil: str) -> None:
    with decode(generate(http, size="1024x1024", output_format=fmt)) as image:
        assert image.format == pil


def test_n_images_are_distinct(http: httpx.Client, fake: OpenAIFake) -> None:
    response = generate(http, n=3, quality="low", output_format="jpeg")

    assert len({d["b64_json"] for d in response.json()["data"]}) == 3
    assert fake.state.generated == 3


@pytest.mark.parametrize(
    ("model", "size", "ok"),
    [
        ("gpt-image-1.5", "1024x1536", True),
        ("gpt-image-1.5", "auto", True),
        ("gpt-image-1.5", "1088x1360", False),
        ("gpt-image-1-mini", "1536x1024", True),
        ("gpt-image-2", "1088x1360", True),
        ("gpt-image-2", "1080x1350", False),  # not divisible by 16
        ("gpt-image-2", "496x1504", False),  # taller than 1:3
        ("gpt-image-2", "3840x2160", True),
        ("gpt-image-2", "3856x2160", False),  # beyond the maximum
        ("gpt-image-2.5-flare", "1344x704", True),
        ("gpt-image-2.6-flare", "1088x1360", True),
        ("gpt-image-2.6-sunburst", "1080x1080", False),
    ],
)
def test_size_rules_per_model(model: str, size: str, ok: bool) -> None:
    assert (f.size_problem(model, size) is None) is ok


def test_an_invalid_size_is_a_400_envelope(http: httpx.Client, fake: OpenAIFake) -> None:
    response = generate(http, model="gpt-image-2", size="1080x1350")

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "size",
        "invalid_value",
    )
    assert fake.state.generated == 0


@pytest.mark.parametrize(
    "model",
    [
        "dall-e-2",
        "dall-e-3",
        "gpt-image-1",
        "gpt-image-1.5",
        "gpt-image-1.5-2025-12-16",
        "gpt-image-1-mini",
        "chatgpt-image-latest",
        "no-such-model",
    ],
)
def test_retired_and_unknown_models_are_not_found(http: httpx.Client, model: str) -> None:
    response = generate(http, model=model)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_models_shut_down_today_worked_until_yesterday(http: httpx.Client, fake: OpenAIFake) -> None:
    fake.state.today = date(2026, 11, 30)

    assert generate(http, model="gpt-image-1.5", size="1024x1024").status_code == 200
    model = http.get("/models/gpt-image-1.5").json()
    assert (model["id"], model["object"], model["shutdown_date"]) == ("gpt-image-1.5", "model", "2026-12-01")

    fake.state.today = date(2026, 12, 1)
    assert generate(http, model="gpt-image-1.5", size="1024x1024").status_code == 404
    assert http.get("/models/gpt-image-1.5").status_code == 404


def test_the_models_endpoint_reports_shutdown_dates(http: httpx.Client, fake: OpenAIFake) -> None:
    current = http.get("/models/gpt-image-2.6-sunburst")
    assert current.status_code == 200
    assert current.json()["shutdown_date"] is None

    fake.state.shutdown_dates["gpt-image-2.6-sunburst"] = date(2026, 12, 20)
    assert http.get("/models/gpt-image-2.6-sunburst").json()["shutdown_date"] == "2026-12-20"
    listed = {m["id"] for m in http.get("/models").json()["data"]}
    assert "gpt-image-2.6-flare" in listed
    assert "gpt-image-1.5" not in listed
    assert fake.state.model_reads == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 0}, "n"),
        ({"n": 11}, "n"),
        ({"quality": "hd"}, "quality"),
        ({"output_format": "gif"}, "output_format"),
    ],
)
def test_other_parameters_are_validated(http: httpx.Client, body: dict[str, Any], param: str) -> None:
    response = generate(http, **body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_xhigh_quality_only_on_the_2_5_and_2_6_models(http: httpx.Client) -> None:
    assert generate(http, model="gpt-image-2.5-sunburst", quality="xhigh", size="1024x1024").status_code == 200
    assert generate(http, model="gpt-image-2.6-flare", quality="max", size="1024x1024").status_code == 200
    assert generate(http, model="gpt-image-2", quality="xhigh").status_code == 400


def test_a_wrong_key_is_401_and_masked(fake: OpenAIFake) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {wrong}"}) as client:
        response = generate(client)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert wrong not in error["message"]
    assert not fake.state.requests[0].authorized


def test_scripted_actions_are_consumed_in_order_then_the_default(http: httpx.Client, fake: OpenAIFake) -> None:
    fake.state.push(f.rate_limited(retry_after_s=1.5), f.server_error(502, html=True), f.insufficient_quota())
    fake.state.default = f.server_error(503)

    first = generate(http)
    assert (first.status_code, first.headers["retry-after"], first.headers["retry-after-ms"]) == (
        429,
        "1.5",
        "1500",
    )
    second = generate(http)
    assert (second.status_code, second.headers["content-type"]) == (502, "text/html")
    assert generate(http).json()["error"]["code"] == "insufficient_quota"
    assert generate(http).status_code == 503
    assert [r.status for r in fake.state.requests] == [429, 502, 429, 503]


def test_a_dropped_connection(http: httpx.Client, fake: OpenAIFake) -> None:
    fake.state.push(f.drop())

    with pytest.raises(httpx.RemoteProtocolError):
        generate(http)
    assert generate(http).status_code == 200


def test_latency_is_applied(http: httpx.Client, fake: OpenAIFake) -> None:
    fake.state.latency_s = (0.1, 0.1)
    started = time.monotonic()
    generate(http)
    assert time.monotonic() - started >= 0.1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_runs_standalone_with_control_endpoints() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_fake", "--port", str(port), "--latency-max", "0.01"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": "Bearer any-key"}) as client:
            client.post("/_fake/script", json=[{"kind": "error", "status": 500, "error": {"message": "boom"}}])
            body = {"model": "gpt-image-2.6-sunburst", "prompt": "x"}
            assert client.post("/v1/images/generations", json=body).status_code == 500
            assert client.post("/v1/images/generations", json=body).status_code == 200
            assert client.get("/_fake/stats").json() == {"requests": 2, "generated": 1, "scripted": 0}
            client.post("/_fake/reset")
            assert client.get("/_fake/stats").json()["requests"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
