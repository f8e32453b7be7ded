"""``postpilot doctor``: does this deployment work, before the first post is due? Nothing is published,
generated or uploaded.

Each check answers ok, warning or error with what to do. The checks, in order: the settings; the database
(reachable, schema at head); the state directory (writable); image generation (the OpenAI key and the model's
shutdown date, read from ``GET /v1/models/{id}``); media storage (Cloudinary credentials, by a signed call
that stores nothing; or the local directory and its public address); the Graph API version's end of support;
then for every live account: token present and readable, valid with the permissions publishing needs, its
expiry, the Instagram account id it publishes to, and today's publishing quota.
"""

from __future__ import annotations

import enum
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from postpilot.app import App
from postpilot.db import migrate
from postpilot.domain.errors import PostpilotError
from postpilot.domain.model import Account, LoginKind
from postpilot.domain.sunset import SunsetReading, SunsetState
from postpilot.instagram.client import GraphClient
from postpilot.instagram.scopes import INSTAGRAM_PUBLISH_SCOPES
from postpilot.instagram.versions import version_sunset

TOKEN_WARN_DAYS = 7
QUOTA_WARN_LEFT = 5


class Level(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    level: Level
    detail: str


def _ok(name: str, detail: str) -> Check:
    return Check(name, Level.OK, detail)


def _warn(name: str, detail: str) -> Check:
    return Check(name, Level.WARNING, detail)


def _error(name: str, detail: str) -> Check:
    return Check(name, Level.ERROR, detail)


def _sunset_check(name: str, reading: SunsetReading) -> Check:
    level = {
        SunsetState.OK: Level.OK,
        SunsetState.ENDING: Level.WARNING,
        SunsetState.GONE: Level.ERROR,
        SunsetState.UNKNOWN: Level.WARNING,
    }[reading.state]
    return Check(name, level, reading.message)


def run_checks(app: App, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Check]:
    """Every check, in order. The database checks gate the account checks (they need the tables)."""
    checks: list[Check] = [_ok("settings", "loaded and valid")]
    database = list(_database(app))
    checks += database
    checks += list(_state_dir(app))
    checks += list(_images(app, now))
    checks += list(_storage(app))
    checks.append(_sunset_check("graph api version", version_sunset(app.settings.graph_version, now().date())))
    if all(c.level is not Level.ERROR for c in database):
        checks += list(_accounts(app, now))
    else:
        checks.append(_error("accounts", "not checked: the database must work first"))
    return checks


def worst(checks: list[Check]) -> Level:
    levels = {c.level for c in checks}
    return Level.ERROR if Level.ERROR in levels else Level.WARNING if Level.WARNING in levels else Level.OK


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'CHECK'.ljust(width)}  STATUS   DETAIL"]
    lines += [f"{c.name.ljust(width)}  {c.level.value.ljust(7)}  {c.detail}" for c in checks]
    return "\n".join(lines)


# --- the checks ---------------------------------------------------------------------------------------------


def _database(app: App) -> Iterator[Check]:
    try:
        app.repo.ping()
    except Exception as exc:  # any driver error: the message names the class, never the URL's password
        yield _error("database", f"cannot reach the database ({type(exc).__name__}): check POSTPILOT_DATABASE_URL")
        return
    yield _ok("database", f"reachable ({app.engine.url.get_backend_name()})")
    current, head = migrate.current_revision(app.engine), migrate.HEAD_REVISION
    if current == head:
        yield _ok("schema", f"at {head} (head)")
    else:
        yield _error("schema", migrate.schema_problem(current) or "")


def _writable(path: str) -> str | None:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _state_dir(app: App) -> Iterator[Check]:
    path = str(app.settings.state_dir)
    problem = _writable(path)
    if problem:
        yield _error("state directory", f"{path} is not writable ({problem}): fix its owner or POSTPILOT_STATE_DIR")
    else:
        yield _ok("state directory", f"{path} is writable")


def _images(app: App, now: Callable[[], datetime]) -> Iterator[Check]:
    if app.media.image_provider != "openai":
        yield _ok("image generation", "offline card renderer (set OPENAI_API_KEY to generate with OpenAI)")
        return
    try:
        reading = app.watch.check()
    except PostpilotError as exc:
        yield _error("openai model", exc.message)
        return
    model = next((r for r in reading if r.component == "openai_model"), None)
    if model is None:
        return
    if model.state is SunsetState.UNKNOWN:
        yield _error("openai model", model.message)
        return
    check = _sunset_check("openai model", model)
    yield Check(check.name, check.level, "key accepted; " + check.detail)


def _storage(app: App) -> Iterator[Check]:
    if app.media.media_store_kind == "cloudinary":
        try:
            store = app.media.store()
            check = getattr(store, "check_credentials", None)
            cloud = check() if callable(check) else "?"
        except PostpilotError as exc:
            yield _error("cloudinary", exc.message)
            return
        yield _ok("cloudinary", f"credentials accepted for cloud {cloud} (nothing was uploaded)")
        return
    media = str(app.settings.resolved_media_dir)
    problem = _writable(media)
    if problem:
        yield _error("media directory", f"{media} is not writable ({problem})")
        return
    if app.settings.public_media_url:
        yield _ok("media directory", f"{media}, served at {app.settings.public_media_url}")
        return
    live = [a for a in app.repo.list_accounts() if not a.dry_run] if _has_tables(app) else []
    if live:
        yield _warn(
            "media directory",
            f"{media} has no public address, so Instagram cannot fetch its images: set POSTPILOT_PUBLIC_MEDIA_URL "
            "(serve the directory over HTTPS) or use Cloudinary",
        )
    else:
        yield _ok("media directory", f"{media} (local store; fine for dry-run accounts)")


def _has_tables(app: App) -> bool:
    try:
        return migrate.current_revision(app.engine) is not None
    except Exception:
        return False


def _accounts(app: App, now: Callable[[], datetime]) -> Iterator[Check]:
    accounts = app.repo.list_accounts()
    if not accounts:
        yield _warn("accounts", "none yet: add one with postpilot account add NAME --ig-user-id ID [--dry-run]")
        return
    for account in accounts:
        yield from _account(app, account, now)


def _account(app: App, account: Account, now: Callable[[], datetime]) -> Iterator[Check]:
    from postpilot.instagram import oauth  # requests-oauthlib: loaded for this command only

    name = f"account {account.name}"
    if account.dry_run:
        yield _ok(name, "dry run: nothing is sent to Instagram")
        return
    if not account.is_active:
        yield _warn(name, "paused (is_active is false): its posts wait")
    try:
        ciphertext = app.repo.account_token_encrypted(account.id)
        if not ciphertext:
            yield _error(name, f"no token: run postpilot account connect {account.name}")
            return
        token = app.cipher.decrypt(ciphertext)
    except PostpilotError as exc:
        yield _error(name, exc.message)
        return
    s = app.settings
    facebook = account.login_kind is LoginKind.FACEBOOK
    app_id, secret = (
        (s.facebook_app_id, s.facebook_app_secret) if facebook else (s.instagram_app_id, s.instagram_app_secret)
    )
    try:
        result = oauth.check_token(
            http=app.http,
            login_kind=account.login_kind,
            token=token,
            graph_url=s.graph_url if facebook else s.instagram_graph_url,
            version=s.graph_version,
            timeout_s=s.graph_timeout_s,
            app_id=app_id,
            app_secret=secret.get_secret_value() if secret else None,
            expires_at=account.token_expires_at,
        )
    except PostpilotError as exc:
        yield _error(f"{name} token", exc.message)
        return
    fix = f"run postpilot account connect {account.name}"
    if not result.valid:
        yield _error(f"{name} token", f"{result.problem or 'not valid'}: {fix}")
        return
    if result.missing_scopes:
        yield _error(f"{name} token", f"missing permissions {', '.join(result.missing_scopes)}: {fix}")
        return
    yield _expiry(f"{name} token", account, result.expires_at, now())
    if not facebook:
        yield _instagram_permissions(f"{name} permissions", account)
    graph = GraphClient(
        http=app.http,
        base_url=s.graph_url if facebook else s.instagram_graph_url,
        version=s.graph_version,
        token=token,
        timeout_s=s.graph_timeout_s,
        publish_timeout_s=s.publish_timeout_s,
        account=account.name,
    )
    yield from _identity(graph, account, result.user_id)
    yield from _quota(graph, account)


def _instagram_permissions(name: str, account: Account) -> Check:
    """Meta lists an Instagram Login token's permissions only in the login's answer: what ``account connect``
    kept of it (``accounts.granted_scopes``) is all there is to check."""
    granted = account.granted_scopes
    connect = f"postpilot account connect {account.name} --login instagram"
    if granted is None:
        return Check(
            name,
            Level.WARNING,
            "not known: Meta lists an Instagram Login token's permissions only when the account is connected, and "
            f"this token was not (or was before postpilot kept them): run {connect} to have them checked",
        )
    missing = [s for s in INSTAGRAM_PUBLISH_SCOPES if s not in granted]
    if missing:
        return _error(name, f"not granted: {', '.join(missing)}: run {connect} and leave every permission on")
    if "instagram_business_manage_comments" not in granted:
        return Check(
            name,
            Level.WARNING,
            f"instagram_business_manage_comments was not granted: first comments will not be posted ({connect})",
        )
    return _ok(name, "granted at connect: " + ", ".join(granted))


def _expiry(name: str, account: Account, expires_at: datetime | None, now: datetime) -> Check:
    if expires_at is None:
        return _ok(name, "valid, no expiry date (a Page token)")
    left = expires_at - now
    when = f"{expires_at:%Y-%m-%d}"
    if left <= timedelta(0):
        return _error(name, f"expired on {when}: run postpilot account connect {account.name}")
    if account.token_refresh_error:
        return _warn(name, account.token_refresh_error)
    if left <= timedelta(days=TOKEN_WARN_DAYS):
        what = (
            "the daemon refreshes it; or run postpilot account refresh " + account.name
            if account.login_kind is LoginKind.INSTAGRAM
            else f"run postpilot account connect {account.name} before then"
        )
        return _warn(name, f"valid until {when} ({left.days} days): {what}")
    return _ok(name, f"valid until {when}")


def _identity(graph: GraphClient, account: Account, token_user: str | None) -> Iterator[Check]:
    name = f"account {account.name} publishes to"
    if account.login_kind is LoginKind.INSTAGRAM and token_user and token_user != account.ig_user_id:
        yield _error(
            name,
            f"the token belongs to Instagram account {token_user}, but posts go to {account.ig_user_id}: "
            f"run postpilot account connect {account.name} --login instagram",
        )
        return
    try:
        me = graph.account_info(account.ig_user_id)
    except PostpilotError as exc:
        yield _error(name, f"Instagram account {account.ig_user_id} cannot be read with this token ({exc.message})")
        return
    shown = f"@{me['username']}" if me.get("username") else "(no username)"
    yield _ok(name, f"Instagram account {account.ig_user_id} {shown}")


def _quota(graph: GraphClient, account: Account) -> Iterator[Check]:
    name = f"account {account.name} quota"
    try:
        limit = graph.publishing_limit(account.ig_user_id)
    except PostpilotError as exc:
        yield _warn(name, f"could not be read ({exc.message})")
        return
    if limit.quota_total is None:
        yield _ok(name, f"{limit.quota_usage} API posts in the last 24 hours")
        return
    left = limit.quota_total - limit.quota_usage
    text = f"{limit.quota_usage} of {limit.quota_total} API posts used in the last 24 hours"
    if left <= 0:
        yield _warn(name, text + ": posts wait for a free slot")
    elif left <= QUOTA_WARN_LEFT:
        yield _warn(name, text + f": only {left} left")
    else:
        yield _ok(name, text)
