"""The real Graph API client, on httpx: how a call is sent, and how its failures become our errors.

``GraphClient`` speaks to ``graph.facebook.com`` (Facebook Login) or ``graph.instagram.com`` (Instagram
Login); the two hosts take the same content-publishing calls. The token travels only in the
``Authorization: Bearer`` header: URLs end up in logs, tracebacks and proxies, headers do not.

Every method raises only our errors (``postpilot.domain.errors``). Error responses go through
``error_table.classify_graph_error``; transport failures are mapped here, where the one irreversible call,
``media_publish``, is told apart: once its request may have left this process, a failure means
``OutcomeUnknown`` (read the container before doing anything else), never "retry".

The calls themselves are built in ``graph_calls.py``, shared with the dry-run twin (``recording.py``); the
``GraphApi`` Protocol and its values are in ``graph_api.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from postpilot.domain.errors import ConfigError, OutcomeUnknown, PostpilotError, SlowingDown, Transient
from postpilot.instagram.answers import opt_int, opt_str
from postpilot.instagram.error_table import classify_graph_error
from postpilot.instagram.graph_calls import GraphCalls, GraphRequest
from postpilot.instagram.usage import GraphUsage
from postpilot.logging import get_logger
from postpilot.redaction import redact

log = get_logger("postpilot.graph")


class GraphClient(GraphCalls):
    """The real client. ``http`` belongs to the caller, who closes it."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        base_url: str,
        version: str,
        token: str,
        timeout_s: float,
        publish_timeout_s: float,
        account: str | None = None,
        usage: GraphUsage | None = None,
        on_hold: Callable[[], None] | None = None,
        urgent: bool = False,
    ) -> None:
        super().__init__(version=version, account=account)
        # Meta's usage headers are read on every answer; calls that can wait are held near a limit.
        self._usage = usage
        self._on_hold = on_hold
        self._urgent = urgent  # every call is for a post due now (publish, reconcile)
        if not token:
            raise ConfigError(f"The account has no Instagram token. Run: postpilot account connect {account or 'NAME'}")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = httpx.Timeout(timeout_s)
        # A slow publish is waited for longer; connecting is not, since a failed connect is harmless.
        self._publish_timeout = httpx.Timeout(publish_timeout_s, connect=min(timeout_s, publish_timeout_s))

    def __repr__(self) -> str:  # never show the token
        return f"GraphClient(base_url={self._base_url!r}, prefix={self._prefix!r}, account={self._account!r})"

    def _execute(self, request: GraphRequest) -> dict[str, Any]:
        publishing = request.op == "publish"
        self._hold_if_near_limit(urgent=publishing or self._urgent)
        started = time.monotonic()
        try:
            response = self._http.request(
                request.method,
                self._base_url + request.path,
                params=dict(request.params) or None,
                data=dict(request.form) or None,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                timeout=self._publish_timeout if publishing else self._timeout,
            )
        except httpx.InvalidURL as exc:
            raise ConfigError(f"The Graph API address is invalid: {redact(str(exc), [self._token])}") from exc
        except httpx.HTTPError as exc:
            raise _transport_error(exc, publishing) from exc
        # POSTPILOT_LOG_LEVEL=debug: every call, without its token (it travels in a header, never the URL).
        log.debug(
            "graph_call",
            op=request.op,
            method=request.method,
            path=request.path,
            status=response.status_code,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        if self._usage is not None and response.is_success:
            # Refusals carry the same headers, but the error table reads those (the account's throttle is
            # then kept in the database, for every replica); the meter is for slowing down *before* one.
            self._usage.observe(response.headers, account=self._account or "")
        return self._read(response, request)

    def _hold_if_near_limit(self, *, urgent: bool) -> None:
        """Raise ``SlowingDown`` (nothing is sent) while a usage budget is near its limit. Calls for a post due
        now (``media_publish``, and every call of a client built ``urgent``) still go out until a budget is
        full, since the scheduled minute matters most; staging ahead and permalinks wait."""
        if self._usage is None:
            return
        wait = self._usage.hold_off_s(account=self._account or "", urgent=urgent)
        if wait <= 0:
            return
        if self._on_hold is not None:
            self._on_hold()
        raise SlowingDown(
            "Meta's rate-limit figures for this app or account are near their limit, so postpilot holds "
            f"calls that can wait for about {max(1, round(wait / 60))} minutes",
            retry_after_s=wait,
        )

    def _read(self, response: httpx.Response, request: GraphRequest) -> dict[str, Any]:
        body = _json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if response.is_success and isinstance(body, dict) and not isinstance(error, dict):
            return body
        if response.is_success and not isinstance(error, dict):
            # A 2xx we cannot read: for publish it most likely did publish.
            if request.op == "publish":
                raise OutcomeUnknown(
                    "Instagram answered the publish with something unreadable; the post may be live, "
                    "so it is checked before anything else."
                )
            raise Transient("Instagram sent an answer postpilot could not read; it will be asked again.")
        envelope = error if isinstance(error, dict) else {}
        raise classify_graph_error(
            http_status=response.status_code,
            code=opt_int(envelope.get("code")),
            subcode=opt_int(envelope.get("error_subcode")),
            is_transient=envelope.get("is_transient") if isinstance(envelope.get("is_transient"), bool) else None,
            message=redact(opt_str(envelope.get("message")) or "", [self._token]),
            user_msg=redact(opt_str(envelope.get("error_user_msg")) or "", [self._token]) or None,
            headers=response.headers,
            during=request.during,
            account=self._account,
            media_url=request.media_url,
        )


# --- helpers ---------------------------------------------------------------------------------------------

# Raised before any byte of the request left: safe to retry even for publish.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _transport_error(exc: httpx.HTTPError, publishing: bool) -> PostpilotError:
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConfigError("The Graph API address must start with https:// (or http:// for a local test).")
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    if isinstance(exc, _NEVER_SENT):
        return Transient(f"Could not reach Instagram (the connection {what}); nothing was sent, retrying later.")
    if publishing:
        return OutcomeUnknown(
            f"The connection to Instagram {what} while publishing; the post may be live anyway, so it is "
            "checked before anything else."
        )
    return Transient(f"The connection to Instagram {what}; it will be retried.")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # an HTML error page from a proxy, an empty body, bad UTF-8
        return None
