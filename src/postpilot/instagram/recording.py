"""The dry-run Graph API client: the same calls as ``GraphClient``, recorded instead of sent.

Dry-run accounts run the whole pipeline; the requests a real run would send (host, version, path, form) are
kept, with the token redacted, and stored as a ``dry_run_requests`` event on the post.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from postpilot.instagram.graph_calls import GraphCalls, GraphRequest


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request a dry-run account would have sent; safe to store (the token is never included)."""

    method: str
    url: str  # base URL + path (+ query for GET)
    path: str
    params: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "path": self.path,
            "params": dict(self.params),
            "form": dict(self.form),
            "headers": dict(self.headers),
        }


class RecordingGraphClient(GraphCalls):
    """The dry-run twin: records what would be sent, answers with synthetic ids, never touches the network.

    Containers read FINISHED at once and the quota is never used up. Use one per post, or ``drain()`` the
    recorded requests after each step, to know which requests belong to which post.
    """

    def __init__(
        self,
        *,
        base_url: str = "https://graph.facebook.com",
        version: str = "v25.0",
        account: str | None = None,
        quota_total: int = 100,
    ) -> None:
        super().__init__(version=version, account=account)
        self._base_url = base_url.rstrip("/")
        self._quota_total = quota_total
        self._lock = threading.Lock()
        self._recorded: list[RecordedRequest] = []
        self._containers = itertools.count(1)
        self._media = itertools.count(1)

    @property
    def recorded(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._recorded)

    def drain(self) -> list[RecordedRequest]:
        """The requests recorded so far, forgetting them."""
        with self._lock:
            taken, self._recorded = self._recorded, []
        return taken

    def _execute(self, request: GraphRequest) -> dict[str, Any]:
        url = self._base_url + request.path
        if request.params:
            url += "?" + urlencode(dict(request.params))
        recorded = RecordedRequest(
            method=request.method,
            url=url,
            path=request.path,
            params=dict(request.params),
            form=dict(request.form),
            headers={"Authorization": "Bearer <redacted>"},
        )
        with self._lock:
            self._recorded.append(recorded)
        return self._answer(request)

    def _answer(self, request: GraphRequest) -> dict[str, Any]:
        if request.op == "create":
            return {"id": f"dryrun-container-{next(self._containers)}"}
        if request.op == "status":
            return {"status_code": "FINISHED", "status": "Finished (dry run)"}
        if request.op == "publish":
            # Unique across runs and processes, like a real media id: a dry run's history never shows two posts
            # with the same one.
            return {"id": f"dryrun-media-{uuid.uuid4().hex[:12]}"}
        if request.op == "limit":
            return {"data": [{"quota_usage": 0, "config": {"quota_total": self._quota_total, "quota_duration": 86400}}]}
        if request.op == "media":
            return {"id": request.path.rsplit("/", 1)[-1]}
        if request.op == "recent" or request.op == "comments":
            return {"data": []}
        if request.op == "comment":
            return {"id": f"dryrun-comment-{uuid.uuid4().hex[:12]}"}
        return {"id": "dryrun-user", "username": self._account or "dry-run"}
