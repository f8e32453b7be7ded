"""``postpilot doctor`` against the OpenAI, Cloudinary and Graph API fakes, on SQLite and PostgreSQL: every
check in its ok and its failing case, the table, and the exit codes (0; 1 on a warning with --strict; 2 on an
error). Nothing is ever published, generated or uploaded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from typer.testing import CliRunner, Result

from postpilot.app import App
from postpilot.cli import cli
from postpilot.db import migrate
from postpilot.db.rows import accounts
from postpilot.domain.model import LoginKind
from tests.fakes.base import FakeServer
from tests.fakes.cloudinary_fake import CloudinaryFake
from tests.fakes.graph import DAY_S, GraphState, make_server
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState
from tests.integration.pipeline_helpers import make_app

SECRET_KEY = Fernet.generate_key().decode()
OPENAI_KEY = "sk-test-postpilot-0123456789"
CLOUD_SECRET = "cloud-secret-0123456789"
FB_APP, FB_SECRET = "1111222233334444", "fbappsecret0123456789abcdef"
IG_APP, IG_SECRET = "5555666677778888", "igappsecret0123456789abcdef"
FB_IG, FB_TOKEN = "17841400000000011", "EAAtoken-brand-0123456789abcdefghij"
IG_IG, IG_TOKEN = "17841400000000022", "IGQWtoken-studio-0123456789abcdefgh"


@pytest.fixture
def graph() -> Iterator[FakeServer[GraphState]]:
    state = GraphState()
    state.add_app(FB_APP, FB_SECRET, redirect_uri="https://localhost/cb", login_kind="facebook")
    state.add_app(IG_APP, IG_SECRET, redirect_uri="https://localhost/cb", login_kind="instagram")
    state.add_account(FB_IG, None, login_kind="facebook", username="brand")
    state.add_token(FB_TOKEN, FB_IG, expires_in=None, kind="page", app_id=FB_APP)
    state.add_account(IG_IG, None, login_kind="instagram", username="studio")
    state.add_token(IG_TOKEN, IG_IG, app_id=IG_APP)
    with make_server(state) as server:
        yield server
    assert state.publish_calls == {} and not state.containers  # nothing was published or staged


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=OPENAI_KEY)) as server:
        yield server
    assert server.state.generated == 0


@pytest.fixture
def cloud() -> Iterator[CloudinaryFake]:
    with CloudinaryFake(api_secret=CLOUD_SECRET) as server:
        yield server
    assert server.state.assets_stored == 0


@pytest.fixture
def env(
    db_url: str,
    tmp_path: Path,
    graph: FakeServer[GraphState],
    openai_fake: OpenAIFake,
    cloud: CloudinaryFake,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("POSTPILOT_") or name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CLOUDINARY_URL"):
            monkeypatch.delenv(name)
    values = {
        "POSTPILOT_DATABASE_URL": db_url,
        "POSTPILOT_SECRET_KEY": SECRET_KEY,
        "POSTPILOT_STATE_DIR": str(tmp_path / "state"),
        "POSTPILOT_LOG_LEVEL": "error",
        "POSTPILOT_GRAPH_URL": graph.url,
        "POSTPILOT_INSTAGRAM_GRAPH_URL": graph.url,
        "POSTPILOT_FACEBOOK_APP_ID": FB_APP,
        "POSTPILOT_FACEBOOK_APP_SECRET": FB_SECRET,
        "POSTPILOT_INSTAGRAM_APP_ID": IG_APP,
        "POSTPILOT_INSTAGRAM_APP_SECRET": IG_SECRET,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai_fake.base_url,
        "CLOUDINARY_URL": cloud.cloudinary_url(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture
def app(env: dict[str, str], db_url: str, tmp_path: Path, graph: FakeServer[GraphState]) -> Iterator[App]:
    application = make_app(db_url, tmp_path, graph.url, secret_key=SECRET_KEY)
    yield application
    application.close()


def add_live(app: App, name: str, ig: str, token: str, kind: LoginKind) -> int:
    return app.repo.create_account(
        name=name,
        ig_user_id=ig,
        login_kind=kind,
        dry_run=False,
        token_encrypted=app.cipher.encrypt(token),
    )


def doctor(*args: str) -> Result:
    return CliRunner().invoke(cli, ["doctor", *args])


def rows(result: Result) -> dict[str, tuple[str, str]]:
    """CHECK -> (STATUS, DETAIL) from the printed table."""
    lines = result.stdout.splitlines()
    header = lines[0]
    status_at, detail_at = header.index("STATUS"), header.index("DETAIL")
    return {
        line[:status_at].strip(): (line[status_at:detail_at].strip(), line[detail_at:].strip()) for line in lines[1:]
    }


# --- all well --------------------------------------------------------------------------------------------


def test_a_healthy_deployment_is_all_ok(app: App, cloud: CloudinaryFake, graph: FakeServer[GraphState]) -> None:
    add_live(app, "brand", FB_IG, FB_TOKEN, LoginKind.FACEBOOK)
    app.repo.create_account(
        name="test", ig_user_id="1", login_kind=LoginKind.FACEBOOK, dry_run=True, token_encrypted=None
    )

    result = doctor("--strict")

    assert result.exit_code == 0, result.output
    table = rows(result)
    assert {status for status, _ in table.values()} == {"ok"}
    assert list(table) == [
        "settings",
        "database",
        "schema",
        "state directory",
        "openai model",
        "cloudinary",
        "graph api version",
        "account brand token",
        "account brand publishes to",
        "account brand quota",
        "account test",
    ]
    assert "gpt-image-2.6-sunburst is current" in table["openai model"][1]
    assert "nothing was uploaded" in table["cloudinary"][1] and cloud.state.explicit_calls == 1
    assert table["account brand token"][1] == "valid, no expiry date (a Page token)"
    assert table["account brand publishes to"][1] == f"Instagram account {FB_IG} @brand"
    assert table["account brand quota"][1] == "0 of 50 API posts used in the last 24 hours"
    assert table["account test"][1] == "dry run: nothing is sent to Instagram"
    for secret in (FB_TOKEN, OPENAI_KEY, CLOUD_SECRET, FB_SECRET, SECRET_KEY):
        assert secret not in result.output


def test_without_keys_the_embedded_defaults_are_ok(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("CLOUDINARY_URL")

    result = doctor()

    assert result.exit_code == 0, result.output
    table = rows(result)
    assert table["image generation"][0] == "ok" and "card renderer" in table["image generation"][1]
    assert table["media directory"][0] == "ok"
    assert table["accounts"][0] == "warning" and "postpilot account add" in table["accounts"][1]
    assert doctor("--strict").exit_code == 1  # a warning fails only with --strict


# --- what fails ----------------------------------------------------------------------------------------------


def test_an_invalid_setting_is_the_only_row(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPILOT_WORKERS", "0")
    result = doctor()
    assert result.exit_code == 2
    message = "invalid setting POSTPILOT_WORKERS: Input should be greater than or equal to 1"
    assert rows(result) == {"settings": ("error", message)}


def test_an_unreachable_database(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPILOT_DATABASE_URL", "postgresql://postgres:pw-secret@127.0.0.1:9/nothing")
    result = doctor()
    assert result.exit_code == 2
    table = rows(result)
    assert table["database"][0] == "error" and "POSTPILOT_DATABASE_URL" in table["database"][1]
    assert table["accounts"] == ("error", "not checked: the database must work first")
    assert "pw-secret" not in result.output


def test_a_database_without_the_schema(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty.db").touch()  # a database file with nothing in it (a missing one is another check)
    monkeypatch.setenv("POSTPILOT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = doctor()
    assert result.exit_code == 2
    expected = (
        f"the database schema is at nothing, but this version needs {migrate.HEAD_REVISION}: run postpilot db upgrade"
    )
    assert rows(result)["schema"] == ("error", expected)


def test_a_state_directory_that_cannot_be_written(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("POSTPILOT_STATE_DIR", str(blocker))
    result = doctor()
    assert result.exit_code == 2
    assert rows(result)["state directory"][0] == "error"


def test_an_openai_model_near_its_shutdown_warns(app: App, openai_fake: OpenAIFake) -> None:
    openai_fake.state.shutdown_dates["gpt-image-2.6-sunburst"] = date(2026, 12, 20)
    result = doctor()
    status, detail = rows(result)["openai model"]
    assert status == "warning"
    assert "ends on 2026-12-20" in detail and "POSTPILOT_OPENAI_MODEL" in detail
    assert result.exit_code == 0
    assert doctor("--strict").exit_code == 1


def test_a_shut_down_openai_model_is_an_error(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPILOT_OPENAI_MODEL", "gpt-image-1.5")
    result = doctor()
    assert result.exit_code == 2
    status, detail = rows(result)["openai model"]
    assert status == "error"
    assert "reached its end on 2026-12-01" in detail and "gpt-image-2.6-sunburst" in detail


def test_a_rejected_openai_key_is_an_error(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000000000000")
    monkeypatch.setenv("POSTPILOT_OPENAI_MAX_RETRIES", "0")
    result = doctor()
    assert result.exit_code == 2
    status, detail = rows(result)["openai model"]
    assert status == "error" and "OPENAI_API_KEY" in detail
    assert "sk-wrong-key" not in result.output


def test_wrong_cloudinary_credentials_are_an_error(
    app: App, cloud: CloudinaryFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDINARY_URL", cloud.cloudinary_url(api_secret="not-the-secret"))
    result = doctor()
    assert result.exit_code == 2
    status, detail = rows(result)["cloudinary"]
    assert status == "error" and "credentials were rejected" in detail
    assert "not-the-secret" not in result.output


@pytest.mark.parametrize(("version", "status"), [("v21.0", "warning"), ("v20.0", "error"), ("v27.0", "ok")])
def test_the_graph_api_version(app: App, monkeypatch: pytest.MonkeyPatch, version: str, status: str) -> None:
    monkeypatch.setenv("POSTPILOT_GRAPH_VERSION", version)
    assert rows(doctor())["graph api version"][0] == status


def test_an_account_without_a_token(app: App) -> None:
    app.repo.create_account(
        name="brand", ig_user_id=FB_IG, login_kind=LoginKind.FACEBOOK, dry_run=False, token_encrypted=None
    )
    result = doctor()
    assert result.exit_code == 2
    assert rows(result)["account brand"] == ("error", "no token: run postpilot account connect brand")


def test_a_revoked_token_is_an_error(app: App, graph: FakeServer[GraphState]) -> None:
    add_live(app, "brand", FB_IG, FB_TOKEN, LoginKind.FACEBOOK)
    graph.state.revoke_token(FB_TOKEN)
    result = doctor()
    assert result.exit_code == 2
    status, detail = rows(result)["account brand token"]
    assert status == "error" and "postpilot account connect brand" in detail


def test_a_missing_permission_is_an_error(app: App, graph: FakeServer[GraphState]) -> None:
    narrow = "EAAnarrow-token-0123456789abcdefgh"
    graph.state.add_token(narrow, FB_IG, scopes=("instagram_basic", "pages_show_list"), app_id=FB_APP)
    add_live(app, "brand", FB_IG, narrow, LoginKind.FACEBOOK)
    result = doctor()
    status, detail = rows(result)["account brand token"]
    assert status == "error"
    assert "instagram_content_publish" in detail and "pages_read_engagement" in detail


def test_a_token_expiring_within_a_week_warns(app: App, graph: FakeServer[GraphState]) -> None:
    short = "EAAshort-lived-0123456789abcdefghij"
    graph.state.add_token(short, FB_IG, expires_in=3 * DAY_S, app_id=FB_APP)
    add_live(app, "brand", FB_IG, short, LoginKind.FACEBOOK)
    status, detail = rows(doctor())["account brand token"]
    assert status == "warning" and "run postpilot account connect brand before then" in detail


def test_an_instagram_login_account_stored_with_the_wrong_id(app: App) -> None:
    add_live(app, "studio", "27000000000000001", IG_TOKEN, LoginKind.INSTAGRAM)  # e.g. the app-scoped id
    result = doctor()
    assert result.exit_code == 2
    status, detail = rows(result)["account studio publishes to"]
    assert status == "error"
    assert f"the token belongs to Instagram account {IG_IG}" in detail


def test_an_instagram_login_account_is_ok(app: App) -> None:
    add_live(app, "studio", IG_IG, IG_TOKEN, LoginKind.INSTAGRAM)
    table = rows(doctor())
    assert table["account studio publishes to"] == ("ok", f"Instagram account {IG_IG} @studio")
    assert table["account studio quota"][0] == "ok"


@pytest.mark.parametrize(
    ("granted", "status", "detail"),
    [
        ("instagram_business_basic instagram_business_content_publish instagram_business_manage_comments", "ok",
         "granted at connect: instagram_business_basic, instagram_business_content_publish, "
         "instagram_business_manage_comments"),
        ("instagram_business_basic", "error",
         "not granted: instagram_business_content_publish: run postpilot account connect studio --login instagram "
         "and leave every permission on"),
        ("instagram_business_basic instagram_business_content_publish", "warning",
         "instagram_business_manage_comments was not granted: first comments will not be posted (postpilot account "
         "connect studio --login instagram)"),
        (None, "warning",
         "not known: Meta lists an Instagram Login token's permissions only when the account is connected, and this "
         "token was not (or was before postpilot kept them): run postpilot account connect studio --login instagram "
         "to have them checked"),
    ],
)
def test_an_instagram_login_accounts_permissions_are_what_connect_kept(
    app: App, granted: str | None, status: str, detail: str
) -> None:
    add_live(app, "studio", IG_IG, IG_TOKEN, LoginKind.INSTAGRAM)
    with app.engine.begin() as conn:
        conn.execute(update(accounts).values(granted_scopes=granted))
    result = doctor()
    assert rows(result)["account studio permissions"] == (status, detail)
    assert result.exit_code == (2 if status == "error" else 0)


def test_a_nearly_used_quota_warns(app: App, graph: FakeServer[GraphState]) -> None:
    add_live(app, "brand", FB_IG, FB_TOKEN, LoginKind.FACEBOOK)
    graph.state.consume_quota(FB_IG, 47)
    status, detail = rows(doctor())["account brand quota"]
    assert status == "warning" and detail == "47 of 50 API posts used in the last 24 hours: only 3 left"


# --- what fails: the local store, paused accounts, token ends, what a token cannot read -------------------------


def test_a_media_directory_that_cannot_be_written(app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDINARY_URL")  # the local store
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("POSTPILOT_MEDIA_DIR", str(blocker / "media"))
    result = doctor()
    assert result.exit_code == 2
    status, detail = rows(result)["media directory"]
    assert status == "error" and f"{blocker / 'media'} is not writable" in detail


def test_live_accounts_need_a_public_address_for_the_local_store(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDINARY_URL")
    add_live(app, "brand", FB_IG, FB_TOKEN, LoginKind.FACEBOOK)

    result = doctor()

    assert result.exit_code == 0  # a warning: dry-run accounts still work
    status, detail = rows(result)["media directory"]
    assert status == "warning"
    assert "no public address" in detail and "POSTPILOT_PUBLIC_MEDIA_URL" in detail
    assert doctor("--strict").exit_code == 1
    # Served over HTTPS, it is fine.
    monkeypatch.setenv("POSTPILOT_PUBLIC_MEDIA_URL", "https://media.example.test/postpilot")
    status, detail = rows(doctor())["media directory"]
    assert status == "ok" and "served at https://media.example.test/postpilot" in detail


def test_a_paused_account_warns_and_is_still_checked(app: App) -> None:
    add_live(app, "brand", FB_IG, FB_TOKEN, LoginKind.FACEBOOK)
    with app.engine.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.name == "brand").values(is_active=False))

    result = doctor()

    assert result.exit_code == 0
    table = rows(result)
    assert table["account brand"] == ("warning", "paused (is_active is false): its posts wait")
    assert table["account brand token"][0] == "ok" and table["account brand publishes to"][0] == "ok"
    assert doctor("--strict").exit_code == 1


def test_an_expired_facebook_token_is_an_error(app: App, graph: FakeServer[GraphState]) -> None:
    add_live(app, "brand", FB_IG, FB_TOKEN, LoginKind.FACEBOOK)
    graph.state.expire_token(FB_TOKEN)  # Meta's debug_token: is_valid false, "Session has expired"

    result = doctor()

    assert result.exit_code == 2
    status, detail = rows(result)["account brand token"]
    assert status == "error"
    assert "Session has expired" in detail and detail.endswith("run postpilot account connect brand")
    assert "account brand publishes to" not in rows(result)  # nothing more is read with a dead token
    assert FB_TOKEN not in result.output


def test_an_expired_instagram_login_token_is_an_error(app: App, graph: FakeServer[GraphState]) -> None:
    graph.state.backdate_token(IG_TOKEN, 61 * DAY_S)  # issued 61 days ago: its 60 days are over
    app.repo.create_account(
        name="studio",
        ig_user_id=IG_IG,
        login_kind=LoginKind.INSTAGRAM,
        dry_run=False,
        token_encrypted=app.cipher.encrypt(IG_TOKEN),
        token_expires_at=datetime.now(UTC) - timedelta(days=1),
        token_issued_at=datetime.now(UTC) - timedelta(days=61),
    )

    result = doctor()

    assert result.exit_code == 2
    status, detail = rows(result)["account studio token"]
    assert status == "error" and "expired" in detail.lower()
    assert "postpilot account connect studio" in detail
    assert IG_TOKEN not in result.output


def test_a_failed_automatic_refresh_warns_with_its_reason(app: App) -> None:
    account_id = app.repo.create_account(
        name="studio",
        ig_user_id=IG_IG,
        login_kind=LoginKind.INSTAGRAM,
        dry_run=False,
        token_encrypted=app.cipher.encrypt(IG_TOKEN),
        token_expires_at=datetime.now(UTC) + timedelta(days=9),
        token_issued_at=datetime.now(UTC) - timedelta(days=51),
    )
    reason = (
        "The automatic refresh of the Instagram token failed (Instagram did not answer in time); it is tried "
        "again within an hour. If this persists, run: postpilot account refresh studio"
    )
    app.repo.set_token_refresh_error(account_id, reason)

    result = doctor()

    assert result.exit_code == 0
    assert rows(result)["account studio token"] == ("warning", reason)
    assert rows(result)["account studio publishes to"][0] == "ok"
    assert doctor("--strict").exit_code == 1


def test_a_facebook_account_the_token_cannot_read_is_an_error(app: App, graph: FakeServer[GraphState]) -> None:
    """The token is valid with every permission, but posts go to an Instagram account of another Page (a
    wrong id, or the Page's token was replaced): Meta will not read that account with this token."""
    other = "17841400000000033"
    graph.state.add_account(other, None, login_kind="facebook", username="someone_else")
    add_live(app, "brand", other, FB_TOKEN, LoginKind.FACEBOOK)

    result = doctor()

    assert result.exit_code == 2, result.output
    table = rows(result)
    assert table["account brand token"][0] == "ok"
    status, detail = table["account brand publishes to"]
    assert status == "error" and f"Instagram account {other} cannot be read with this token (" in detail
    assert table["account brand quota"][0] == "warning" and "could not be read" in table["account brand quota"][1]


def test_a_quota_that_cannot_be_read_warns(app: App, graph: FakeServer[GraphState]) -> None:
    add_live(app, "brand", FB_IG, FB_TOKEN, LoginKind.FACEBOOK)
    graph.state.inject_server_error("limit", count=10)

    result = doctor()

    assert result.exit_code == 0  # publishing reads it again at its minute
    table = rows(result)
    assert table["account brand publishes to"][0] == "ok"
    status, detail = table["account brand quota"]
    assert status == "warning" and detail.startswith("could not be read (")
    assert doctor("--strict").exit_code == 1


def test_doctor_from_the_wrong_directory_says_where_it_looked_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("POSTPILOT_"):
            monkeypatch.delenv(name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 2, result.output
    (row,) = [line for line in result.output.splitlines() if line.startswith("database")]
    assert "error" in row and f"there is no postpilot database at {elsewhere / 'var' / 'postpilot.db'}" in row
    assert "the default state directory" in row and "relative to the current directory" in row
    assert not (elsewhere / "var").exists()
