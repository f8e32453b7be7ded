"""What OpenAI's models endpoint says about the configured image model: ``GET /v1/models/{id}``, whose
``shutdown_date`` OpenAI's deprecations page documents (``YYYY-MM-DD``, or null when no shutdown is announced).

Read with the app's own HTTP client, not the ``openai`` SDK: the daemon reads it at start and once a day, and
loading the SDK for that one call cost an idle daemon with an OpenAI key about 20 MB. The SDK is loaded when a
post first needs an image, as the README says. Errors come back in our tree, in the same words the generator
uses; the key never appears in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx

from postpilot.domain.errors import PostpilotError, ProviderBlocked, Transient
from postpilot.redaction import redact

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# OpenAI's refusals that no retry mends, in the words both the generator and this reader use.
KEY_REJECTED = "the OpenAI API key was rejected (HTTP 401): set a valid OPENAI_API_KEY"
OUT_OF_CREDIT = (
    "the OpenAI account is out of credit (insufficient quota): add credit or raise the spending limit at "
    "platform.openai.com"
)


def shown_server_text(text: str, secret: str) -> str:
    """OpenAI's own words made safe to show (``postpilot.redaction``), and kept short."""
    text = redact(text, [secret])
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass(frozen=True, slots=True)
class ModelLifecycle:
    """What ``GET /v1/models/{id}`` says about the configured model."""

    model: str
    available: bool  # False: the models endpoint does not know it (shut down, or not offered to this key)
    shutdown_date: date | None  # OpenAI's announced shutdown, when there is one


def read_model_lifecycle(
    http: httpx.Client, *, api_key: str, model: str, base_url: str | None = None, timeout_s: float = 30.0
) -> ModelLifecycle:
    url = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/models/{model}"
    try:
        response = http.get(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s)
    except httpx.TimeoutException:
        raise Transient(f"OpenAI's models endpoint did not answer within {timeout_s:g} s") from None
    except httpx.HTTPError:
        raise Transient("could not reach OpenAI: the connection failed or was dropped") from None
    if response.status_code == 404:
        return ModelLifecycle(model, available=False, shutdown_date=None)
    if response.status_code != 200:
        raise _refusal(response, api_key, model)
    try:
        body = response.json()
    except ValueError:
        raise Transient("OpenAI's answer could not be read; the model will be read again") from None
    raw = body.get("shutdown_date") if isinstance(body, dict) else None
    return ModelLifecycle(model, available=True, shutdown_date=_iso_date(raw))


def _refusal(response: httpx.Response, api_key: str, model: str) -> PostpilotError:
    status = response.status_code
    if status == 401:
        return ProviderBlocked(KEY_REJECTED)
    words = _server_words(response, api_key)
    if status == 403:
        return ProviderBlocked(f"OpenAI refused this account (HTTP 403) for {model}: {words}")
    if status == 429 and _code(response) == "insufficient_quota":
        return ProviderBlocked(OUT_OF_CREDIT)
    return Transient(f"OpenAI answered HTTP {status}: {words}")


def _error_body(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _code(response: httpx.Response) -> str | None:
    code = _error_body(response).get("code")
    return code if isinstance(code, str) else None


def _server_words(response: httpx.Response, api_key: str) -> str:
    message = _error_body(response).get("message")
    if not isinstance(message, str) or not message.strip():
        return f"HTTP {response.status_code}"
    return shown_server_text(message.strip(), api_key)


def _iso_date(value: object) -> date | None:
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC).date()  # tolerate a unix time, should it ever come as one
    return None
