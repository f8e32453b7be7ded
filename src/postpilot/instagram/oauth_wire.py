"""Meta's OAuth endpoints on the wire: the authorization-code exchange (requests-oauthlib: state checking,
client credentials in the form body, Meta's two answer shapes), plain Graph calls over httpx, and Meta's error
bodies as our errors. Nothing raised here chains an HTTP library's exception (its text carries the URL, and
Meta's token endpoints take secrets in the query); every message goes through ``redact``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import requests
from oauthlib.oauth2 import (
    AccessDeniedError,
    InsecureTransportError,
    MismatchingStateError,
    MissingCodeError,
    OAuth2Error,
)
from requests_oauthlib import OAuth2Session
from requests_oauthlib.compliance_fixes import facebook_compliance_fix

from postpilot.domain.errors import (
    ConfigError,
    InvalidInput,
    PostpilotError,
    Transient,
)
from postpilot.instagram.error_table import classify_graph_error
from postpilot.redaction import public_url, redact

# What a Facebook Login token must hold to publish (``account check`` and ``doctor`` look for these).


# --- the code exchange (requests-oauthlib) ------------------------------------------------------------------


def authorization_url(session: OAuth2Session, url: str, state: str | None) -> tuple[str, str]:
    with session:
        try:
            address, new_state = session.authorization_url(url, state=state)
        except InsecureTransportError:
            raise ConfigError(f"The login dialog address must use https:// (got {public_url(url)}).") from None
    return str(address), str(new_state)


def fetch_code_token(
    *,
    token_url: str,
    app_id: str,
    app_secret: str,
    redirect_uri: str,
    redirect_response_url: str,
    state: str,
    timeout_s: float,
    facebook: bool,
) -> dict[str, Any]:
    """The authorization code in ``redirect_response_url`` → Meta's short-lived token answer."""
    secrets = (app_secret,)
    with OAuth2Session(app_id, redirect_uri=redirect_uri, state=state) as session:
        if facebook:
            facebook_compliance_fix(session)
        session.register_compliance_hook("access_token_response", meta_token_response(secrets))
        try:
            token = session.fetch_token(
                token_url,
                authorization_response=redirect_response_url,
                client_secret=app_secret,
                include_client_id=True,  # client id and secret in the form body, as Meta documents
                timeout=timeout_s,
            )
        except PostpilotError:
            raise
        except InsecureTransportError:
            raise ConfigError(
                "OAuth addresses must use https:// (the redirect address and Meta's token endpoint)."
            ) from None
        except MismatchingStateError:
            raise InvalidInput(
                "The pasted address does not belong to this login attempt; start the connection again."
            ) from None
        except AccessDeniedError:
            raise InvalidInput("The login was declined, so no token was issued; start again and approve it.") from None
        except MissingCodeError:
            raise InvalidInput(
                "The pasted address has no authorization code; paste the full address the browser was sent to."
            ) from None
        except OAuth2Error as exc:
            detail = redact(str(exc.description or exc.error), secrets)
            raise InvalidInput(f"The login did not complete: {detail}") from None
        except requests.RequestException as exc:
            raise request_failure(token_url, exc, secrets) from None
        except ValueError as exc:  # unreadable answer from the token endpoint
            raise Transient(
                f"Meta's token endpoint ({public_url(token_url)}) sent an unreadable answer: "
                f"{redact(str(exc), secrets)}"
            ) from None
    return dict(token)


def meta_token_response(secrets: Sequence[str]) -> Callable[[requests.Response], requests.Response]:
    """A compliance hook: Meta's error envelopes become our errors; ``{"data": [{…}]}`` is flattened."""

    def hook(response: requests.Response) -> requests.Response:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            raise error_from_body(response.status_code, body, response.headers, secrets)
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            # Instagram Login's code exchange answers either flat or wrapped in "data".
            flat = data[0]
            response._content = json.dumps(flat).encode()
            response.headers["Content-Type"] = "application/json"
        return response

    return hook


def request_failure(url: str, exc: requests.RequestException, secrets: Sequence[str]) -> PostpilotError:
    # requests puts the full URL (with its query) into its messages: strip it before showing anything.
    reason = "timed out" if isinstance(exc, requests.Timeout) else "failed"
    return Transient(f"The connection to Meta ({public_url(url)}) {reason}: {redact(str(exc), secrets)}")


# --- plain Graph calls over httpx ---------------------------------------------------------------------------


def call(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    timeout_s: float,
    secrets: Sequence[str],
    params: Mapping[str, str] | None = None,
    bearer: str | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        response = http.request(method, url, params=dict(params or {}), headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        reason = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        # Not chained: the httpx exception holds the request, whose URL carries Meta's query secrets.
        raise Transient(f"The connection to Meta ({public_url(url)}) {reason}: {redact(str(exc), secrets)}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict) and "error" not in body:
        return body
    if response.is_success and body is None:
        raise Transient(f"Meta ({public_url(url)}) sent an answer postpilot could not read; try again.")
    raise error_from_body(response.status_code, body, response.headers, secrets, account=account)


def error_from_body(
    status: int,
    body: object,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    account: str | None = None,
) -> PostpilotError:
    """Our error for Meta's error body: Graph's ``{"error": {...}}`` or api.instagram.com's flat
    ``{"error_type", "code", "error_message"}``."""
    envelope: Mapping[str, Any] = {}
    if isinstance(body, dict):
        inner = body.get("error")
        envelope = inner if isinstance(inner, dict) else body
    message = envelope.get("message") or envelope.get("error_message") or envelope.get("error_description")
    user_msg = envelope.get("error_user_msg")
    transient = envelope.get("is_transient")
    return classify_graph_error(
        http_status=status,
        code=opt_int(envelope.get("code")),
        subcode=opt_int(envelope.get("error_subcode")),
        is_transient=transient if isinstance(transient, bool) else None,
        message=redact(message if isinstance(message, str) else "", secrets),
        user_msg=redact(user_msg, secrets) if isinstance(user_msg, str) else None,
        headers=headers,
        during="oauth",
        account=account,
    )


# --- small helpers -----------------------------------------------------------------------------------------


def required_token(body: Mapping[str, Any]) -> str:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise Transient("Meta's answer had no access token; start the connection again.")
    return token


def expiry(body: Mapping[str, Any], issued_at: datetime) -> datetime | None:
    seconds = opt_int(body.get("expires_in"))
    return issued_at + timedelta(seconds=seconds) if seconds and seconds > 0 else None


def scopes_of(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    if isinstance(value, list | tuple):
        return tuple(str(s) for s in value)
    return ()


def opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def next_cursor(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
