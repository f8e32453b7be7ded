"""Keeping secrets out of everything postpilot shows: log lines, error messages, CLI output, pages.

One list of what a secret looks like, used two ways:

- ``redact_text`` (logs and the CLI's error line): also masks every value registered with ``register_secret``
  (the configured keys, each decrypted token) as ``***``;
- ``redact`` (messages built from a service's own words, e.g. Meta's or OpenAI's error text): masks the given
  secrets and the same shapes as ``<redacted>``, and drops URL queries (they can carry signatures).

``redact_value`` walks a log event's fields: values of fields named like token/secret/password/key/signature
are masked whatever they hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

LOG_MASK = "***"
MESSAGE_MASK = "<redacted>"

# Keys whose values are always secret, whatever they hold.
_SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|api[_-]?key|authorization|signature|credential|cookie|fernet)", re.I
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=|-]+")
_SECRET_PARAM = re.compile(
    r"(?i)\b((?:access_token|input_token|fb_exchange_token|client_secret|appsecret_proof|api_key|api_secret|"
    r"signature|code|token)=)[^&\s\"']+"
)
_URL_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+(@)")
_URL_QUERY = re.compile(r"""(https?://[^\s?#'"<>]+)[?#][^\s'"<>]*""")
# Known secret shapes: OpenAI keys (sk-, sess-, org-), Meta user/page tokens (EAA…), Instagram Login tokens
# (IG + letters), Meta app tokens ("<app id>|<secret>"), Fernet ciphertexts (the stored tokens).
_SHAPES = re.compile(
    r"\b(?:(?:sk|sess|org)-[A-Za-z0-9_*\-]{8,}|EAA[A-Za-z0-9_\-]{16,}|IG[A-Za-z]{2}[A-Za-z0-9_\-]{16,}"
    r"|\d{6,}\|[A-Za-z0-9_\-]{16,}|gAAAAA[A-Za-z0-9_=-]{20,})"
)

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value in every later log line and CLI error (the configured keys, decrypted tokens)."""
    if value and len(value) >= 6:
        _registered.add(value)


def _shapes(text: str, mask: str) -> str:
    text = _BEARER.sub(r"\1" + mask, text)
    text = _SECRET_PARAM.sub(r"\1" + mask, text)
    text = _URL_PASSWORD.sub(r"\1" + mask + r"\2", text)
    return _SHAPES.sub(mask, text)


def redact_text(text: str) -> str:
    """For logs and the CLI: registered secrets and every known shape become ``***``."""
    for secret in sorted(_registered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, LOG_MASK)
    return _shapes(text, LOG_MASK)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """For messages quoting a service's words: the given secrets, every known shape and URL queries go."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MESSAGE_MASK)
    text = _URL_QUERY.sub(r"\1", text)
    return _shapes(text, MESSAGE_MASK)


def redact_value(value: Any, key: str | None = None) -> Any:
    """A log field made safe: secret-named fields masked whole, text redacted, containers walked."""
    secret_key = key is not None and _SECRET_KEYS.search(key) is not None
    if secret_key and value not in (None, "", False, True) and not isinstance(value, int | float):
        return LOG_MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact_value(v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


_MAX_SHOWN = 120


def display_url(url: str) -> str:
    """A URL as postpilot shows it (messages, ``post show``, exports): no user:password, the query string as
    ``?…`` (signatures and tokens live there), no fragment, at most 120 characters. The stored value stays
    as written."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        parts, host, port = None, None, None
    if parts is None or not parts.scheme or not host:
        shown = url.split("?", 1)[0].strip()
    else:
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        shown = f"{parts.scheme}://{netloc}{parts.path}" + ("?…" if parts.query else "")
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 1] + "…"


def public_url(url: str) -> str:
    """A URL fit for a message: scheme, host and path only (queries can carry signatures)."""
    return url.split("#", 1)[0].split("?", 1)[0]
