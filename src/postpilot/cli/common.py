"""What every command shares: building Settings and the App once, and turning errors into one line and an
exit code (never a traceback).

Exit codes: 0 ok · 1 a post failed or is unconfirmed (run-once), or not ready (health) · 2 configuration
error · 3 invalid input · 4 not found · 5 conflict with the post's state · 6 unexpected internal error.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
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


def open_app(*, create: bool = False, **kwargs: Any) -> App:
    """``create``: this command may create the SQLite file (``db upgrade``, ``demo``). Every other command
    refuses a SQLite database that is not there rather than quietly making an empty one, which is what
    running it from the wrong directory would otherwise do."""
    settings = load_settings()
    if not create:
        require_sqlite_file(settings)
    return build_app(settings, **kwargs)


def require_sqlite_file(settings: Settings) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    if path.exists():
        return
    source = "POSTPILOT_STATE_DIR" if "state_dir" in settings.model_fields_set else "the default state directory"
    where = (
        "POSTPILOT_DATABASE_URL"
        if settings.database_url
        else f"{source} ({settings.state_dir}, relative to the current directory {Path.cwd()})"
        if not settings.state_dir.is_absolute()
        else f"{source} ({settings.state_dir})"
    )
    raise errors.ConfigError(
        f"there is no postpilot database at {path.resolve()} (from {where}): run the command where you ran "
        "postpilot db upgrade (or postpilot demo), or set POSTPILOT_DATABASE_URL; to create a new database "
        "here, run postpilot db upgrade"
    )


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
        except BrokenPipeError:
            # The reader went away (``post show 5 | head -1``): nothing left to say, and no one to say it to.
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:
            from sqlalchemy.exc import OperationalError, ProgrammingError

            if isinstance(exc, OperationalError | ProgrammingError):
                detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                if "no such table" in detail or "does not exist" in detail:
                    from postpilot.db import migrate

                    raise fail(migrate.schema_problem(None) or detail, EXIT_CONFIG) from None
                raise fail(f"database error: {detail}", EXIT_CONFIG) from None
            if "--debug" in sys.argv:
                raise
            raise fail(f"unexpected {type(exc).__name__}: {exc}", EXIT_INTERNAL) from None

    return wrapper
