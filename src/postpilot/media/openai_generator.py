"""An ``ImageGenerator`` on the OpenAI Images API (``POST /v1/images/generations``) via the ``openai`` SDK.

This is the only module that imports ``openai``; the composition root imports it lazily, so the SDK costs
memory only when OpenAI is the configured provider.

Retries. The SDK retries 408/409/429/5xx, timeouts and dropped connections itself (``max_retries``, honouring
``retry-after`` up to two minutes). Two things need care:

* A 429 whose code is ``insufficient_quota`` means "no credit", which waiting cannot fix, yet the SDK
  retries every 429 alike. Before the SDK looks at a response, an httpx2 response hook on our HTTP client
  marks such a 429 with ``x-should-retry: false``, a header the SDK's retry check obeys before any status
  rule (``BaseClient._should_retry``). The same hook stops the SDK from sleeping out a long ``retry-after``
  in a generation worker: we raise ``Throttled`` with the delay and the pipeline defers the post. This uses
  only public surfaces (httpx2 event hooks, the SDK's documented header, ``http_client=``) instead of
  overriding a private method, or of dropping the SDK's retries and their ``retry-after`` handling.
* There is no idempotency key: every retry is a separately billed generation. Only failures that produced no
  image are retried (5xx, 429, lost connections); a timed-out request may still have been billed, which is
  the price of getting an image at all.

Errors leave this module only as ``postpilot.domain.errors`` exceptions with messages written for a
marketer. They never contain the API key: OpenAI's own 401 message echoes part of it, so auth errors use our
words only, and any server text we do quote passes through ``shown_server_text``.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from datetime import UTC, datetime
from typing import Final, Literal, cast

import httpx2
import openai
import structlog
from openai.types import ImagesResponse
from openai.types.images_response import Usage
from PIL import Image

from postpilot.domain.errors import (
    ConfigError,
    ContentRejected,
    InvalidInput,
    Permanent,
    PostpilotError,
    ProviderBlocked,
    ServerError,
    Throttled,
    Transient,
)
from postpilot.media.openai_lifecycle import KEY_REJECTED, OUT_OF_CREDIT, shown_server_text
from postpilot.media.openai_models import (
    CURRENT_MODELS,
    DEFAULT_MODEL,
    retirement,
    size_for,
    table_cost_usd,
)
from postpilot.media.openai_models import usage_cost_usd as _usage_cost
from postpilot.media.ports import GeneratedImage, ImageRequest

__all__ = ["CURRENT_MODELS", "OpenAIImageGenerator", "size_for", "table_cost_usd"]

log = structlog.get_logger(__name__)

Quality = Literal["low", "medium", "high", "auto"]
OutputFormat = Literal["jpeg", "png", "webp"]

QUALITIES: Final = ("low", "medium", "high", "auto")
OUTPUT_FORMATS: Final = ("jpeg", "png", "webp")
SAFETY_CODES: Final = ("content_policy_violation", "moderation_blocked")
# A post whose model is gone is looked at again this often (the operator changes the setting and restarts).
MODEL_GONE_RETRY_S: Final = 900.0


def _setting_hint() -> str:
    return f"set POSTPILOT_OPENAI_MODEL to one of {', '.join(CURRENT_MODELS)}"


# --- prompts ---------------------------------------------------------------------------------------------

# One direction per carousel position, so every image of a set is visibly its own picture.
_VARIATION_HINTS: Final = (
    "a wide establishing shot",
    "a close-up on one telling detail",
    "a view from above",
    "a low camera angle",
    "a side view with the subject off-centre",
    "a different setting or background",
    "softer, warmer light",
    "a bold, graphic arrangement",
    "a candid, in-the-moment feel",
    "a minimal composition with plenty of empty space",
)


def prompt_for(request: ImageRequest) -> str:
    """The prompt sent for ``request``: carousel positions get distinct directions so the images differ."""
    base = request.prompt.strip() or request.caption.strip()
    if not base:
        raise InvalidInput("an image prompt is needed to generate an image (the prompt and caption are empty)")
    if request.of_count <= 1:
        return base
    hint = _VARIATION_HINTS[request.variation % len(_VARIATION_HINTS)]
    return (
        f"{base}\n\nImage {request.variation + 1} of {request.of_count} in a carousel: {hint}. "
        "Keep the same subject and style as the rest of the set, with a composition and camera angle "
        "clearly different from the other images."
    )


# --- the SDK's retry decision ----------------------------------------------------------------------------


# The longest server-requested wait sat out inside ``generate``; longer ones become ``Throttled`` so the
# pipeline defers the post and the generation worker moves on (the SDK itself would sleep up to 120 s).
MAX_INLINE_WAIT_S: Final = 20.0


def _limit_sdk_retries(response: httpx2.Response) -> None:
    """httpx2 response hook: tell the SDK not to retry a 429 that waiting cannot fix (no credit) or that
    asks for a wait longer than ``MAX_INLINE_WAIT_S``."""
    if response.status_code != 429:
        return
    retry_after = _retry_after_s(response.headers)
    if retry_after is not None and retry_after > MAX_INLINE_WAIT_S:
        response.headers["x-should-retry"] = "false"
        return
    response.read()  # hooks run before the body is read; the SDK reads it again from the buffer
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return
    if code == "insufficient_quota":
        response.headers["x-should-retry"] = "false"


def _retry_after_s(headers: httpx2.Headers) -> float | None:
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


# --- the adapter -----------------------------------------------------------------------------------------


class OpenAIImageGenerator:
    """Generates one image per request with a GPT image model. Owns its SDK client: call ``close()``."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        quality: str = "medium",
        output_format: str = "jpeg",
        timeout_s: float = 180.0,
        max_retries: int = 2,
        base_url: str | None = None,
    ) -> None:
        self._model = _checked_model(model)
        self._quality = _checked_choice("POSTPILOT_OPENAI_QUALITY", quality, QUALITIES)
        self._output_format = _checked_choice("POSTPILOT_OPENAI_OUTPUT_FORMAT", output_format, OUTPUT_FORMATS)
        if not api_key.strip():
            raise ConfigError("OPENAI_API_KEY is empty: set it to generate images with OpenAI")
        if timeout_s <= 0 or max_retries < 0:
            raise ConfigError("the OpenAI timeout must be positive and the retry count not negative")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._attempts = max_retries + 1
        http_client = openai.DefaultHttpxClient(event_hooks={"response": [_limit_sdk_retries]})
        try:
            self._client = openai.OpenAI(
                api_key=api_key,
                base_url=base_url,
                timeout=openai.Timeout(timeout_s, connect=min(10.0, timeout_s)),
                max_retries=max_retries,
                http_client=http_client,
            )
        except openai.OpenAIError as exc:
            http_client.close()
            raise ConfigError("the OpenAI client could not be set up; check OPENAI_BASE_URL") from exc

    @property
    def model(self) -> str:
        return self._model

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIImageGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def estimate_cost_usd(self, request: ImageRequest) -> float:
        width, height = size_for(self._model, request.aspect)
        prompt_chars = len(request.prompt or request.caption) + (150 if request.of_count > 1 else 0)
        return table_cost_usd(self._model, self._quality, width, height, prompt_chars)

    def generate(self, request: ImageRequest) -> GeneratedImage:
        prompt = prompt_for(request)
        gone = retirement(self._model, datetime.now(UTC).date())
        if gone is not None:
            # Known to be shut down: no request that can only be refused (and nothing is paid).
            raise ProviderBlocked(
                f"OpenAI shut down the image model '{self._model}' on {gone.shutdown.isoformat()}: "
                f"{_setting_hint()} (OpenAI recommends {gone.replacement}); posts that need an image wait "
                "until then",
                retry_after_s=MODEL_GONE_RETRY_S,
            )
        width, height = size_for(self._model, request.aspect)
        started = time.monotonic()
        try:
            response = self._client.images.generate(
                model=self._model,
                prompt=prompt,
                size=f"{width}x{height}",
                quality=cast(Quality, self._quality),
                output_format=cast(OutputFormat, self._output_format),
                n=1,
            )
        except openai.OpenAIError as exc:
            error = self._translate(exc, width, height)
            log.warning(
                "openai_image_failed",
                model=self._model,
                status=getattr(exc, "status_code", None),
                code=getattr(exc, "code", None),
                request_id=getattr(exc, "request_id", None),
                error=type(error).__name__,
            )
            raise error from exc
        data = _image_bytes(response)
        if response.usage is not None:
            cost = usage_cost_usd(self._model, response.usage)  # what OpenAI says it billed
        else:
            cost = table_cost_usd(self._model, self._quality, width, height, len(prompt))
        log.info(
            "openai_image_generated",
            model=self._model,
            size=f"{width}x{height}",
            quality=response.quality or self._quality,
            bytes=len(data),
            cost_usd=round(cost, 5),
            seconds=round(time.monotonic() - started, 2),
        )
        return GeneratedImage(data=data, model=self._model, cost_usd=cost)

    def _server_words(self, exc: openai.APIStatusError) -> str:
        """OpenAI's own explanation (the envelope's ``message``), safe to show; ``exc.message`` would add
        the status and a dump of the whole body."""
        message = exc.body.get("message") if isinstance(exc.body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return f"HTTP {exc.status_code}"
        return shown_server_text(message.strip(), self._api_key)

    def _translate(self, exc: openai.OpenAIError, width: int, height: int) -> PostpilotError:
        """Map an SDK exception onto our tree, in words a marketer can act on."""
        attempts = f"after {self._attempts} attempt{'s' if self._attempts > 1 else ''}"
        if isinstance(exc, openai.APITimeoutError):
            return Transient(f"OpenAI did not deliver the image within {self._timeout_s:g} s ({attempts})")
        if isinstance(exc, openai.APIConnectionError):
            return Transient(f"could not reach OpenAI: the connection failed or was dropped ({attempts})")
        if not isinstance(exc, openai.APIStatusError):
            return Transient("OpenAI's answer could not be read; the image will be tried again")
        status, code = exc.status_code, exc.code
        if code in SAFETY_CODES:
            return ContentRejected("OpenAI's safety system rejected the prompt; change the prompt or supply an image")
        if status == 429 and code == "insufficient_quota":
            return ProviderBlocked(f"{OUT_OF_CREDIT}; posts that need an image wait until then")
        if status == 401:
            return ProviderBlocked(KEY_REJECTED)
        if status == 403:
            return ProviderBlocked(
                "OpenAI refused this account (HTTP 403), e.g. the organisation is not verified for "
                f"{self._model}: {self._server_words(exc)}"
            )
        if status == 429:
            retry_after = _retry_after_s(exc.response.headers)
            return Throttled(f"OpenAI's rate limit was reached ({attempts})", retry_after_s=retry_after)
        if status >= 500 or status in (408, 409):
            return ServerError(f"OpenAI had a temporary problem (HTTP {status}, {attempts})")
        if status == 404:
            if code == "model_not_found":
                # The setting is wrong (a shut-down model, or one this key may not use), not the post: hold
                # the generation without spending attempts until an operator changes it.
                return ProviderBlocked(
                    f"OpenAI does not offer the image model '{self._model}' (shut down, or not available to "
                    f"this API key): {_setting_hint()}; posts that need an image wait until then",
                    retry_after_s=MODEL_GONE_RETRY_S,
                )
            return Permanent("OpenAI has no image endpoint at the configured address; check OPENAI_BASE_URL")
        what = f" (the '{exc.param}' setting)" if exc.param else ""
        return Permanent(
            f"OpenAI refused the image request{what} for {self._model} at {width}x{height}: {self._server_words(exc)}"
        )


def _image_bytes(response: object) -> bytes:
    """The first image of a response, checked to be a real picture; otherwise a retryable problem."""
    if not isinstance(response, ImagesResponse):
        raise Transient("OpenAI answered with something that is not an image response")
    if not response.data:
        raise Transient("OpenAI returned no image; it will be requested again")
    encoded = response.data[0].b64_json
    if not encoded:
        raise Transient("OpenAI returned an image entry without image data")
    try:
        data = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (binascii.Error, ValueError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise Transient("OpenAI returned image data that is not a readable picture") from exc
    return data


def _checked_model(model: str) -> str:
    model = model.strip()
    if not model:
        raise ConfigError(f"POSTPILOT_OPENAI_MODEL is empty; use one of {', '.join(CURRENT_MODELS)}")
    return model


def usage_cost_usd(model: str, usage: Usage) -> float:
    details = usage.input_tokens_details
    return _usage_cost(model, text_in=details.text_tokens, image_in=details.image_tokens, output=usage.output_tokens)


def _checked_choice(setting: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{setting} must be one of {', '.join(allowed)} (got '{value}')")
    return value
