"""Requests as Meta reads them: path, version, token (header or query), params from the query and the body."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.graph.records import _VERSION_RE, GraphError

# --- request parsing ----------------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str  # without the query string
    segments: list[str]  # path segments, version segment removed
    query: dict[str, str]
    params: dict[str, Any]  # query + form/JSON body (body wins)
    token: str | None
    token_in_url: bool
    host: str

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)


def _first_values(raw: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in raw.items() if v}


def parse_request(method: str, raw_path: str, headers: Any, body: bytes) -> Req:
    parts = urlsplit(raw_path)
    segments = [s for s in parts.path.split("/") if s]
    if segments and _VERSION_RE.match(segments[0]):
        segments = segments[1:]
    query = _first_values(parse_qs(parts.query, keep_blank_values=True))
    body_params: dict[str, Any] = {}
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if body:
        if ctype == "application/json":
            loaded = json.loads(body.decode() or "{}")
            if not isinstance(loaded, dict):
                raise ValueError("JSON body must be an object")
            body_params = loaded
        else:  # Meta treats anything else as form-encoded
            body_params = _first_values(parse_qs(body.decode(), keep_blank_values=True))
    params: dict[str, Any] = {**query, **body_params}
    token: str | None = None
    auth = headers.get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip() or None
    elif auth.lower().startswith("oauth "):
        token = auth[6:].strip() or None
    if token is None and params.get("access_token"):
        token = str(params["access_token"])
    return Req(
        method=method,
        path=parts.path,
        segments=segments,
        query=query,
        params=params,
        token=token,
        token_in_url="access_token" in query,
        host=headers.get("Host") or "127.0.0.1",
    )


def _split_fields(spec: str | None) -> list[tuple[str, list[str] | None]]:
    """``"id,children{id,media_type}"`` → ``[("id", None), ("children", ["id", "media_type"])]``."""
    if not spec:
        return []
    out: list[tuple[str, list[str] | None]] = []
    depth, current = 0, ""
    for ch in spec + ",":
        if ch == "," and depth == 0:
            name = current.strip()
            if name:
                if "{" in name:
                    base, inner = name.split("{", 1)
                    out.append((base.strip(), [f.strip() for f in inner.rstrip("}").split(",") if f.strip()]))
                else:
                    out.append((name, None))
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    return out


def _select(
    values: dict[str, Any],
    fields: Sequence[tuple[str, list[str] | None]],
    node_type: str,
    default: tuple[str, ...],
) -> dict[str, Any]:
    """The requested fields (Meta omits empty ones) plus ``id``; unknown fields are an error, as at Meta."""
    names = [name for name, _ in fields] or list(default)
    out: dict[str, Any] = {}
    for name in names:
        if name not in values:
            raise GraphError(100, None, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})")
        value = values[name]
        if value is None or value == "":
            continue
        out[name] = value() if callable(value) else value
    if "id" in values and "id" not in out:
        out["id"] = values["id"]
    return out
