"""``create_review_app(app)``: the Flask app of the review page, over the composition root's ``App``.

Refuses to exist without POSTPILOT_SECRET_KEY: the login cookie is signed with a key derived from it, and a
page that made up its own key would log everyone out at each restart (and differ between replicas).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from postpilot.domain.errors import ConfigError
from postpilot.logging import get_logger
from postpilot.review import actions, auth, pages
from postpilot.review.images import ImageFiles

if TYPE_CHECKING:
    from postpilot.app import App

log = get_logger("postpilot.review")

SESSION_HOURS = 12
# Pages are never cached (they show live state and sit behind a login); images may be, privately.
_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
KEY_MISSING = (
    "the review page (POSTPILOT_WEB_LISTEN) needs POSTPILOT_SECRET_KEY: it signs the login cookie. Set the key "
    "the accounts' tokens use, or for a dry-run-only setup make one with: python -c \"from cryptography.fernet "
    'import Fernet; print(Fernet.generate_key().decode())"'
)


def session_key(secret: str) -> bytes:
    """A key for the cookie only, derived from the secret key, so the token-encryption key itself never signs
    anything a browser sees."""
    return hmac.new(secret.encode(), b"postpilot review session cookie", hashlib.sha256).digest()


def create_review_app(app: App) -> Flask:
    settings = app.settings
    if settings.secret_key is None or not settings.secret_key.get_secret_value().strip():
        raise ConfigError(KEY_MISSING)
    web = Flask("postpilot.review")
    web.config.update(
        SECRET_KEY=session_key(settings.secret_key.get_secret_value()),
        SESSION_COOKIE_NAME="postpilot_review",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        MAX_CONTENT_LENGTH=64 * 1024,  # forms only: a reason, a prompt
        TEMPLATES_AUTO_RELOAD=False,
    )
    web.extensions["postpilot"] = app
    web.extensions["postpilot.images"] = ImageFiles(
        media_dir=settings.resolved_media_dir,
        cache_dir=settings.state_dir / "review-cache",
        public_base_url=settings.public_media_url,
        # Every image the page downloads (a stored one on Cloudinary, a reel's cover_url) goes through the client
        # that reaches public addresses only, as preparation's downloads do: one rule for every URL postpilot
        # fetches (stored files of the local store are read from disk).
        http=app.fetch_http,
        max_bytes=settings.fetch_max_bytes,
        deadline_s=settings.fetch_deadline_s,
    )
    # The login gate runs before the CSRF check, so a logged-out POST is told to log in rather than about tokens.
    web.before_request(auth.load_user)
    CSRFProtect(web)
    web.register_blueprint(auth.bp)
    web.register_blueprint(pages.bp)
    web.register_blueprint(actions.bp)
    web.jinja_env.globals.update(current_user=auth.current_user, **pages.GLOBALS)
    web.jinja_env.filters.update(pages.FILTERS)
    web.after_request(_headers)
    web.register_error_handler(CSRFError, _csrf_refused)
    web.register_error_handler(HTTPException, _http_error)
    web.register_error_handler(Exception, _unexpected)
    return web


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    log.warning("review_csrf_refused", reason=error.description)
    return (
        render_template(
            "refused.html",
            title="Form refused",
            message=(
                "This form was refused and nothing was changed: it did not carry this page's security token "
                f"(CSRF check: {error.description}). That happens when a form is very old or was sent from another "
                "site. Go back, reload the page and try again."
            ),
        ),
        400,
    )


def _http_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    words = {404: "There is no such page or post.", 405: "That page does not take this kind of request."}
    return (
        render_template("refused.html", title=error.name, message=words.get(code, error.description or error.name)),
        code,
    )


def _unexpected(error: Exception) -> tuple[str, int]:
    # The details go to the log, never to the page (they may hold paths or database text).
    log.error("review_page_failed", error=type(error).__name__, detail=str(error)[:300])
    return (
        render_template(
            "refused.html",
            title="Something went wrong",
            message="The page failed unexpectedly; the details are in the daemon's log. Nothing else was affected.",
        ),
        500,
    )
