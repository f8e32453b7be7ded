"""structlog setup: JSON lines when stderr is not a terminal (journald, files), a console renderer when it is,
and a redaction processor that masks secrets wherever they appear, before any renderer sees them."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "***"

# Keys whose values are always secret, whatever they hold.
_SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|api[_-]?key|authorization|signature|credential|cookie|fernet)", re.I
)
# Secrets embedded in free text: bearer tokens, query parameters, URL credentials, well-known key shapes.
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (
        re.compile(
            r"(?i)((?:access_token|input_token|fb_exchange_token|client_secret|api_key|api_secret|signature|code|"
            r"token)=)[^&\s\"']+"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+(@)"), r"\1" + REDACTED + r"\2"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bEAA[A-Za-z0-9]{20,}"), REDACTED),  # Meta user/page tokens
    (re.compile(r"\bIG[A-Za-z0-9]{30,}"), REDACTED),  # Instagram Login tokens
    (re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"), REDACTED),  # Fernet ciphertexts
)

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value in every later log line (the configured keys, decrypted tokens)."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact_text(text: str) -> str:
    for secret in sorted(_extra_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    secret_key = key is not None and _SECRET_KEYS.search(key) is not None
    if secret_key and value not in (None, "", False, True) and not isinstance(value, int | float):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact(v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redaction_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = redact(event_dict[key], None if key == "event" else key)
    return event_dict


def _format_exc_then_redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    exc = event_dict.get("exception")
    if isinstance(exc, str):
        event_dict["exception"] = redact_text(exc)
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at write time (test runners and daemons swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return _isatty(sys.stderr)


def configure_logging(*, level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    stream = stream or _CurrentStderr()
    as_json = fmt == "json" or (fmt == "auto" and not _isatty(stream))
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redaction_processor,
    ]
    if as_json:
        processors += [
            structlog.processors.format_exc_info,
            _format_exc_then_redact,
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=False)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries that use stdlib logging (alembic, apscheduler, httpx) go to the same stream, redacted.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def get_logger(name: str | None = None, **bind: Any) -> Any:
    return structlog.get_logger(name).bind(**bind) if bind else structlog.get_logger(name)


def secrets_in(values: Iterable[str | None]) -> None:
    for v in values:
        register_secret(v)
