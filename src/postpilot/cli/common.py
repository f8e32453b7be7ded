"""What every command shares: building Settings and the App once, and turning errors into one line and an
exit code (never a traceback).

Exit codes: 0 ok · 1 a post failed or is unconfirmed (run-once), or not ready (health) · 2 configuration
error · 3 invalid input · 4 not found · 5 conflict with the post's state · 6 unexpected internal error.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from postpilot.app import App, build_app
from postpilot.config import Settings
from postpilot.domain import errors
from postpilot.logging import configure_logging, redact_text

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK, EXIT_POST_FAILED, EXIT_CONFIG, EXIT_INPUT, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_INTERNAL = range(7)

_EXIT_CODES: tuple[tuple[type[errors.PostpilotError], int], ...] = (
    (errors.ConfigError, EXIT_CONFIG),
    (errors.InvalidInput, EXIT_INPUT),
    (errors.NotFound, EXIT_NOT_FOUND),
    (errors.Conflict, EXIT_CONFLICT),
)


_SDK_VARIABLES = frozenset({"OPENAI_API_KEY", "OPENAI_BASE_URL", "CLOUDINARY_URL"})


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {redact_text(message)}", err=True)
    return typer.Exit(code)


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())).upper()
        # Name the variable the user actually set: ours carry the prefix, the SDKs' own keep their names.
        if where and where not in _SDK_VARIABLES:
            where = "POSTPILOT_" + where
        raise errors.ConfigError(f"invalid setting {where or 'settings'}: {first.get('msg')}") from None
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


def open_app(**kwargs: Any) -> App:
    return build_app(load_settings(), **kwargs)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except errors.PostpilotError as exc:
            code = next((c for cls, c in _EXIT_CODES if isinstance(exc, cls)), EXIT_INTERNAL)
            raise fail(exc.message, code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as exc:
            from sqlalchemy.exc import OperationalError, ProgrammingError

            if isinstance(exc, OperationalError | ProgrammingError):
                detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                if "no such table" in detail or "does not exist" in detail:
                    raise fail(
                        f"the database has no postpilot schema yet: run postpilot db upgrade ({detail})", EXIT_CONFIG
                    ) from None
                raise fail(f"database error: {detail}", EXIT_CONFIG) from None
            if "--debug" in sys.argv:
                raise
            raise fail(f"unexpected {type(exc).__name__}: {exc}", EXIT_INTERNAL) from None

    return wrapper
