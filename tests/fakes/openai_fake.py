"""A wire-level fake of the OpenAI Images API (``POST /v1/images/generations``).

It answers like the real service as the 3.x SDK sees it, on 2026-12-01 (``state.today`` moves the calendar):
models shut down by then answer ``model_not_found`` (gpt-image-1.5, gpt-image-1-mini and chatgpt-image-latest
went on 2026-12-01, per OpenAI's deprecations page), ``GET /v1/models/{id}`` reports each model with its
``shutdown_date`` (``YYYY-MM-DD`` or null; ``state.shutdown_dates`` announces more), Bearer key check,
per-model validation of ``model``,
``size``, ``n``, ``quality`` and ``output_format``, real base64 images of the requested size and format (a
different picture for every prompt and every index, so tests can tell carousel variations apart), ``usage``
token counts, and the ``{"error": {"message", "type", "param", "code"}}`` envelope with ``x-request-id``.

Faults are scripted: ``state.script`` is a queue of ``Action``s consumed one per request (after the key
check); ``state.default`` answers when the queue is empty. The factory functions below build the cases worth
testing (safety rejections, quota, rate limits, 5xx with JSON or HTML, delays, dropped connections, empty or
undecodable data). Every request body is recorded; ``state.generated`` counts the images paid for.

In-process::

    with OpenAIFake(OpenAIFakeState(api_key="sk-test")) as fake:
        fake.state.push(rate_limited(retry_after_s=0.2))
        client = openai.OpenAI(api_key="sk-test", base_url=fake.base_url)

Standalone (benchmarks, end-to-end runs): ``python -m tests.fakes.openai_fake --port 8001 --latency-min 2
--latency-max 10``. Then ``GET /_fake/stats`` reports counts, ``POST /_fake/script`` appends actions given as
JSON objects with ``Action`` fields, and ``POST /_fake/reset`` clears everything.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import random
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from PIL import Image, ImageDraw

from tests.fakes.base import FakeHandler, FakeServer

GENERATIONS_PATH = "/v1/images/generations"

STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
MODELS_PATH = "/v1/models"

# Shut down, with the date and what OpenAI's deprecations page recommends instead.
SHUTDOWNS: dict[str, tuple[date, str]] = {
    "dall-e-2": (date(2026, 5, 12), "Use a GPT image model instead."),
    "dall-e-3": (date(2026, 5, 12), "Use a GPT image model instead."),
    "gpt-image-1": (date(2026, 10, 23), "Use gpt-image-2.6-sunburst or gpt-image-2.6-flare instead."),
    "gpt-image-1-mini": (date(2026, 12, 1), "Use gpt-image-2.6-sunburst or gpt-image-2.6-flare instead."),
    "gpt-image-1.5": (date(2026, 12, 1), "Use gpt-image-2.6-sunburst or gpt-image-2.6-flare instead."),
    "gpt-image-1.5-2025-12-16": (date(2026, 12, 1), "Use gpt-image-2.6-sunburst or gpt-image-2.6-flare instead."),
    "chatgpt-image-latest": (date(2026, 12, 1), "Use gpt-image-2.6-sunburst or gpt-image-2.6-flare instead."),
}
# Served (until their shutdown date, if one is listed above or in ``state.shutdown_dates``).
KNOWN_MODELS = (
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    *SHUTDOWNS,
)
# Kept for callers of the earlier fake: the models shut down on 2026-12-01 or before, with their messages.
RETIRED_MODELS = {
    name: f"The model `{name}` was shut down on {when:%B} {when.day}, {when.year}. {hint}"
    for name, (when, hint) in SHUTDOWNS.items()
}
BASE_QUALITIES = ("low", "medium", "high", "auto")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
MAX_PIXELS = 3840 * 2160
MAX_EDGE = 3840

# Output tokens of a 1024x1024 image per quality (the published GPT Image figures); other sizes scale by area.
_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}


def model_family(model: str) -> str | None:
    """``"standard"`` (fixed sizes), ``"flexible"`` (any valid WxH) or None (unknown or retired)."""
    if model not in KNOWN_MODELS:
        return None
    if model in ("gpt-image-1-mini", "gpt-image-1.5", "gpt-image-1", "dall-e-2", "dall-e-3") or model.startswith(
        ("gpt-image-1-mini-", "gpt-image-1.5-")
    ):
        return "standard"
    return "flexible"


def size_problem(model: str, size: str) -> str | None:
    """Why ``size`` is invalid for ``model``, or None when it is fine."""
    if size == "auto" or size in STANDARD_SIZES:
        return None
    if model_family(model) != "flexible":
        return f"Invalid value: '{size}'. Supported values are: 'auto', {', '.join(map(repr, STANDARD_SIZES))}."
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", size)
    if not match:
        return f"Invalid value: '{size}'. Size must be 'auto' or WIDTHxHEIGHT."
    width, height = int(match[1]), int(match[2])
    if width <= 0 or height <= 0 or width % 16 or height % 16:
        return f"Invalid size '{size}': width and height must both be divisible by 16."
    if max(width, height) > 3 * min(width, height):
        return f"Invalid size '{size}': the aspect ratio must be between 1:3 and 3:1."
    if max(width, height) > MAX_EDGE or width * height > MAX_PIXELS:
        return f"Invalid size '{size}': the maximum supported resolution is 3840x2160."
    return None


# --- scripted answers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One scripted answer. ``kind``: ``ok`` (a normal generation, after ``delay_s``), ``error`` (``status``
    with the error envelope built from ``error``), ``raw`` (``status`` with ``body`` as ``content_type``),
    ``drop`` (read the request, close the socket without answering), ``empty`` (200 with ``data: []``),
    ``bad_image`` (200 whose ``b64_json`` is not an image)."""

    kind: str = "ok"
    status: int = 200
    error: dict[str, Any] | None = None
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def _error(
    status: int,
    type_: str,
    code: str | None,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Action:
    envelope = {"message": message, "type": type_, "param": param, "code": code, **extra}
    return Action(kind="error", status=status, error=envelope, headers=dict(headers or {}))


def ok(delay_s: float = 0.0) -> Action:
    return Action(kind="ok", delay_s=delay_s)


def delay(seconds: float) -> Action:
    """Answer normally, but only after ``seconds`` (to make the client time out)."""
    return ok(delay_s=seconds)


def content_policy_violation() -> Action:
    return _error(
        400,
        "invalid_request_error",
        "content_policy_violation",
        "Your request was rejected as a result of our safety system. Your prompt may contain text that is "
        "not allowed by our safety system.",
    )


def moderation_blocked() -> Action:
    return _error(
        400,
        "image_generation_user_error",
        "moderation_blocked",
        "Your request was rejected by the safety system. If you believe this is an error, contact us at "
        "help.openai.com and include the request ID.",
        moderation_details={"flagged": True, "categories": ["violence"]},
    )


def invalid_value(param: str = "size", message: str | None = None) -> Action:
    return _error(400, "invalid_request_error", "invalid_value", message or f"Invalid value for '{param}'.", param)


def invalid_api_key(masked_key: str = "sk-te***2345") -> Action:
    return _error(
        401,
        "invalid_request_error",
        "invalid_api_key",
        f"Incorrect API key provided: {masked_key}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    )


def forbidden() -> Action:
    return _error(
        403,
        "invalid_request_error",
        None,
        "Your organization must be verified to use the model `gpt-image-2.6-sunburst`. Please go to "
        "https://platform.openai.com/settings/organization/general and click on Verify Organization.",
    )


def insufficient_quota() -> Action:
    return _error(
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    )


def rate_limited(retry_after_s: float | None = 1.0, *, as_ms: bool = True, should_retry: bool | None = None) -> Action:
    """429 ``rate_limit_exceeded`` with ``retry-after`` (and ``retry-after-ms`` unless ``as_ms`` is False)."""
    headers: dict[str, str] = {}
    if retry_after_s is not None:
        headers["retry-after"] = f"{retry_after_s:g}"
        if as_ms:
            headers["retry-after-ms"] = str(round(retry_after_s * 1000))
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return _error(
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for gpt-image-2.6-sunburst on images per minute (IPM): Limit 5, Used 5, Requested 1. "
        "Please try again in 12s.",
        headers=headers,
    )


def server_error(
    status: int = 500,
    *,
    html: bool = False,
    should_retry: bool | None = None,
    retry_after_ms: int | None = None,
) -> Action:
    """A 5xx: the JSON envelope, or (``html``) a proxy's HTML page as load balancers send. ``retry_after_ms``
    lets tests shorten the SDK's backoff (0.5 s doubling) when they retry through several of these."""
    headers = {} if should_retry is None else {"x-should-retry": "true" if should_retry else "false"}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    if html:
        reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}.get(status, "Error")
        page = (
            f"<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}"
            "</h1></center><hr><center>cloudflare</center></body></html>"
        )
        return Action(kind="raw", status=status, body=page, content_type="text/html", headers=headers)
    message = "The server had an error while processing your request. Sorry about that!"
    return _error(status, "server_error", None, message, headers=headers)


def drop() -> Action:
    return Action(kind="drop")


def empty_data() -> Action:
    return Action(kind="empty")


def bad_image() -> Action:
    return Action(kind="bad_image")


# --- state -----------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    body: dict[str, Any]
    authorized: bool
    status: int = 0  # what the fake answered (0 = dropped)

    @property
    def prompt(self) -> Any:
        return self.body.get("prompt")

    @property
    def model(self) -> Any:
        return self.body.get("model")

    @property
    def size(self) -> Any:
        return self.body.get("size")

    @property
    def quality(self) -> Any:
        return self.body.get("quality")

    @property
    def output_format(self) -> Any:
        return self.body.get("output_format")

    @property
    def n(self) -> Any:
        return self.body.get("n")


@dataclass
class OpenAIFakeState:
    api_key: str | None = "sk-test-postpilot-0123456789"  # None: any non-empty Bearer token is accepted
    today: date = field(default_factory=lambda: date(2026, 12, 1))  # the service's calendar
    shutdown_dates: dict[str, date] = field(default_factory=dict)  # announced shutdowns beyond SHUTDOWNS
    model_reads: int = 0  # GET /v1/models/{id} calls
    latency_s: tuple[float, float] = (0.0, 0.0)  # uniform per successful generation
    blocked_words: tuple[str, ...] = ("forbidden-content",)  # a prompt containing one → moderation_blocked
    default: Action | None = None  # answer when the script is empty (None: a normal generation)
    script: deque[Action] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    generated: int = 0  # images successfully returned, i.e. paid for
    closing: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, *actions: Action) -> None:
        with self.lock:
            self.script.extend(actions)

    def next_action(self) -> Action | None:
        with self.lock:
            return self.script.popleft() if self.script else self.default

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def count_generated(self, n: int) -> None:
        with self.lock:
            self.generated += n

    def shutdown_of(self, model: str) -> date | None:
        if model in self.shutdown_dates:
            return self.shutdown_dates[model]
        known = SHUTDOWNS.get(model)
        return known[0] if known else None

    def is_gone(self, model: str) -> bool:
        when = self.shutdown_of(model)
        return model not in KNOWN_MODELS or (when is not None and when <= self.today)

    def reset(self) -> None:
        with self.lock:
            self.script.clear()
            self.requests.clear()
            self.generated = 0
            self.default = None

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops so no handler outlives its test for long."""
        if seconds > 0:
            self.closing.wait(seconds)


# --- images ----------------------------------------------------------------------------------------------


def render_image(prompt: str, index: int, width: int, height: int, fmt: str) -> bytes:
    """A picture determined by (prompt, index): a coloured field with a few shapes, encoded as ``fmt``."""
    seed = int.from_bytes(hashlib.sha256(f"{index}:{prompt}".encode()).digest()[:8], "big")
    rng = random.Random(seed)

    def colour() -> tuple[int, int, int]:
        return (rng.randrange(256), rng.randrange(256), rng.randrange(256))

    image = Image.new("RGB", (width, height), colour())
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(width // 8, width // 2), y0 + rng.randrange(height // 8, height // 2)
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour())
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour())
    out = io.BytesIO()
    image.save(out, format={"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt])
    return out.getvalue()


def _usage(prompt: str, quality: str, width: int, height: int, n: int) -> dict[str, Any]:
    text_tokens = max(1, len(prompt) // 4)
    per_image = round(_TOKENS_1024[quality] * width * height / (1024 * 1024))
    output = per_image * n
    return {
        "input_tokens": text_tokens,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": text_tokens},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text_tokens + output,
    }


# --- the handler -----------------------------------------------------------------------------------------


class _Reject(Exception):
    def __init__(self, action: Action) -> None:
        super().__init__(action.status)
        self.action = action


class OpenAIHandler(FakeHandler):
    server_version = "openai-fake/1"
    sys_version = ""

    @property
    def state(self) -> OpenAIFakeState:
        state: OpenAIFakeState = self.server.state
        return state

    # --- control endpoints for standalone runs ---

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == MODELS_PATH or path.startswith(MODELS_PATH + "/"):
            self._models(path[len(MODELS_PATH) :].strip("/"))
            return
        if self.path == "/_fake/stats":
            state = self.state
            self.send_json(
                200,
                {
                    "requests": state.request_count,
                    "generated": state.generated,
                    "scripted": len(state.script),
                },
            )
            return
        self._answer(_error(404, "invalid_request_error", None, f"Invalid URL (GET {self.path})"))

    def do_POST(self) -> None:
        raw = self.read_body()
        if self.path == "/_fake/reset":
            self.state.reset()
            self.send_json(200, {"ok": True})
            return
        if self.path == "/_fake/script":
            self.state.push(*(Action(**item) for item in json.loads(raw or b"[]")))
            self.send_json(200, {"scripted": len(self.state.script)})
            return
        if self.path.split("?")[0] != GENERATIONS_PATH:
            self._answer(_error(404, "invalid_request_error", None, f"Invalid URL (POST {self.path})"))
            return
        self._generations(raw)

    # --- the models endpoint ---

    def _model_object(self, model: str) -> dict[str, Any]:
        when = self.state.shutdown_of(model)
        return {
            "id": model,
            "object": "model",
            "created": 1_760_000_000,
            "owned_by": "system",
            "shutdown_date": when.isoformat() if when else None,
        }

    def _models(self, model: str) -> None:
        state = self.state
        if not self._authorized():
            self._answer(invalid_api_key(self._masked_key()))
            return
        if not model:  # the list: only what can still be used
            data = [self._model_object(m) for m in KNOWN_MODELS if not state.is_gone(m)]
            self._send(200, json.dumps({"object": "list", "data": data}).encode(), "application/json", {})
            return
        with state.lock:
            state.model_reads += 1
        if state.is_gone(model):
            message = f"The model `{model}` does not exist or you do not have access to it."
            self._answer(_error(404, "invalid_request_error", "model_not_found", message))
            return
        self._send(200, json.dumps(self._model_object(model)).encode(), "application/json", {})

    # --- the endpoint ---

    def _generations(self, raw: bytes) -> None:
        state = self.state
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        recorded = RecordedRequest(body=body if isinstance(body, dict) else {}, authorized=self._authorized())
        state.record(recorded)
        try:
            if not recorded.authorized:
                raise _Reject(invalid_api_key(self._masked_key()))
            action = state.next_action() or ok()
            if action.kind == "drop":
                self.drop_connection()
                return
            if action.kind in ("error", "raw"):
                raise _Reject(action)
            state.wait(action.delay_s)
            if not isinstance(body, dict):
                raise _Reject(
                    _error(
                        400,
                        "invalid_request_error",
                        None,
                        "We could not parse the JSON body of your request.",
                    )
                )
            params = self._validate(body)
            if any(word in params["prompt"].lower() for word in state.blocked_words):
                raise _Reject(moderation_blocked())
            state.wait(random.uniform(*state.latency_s))
            self._succeed(action, params, recorded)
        except _Reject as rejection:
            recorded.status = rejection.action.status
            self._answer(rejection.action)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        expected = self.state.api_key
        return expected is None or secrets.compare_digest(token.strip(), expected)

    def _masked_key(self) -> str:
        # Like the real service: enough of the key to recognise it, never the whole of it.
        token = (self.headers.get("Authorization") or "").partition(" ")[2].strip()
        return f"{token[:3]}***{token[-4:]}" if len(token) > 8 else "***"

    def _validate(self, body: dict[str, Any]) -> dict[str, Any]:
        def bad(message: str, param: str, code: str = "invalid_value") -> _Reject:
            return _Reject(_error(400, "invalid_request_error", code, message, param))

        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
        if len(prompt) > 32000:
            raise bad(
                "Invalid 'prompt': string too long. Expected a string with maximum length 32000.",
                "prompt",
                "string_above_max_length",
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad(
                "Missing required parameter: 'model'. Specify a model explicitly.",
                "model",
                "missing_required_parameter",
            )
        if model_family(model) is None or self.state.is_gone(model):
            message = f"The model `{model}` does not exist or you do not have access to it."
            if model in SHUTDOWNS and self.state.is_gone(model):
                message = RETIRED_MODELS[model]
            raise _Reject(_error(404, "invalid_request_error", "model_not_found", message))
        for legacy in ("response_format", "style"):
            if body.get(legacy) is not None:
                raise bad(f"Unknown parameter: '{legacy}'.", legacy, "unknown_parameter")
        n = body.get("n", 1)
        n = 1 if n is None else n
        if not isinstance(n, int) or isinstance(n, bool):
            raise bad("Invalid type for 'n': expected an integer.", "n", "invalid_type")
        if n < 1:
            raise bad(
                "Invalid 'n': integer below minimum value. Expected a value >= 1.",
                "n",
                "integer_below_min_value",
            )
        if n > 10:
            raise bad(
                "Invalid 'n': integer above maximum value. Expected a value <= 10.",
                "n",
                "integer_above_max_value",
            )
        size = body.get("size") or "auto"
        problem = size_problem(model, size) if isinstance(size, str) else "Invalid type for 'size'."
        if problem:
            raise bad(problem, "size")
        extra = ("xhigh", "max") if model.startswith(("gpt-image-2.5-", "gpt-image-2.6-")) else ()
        qualities = BASE_QUALITIES + extra
        quality = body.get("quality") or "auto"
        if quality not in qualities:
            raise bad(
                f"Invalid value: '{quality}'. Supported values are: {', '.join(map(repr, qualities))}.",
                "quality",
            )
        fmt = body.get("output_format") or "png"
        if fmt not in OUTPUT_FORMATS:
            raise bad(f"Invalid value: '{fmt}'. Supported values are: 'png', 'jpeg' and 'webp'.", "output_format")
        compression = body.get("output_compression")
        if compression is not None and (
            fmt == "png" or not isinstance(compression, int) or not 0 <= compression <= 100
        ):
            raise bad(
                "output_compression must be an integer 0-100 and needs output_format jpeg or webp.",
                "output_compression",
            )
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        return {
            "prompt": prompt,
            "model": model,
            "n": n,
            "width": width,
            "height": height,
            "quality": "medium" if quality == "auto" else quality,
            "format": fmt,
        }

    def _succeed(self, action: Action, p: dict[str, Any], recorded: RecordedRequest) -> None:
        width, height, fmt = p["width"], p["height"], p["format"]
        if action.kind == "empty":
            data: list[dict[str, Any]] = []
        elif action.kind == "bad_image":
            data = [{"b64_json": base64.b64encode(b"this is not an image").decode()}]
        else:
            data = [
                {"b64_json": base64.b64encode(render_image(p["prompt"], i, width, height, fmt)).decode()}
                for i in range(p["n"])
            ]
        payload = {
            "created": int(time.time()),
            "background": "opaque",
            "data": data,
            "output_format": fmt,
            "quality": p["quality"],
            "size": f"{width}x{height}",
            "usage": _usage(p["prompt"], p["quality"], width, height, p["n"]),
        }
        # Counted (and recorded) before sending: the service bills a generation whether or not the client
        # is still there to read it, and a test reading the state right after its call must see it.
        recorded.status = 200
        self.state.count_generated(len(data))
        self._send(200, json.dumps(payload).encode(), "application/json", {})

    def _answer(self, action: Action) -> None:
        if action.kind == "raw":
            self._send(action.status, action.body.encode(), action.content_type, action.headers)
        else:
            self._send(
                action.status,
                json.dumps({"error": action.error}).encode(),
                "application/json",
                action.headers,
            )

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> bool:
        """Write a response; False when the client had already gone (e.g. it timed out)."""
        all_headers = {
            "x-request-id": f"req_{secrets.token_hex(16)}",
            "openai-version": "2020-10-01",
            "openai-processing-ms": "1",
            **headers,
        }
        try:
            self.send_raw(status, body, content_type, all_headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False
        return True


class OpenAIFake(FakeServer[OpenAIFakeState]):
    """The fake server; ``base_url`` is what ``openai.OpenAI(base_url=…)`` takes."""

    def __init__(self, state: OpenAIFakeState | None = None, port: int = 0) -> None:
        super().__init__(OpenAIHandler, state or OpenAIFakeState(), port)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> OpenAIFake:
        # The base polls for shutdown every 0.5 s; a short poll keeps per-test teardown near zero.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> OpenAIFake:
        return self.start()

    def stop(self) -> None:
        self.state.closing.set()  # wake handlers that are sleeping out a delay or a latency
        super().stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local fake of the OpenAI Images API.")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--latency-min", type=float, default=0.0, help="seconds per generation, lower bound")
    parser.add_argument("--latency-max", type=float, default=None, help="seconds per generation, upper bound")
    parser.add_argument("--api-key", default=None, help="the accepted key (default: any non-empty key)")
    args = parser.parse_args(argv)
    latency_max = args.latency_min if args.latency_max is None else args.latency_max
    state = OpenAIFakeState(api_key=args.api_key, latency_s=(args.latency_min, max(args.latency_min, latency_max)))
    server = OpenAIFake(state, port=args.port)
    print(f"openai fake listening on {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        state.closing.set()
        server.stop()


if __name__ == "__main__":
    main()
