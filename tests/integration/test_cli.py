"""The ``postpilot`` command line, on SQLite and PostgreSQL.

Most commands run in-process through Typer's ``CliRunner`` (fast); the ones whose contract is the process
itself (exit codes of ``run-once``, ``demo``, configuration errors, the token read from stdin) run as real
subprocesses with ``cwd=tmp_path`` so a developer's ``.env`` never leaks in.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from PIL import Image
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from postpilot.cli import cli
from tests.conftest import PG_ADMIN_URL
from tests.fakes.base import FakeHandler, FakeServer

SECRET_KEY = Fernet.generate_key().decode()
TOKEN = "EAAG-live-token-" + uuid.uuid4().hex
CLEAN_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CLOUDINARY_URL", "STATE_DIRECTORY", "NOTIFY_SOCKET")

# The validation rules a marketer can break through `post add`, with a piece of each message.
VALIDATION_CASES = [
    (["--type", "photo"], "a photo needs an image_url or a prompt"),
    (["--type", "carousel", "--media-url", "https://example.com/1.jpg"], "a carousel needs 2 to 10 images"),
    (["--type", "carousel", *[a for i in range(11) for a in ("--media-url", f"https://example.com/{i}.jpg")]],
     "a carousel needs 2 to 10 images; media_urls has 11"),
    (["--type", "reel"], "a reel needs a video_url"),
    (["--prompt", "p", "--caption", "x" * 2201], "caption is 2201 characters long; Instagram allows at most 2200"),
    (["--prompt", "p", "--caption", " ".join(f"#t{i}" for i in range(31))], "caption has 31 hashtags"),
    (["--prompt", "p", "--caption", " ".join(f"@u{i}" for i in range(21))], "caption has 21 @mentions"),
    (["--prompt", "p", "--aspect", "wide"], "aspect must be square, portrait or landscape"),
    (["--image-url", "ftp://example.com/a.jpg"], "image_url must start with http:// or https:// (got ftp://)"),
    (["--prompt", "p", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["--prompt", "p", "--at", "next tuesday"], "is not a date and time"),
]


# --------------------------------------------------------------------------------------------- helpers
@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment every command sees (in-process and subprocesses), isolated from the host."""
    for name in list(os.environ):
        if name.startswith("POSTPILOT_") or name in CLEAN_ENV:
            monkeypatch.delenv(name)
    values = {
        "POSTPILOT_DATABASE_URL": db_url,
        "POSTPILOT_SECRET_KEY": SECRET_KEY,
        "POSTPILOT_STATE_DIR": str(tmp_path / "state"),
        "POSTPILOT_LOG_LEVEL": "warning",
        "POSTPILOT_LOG_FORMAT": "json",
        # A live account's posts must never reach the real Instagram, whatever a test forgets.
        "POSTPILOT_GRAPH_URL": "http://127.0.0.1:9",
        "POSTPILOT_INSTAGRAM_GRAPH_URL": "http://127.0.0.1:9",
        # The tests' image servers listen on loopback, which marketers' URLs may not reach by default.
        "POSTPILOT_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
        # Tests repeat captions and prompts freely; the duplicate guard is tested where it is asked for.
        "POSTPILOT_DUPLICATE_WINDOW_S": "0",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


def invoke(args: list[str], stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, args, input=stdin)


def run(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postpilot", *args], env=env, cwd=cwd, input=stdin, capture_output=True,
        text=True, timeout=90, check=False,
    )


def one_error_line(result: Result | subprocess.CompletedProcess[str]) -> str:
    """The error contract: exactly one line on stderr, starting with ``error:``, and no traceback."""
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err) == 1, result.stderr
    assert err[0].startswith("error: "), err
    assert "Traceback" not in result.stderr + result.stdout
    return err[0]


def add_dry_account(name: str = "brand") -> int:
    result = invoke(["account", "add", name, "--ig-user-id", "17841400000000001", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.strip())


def add_post(*args: str) -> int:
    result = invoke(["post", "add", "--account", "brand", *args])
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.strip())


def iso(delta_s: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat()


def status_of(engine: Engine, post_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT status FROM scheduled_posts WHERE id = :i"), {"i": post_id}).scalar_one())


# --------------------------------------------------------------------------------------------- db
@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_database")  # skips (or fails under CI) like every PostgreSQL test
    name = f"postpilot_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"  # the plain postgresql:// form a user would write
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_missing_schema_then_db_upgrade_and_current(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTPILOT_DATABASE_URL", empty_db_url)
    monkeypatch.chdir(tmp_path)

    listed = invoke(["post", "list"])
    assert listed.exit_code == 2
    assert "run postpilot db upgrade" in one_error_line(listed)
    once = invoke(["run-once"])
    assert once.exit_code == 2
    assert "run postpilot db upgrade" in one_error_line(once)

    current = invoke(["db", "current"])
    if empty_db_url.startswith("sqlite"):
        # Issue 13: no command but db upgrade and demo creates a SQLite file (the wrong directory would get one).
        assert current.exit_code == 2
        assert "there is no postpilot database at" in one_error_line(current)
        assert not Path(empty_db_url.removeprefix("sqlite:///")).exists()
    else:
        assert current.exit_code == 0
        assert "needs upgrade" in current.stdout and "run postpilot db upgrade" in current.stdout

    for _ in range(2):  # safe to run again
        upgraded = invoke(["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.stderr
        assert "(head)" in upgraded.stdout

    current = invoke(["db", "current"])
    assert current.exit_code == 0
    assert current.stdout.strip().endswith("(head)")
    assert invoke(["post", "list"]).stdout.strip() == "no posts"


# --------------------------------------------------------------------------------------------- accounts
def test_account_add_reads_token_from_stdin_and_list_never_shows_it(
    env: dict[str, str], tmp_path: Path, engine: Engine
) -> None:
    added = run(["account", "add", "live", "--ig-user-id", "17841400000000002"], env, tmp_path, stdin=TOKEN + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().isdigit()
    assert TOKEN not in added.stdout + added.stderr

    with engine.connect() as conn:
        ciphertext = conn.execute(text("SELECT access_token_encrypted FROM accounts WHERE name = 'live'")).scalar_one()
    assert ciphertext and TOKEN not in ciphertext  # encrypted at rest

    add_dry_account("test")
    listed = invoke(["account", "list"])
    assert listed.exit_code == 0
    assert "live" in listed.stdout and "stored" in listed.stdout and "dry-run" in listed.stdout
    assert TOKEN not in listed.stdout + listed.stderr
    assert ciphertext not in listed.stdout + listed.stderr
    assert ciphertext[:16] not in listed.stdout


def test_account_add_refuses_without_secret_key(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTPILOT_SECRET_KEY")
    result = invoke(["account", "add", "live", "--ig-user-id", "17841400000000002"], stdin=TOKEN + "\n")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "POSTPILOT_SECRET_KEY" in line and "Fernet.generate_key()" in line
    assert invoke(["account", "list"]).stdout.startswith("no accounts")
    # A dry-run account needs neither a token nor a key.
    assert add_dry_account("test") == 1


def test_account_add_duplicate_name_is_a_conflict(env: dict[str, str]) -> None:
    add_dry_account("brand")
    again = invoke(["account", "add", "brand", "--ig-user-id", "1", "--dry-run"])
    assert again.exit_code == 5
    assert "already exists" in one_error_line(again)


def test_account_add_without_token_on_stdin(env: dict[str, str]) -> None:
    result = invoke(["account", "add", "live", "--ig-user-id", "17841400000000002"], stdin="")
    assert result.exit_code == 3
    assert "no access token" in one_error_line(result)


# --------------------------------------------------------------------------------------------- post add / list
@pytest.mark.parametrize(
    "extra",
    [
        ["--type", "photo", "--prompt", "a lighthouse at dawn"],
        ["--type", "photo", "--image-url", "https://example.com/a.jpg"],
        ["--type", "carousel", "--media-url", "https://example.com/1.jpg", "--media-url", "https://example.com/2.jpg"],
        ["--type", "carousel", "--prompt", "autumn", "--image-count", "4", "--aspect", "portrait"],
        ["--type", "reel", "--video-url", "https://example.com/v.mp4", "--cover-url", "https://example.com/c.jpg"],
    ],
    ids=["photo-prompt", "photo-url", "carousel-urls", "carousel-prompt", "reel"],
)
def test_post_add_each_type_reads_local_time_in_tz(env: dict[str, str], engine: Engine, extra: list[str]) -> None:
    add_dry_account()
    post_id = add_post("--at", "2030-12-01 09:00", "--tz", "Europe/Paris", "--caption", "Hello #x @y", *extra)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT post_type, status FROM scheduled_posts WHERE id = :i"), {"i": post_id}).one()
    assert row.post_type == extra[1]
    assert row.status == "scheduled"
    listed = invoke(["post", "list"])
    assert "2030-12-01 08:00 UTC" in listed.stdout  # 09:00 in Paris in December is 08:00 UTC
    shown = invoke(["post", "show", str(post_id)])
    assert "2030-12-01T08:00:00+00:00" in shown.stdout


@pytest.mark.parametrize(("args", "message"), VALIDATION_CASES, ids=lambda v: str(v)[:30])
def test_post_add_validation_message(env: dict[str, str], args: list[str], message: str) -> None:
    add_dry_account()
    # A later --account/--at/--tz overrides the default given first (the last value of an option wins).
    result = invoke(["post", "add", "--account", "brand", "--at", "2030-12-01 09:00", *args])
    assert result.exit_code == 3, result.stdout + result.stderr
    assert message in one_error_line(result)
    assert invoke(["post", "list"]).stdout.strip() == "no posts"


PLAIN_SQL = (
    "INSERT INTO scheduled_posts (account_id, post_type, caption, prompt, scheduled_at) "
    "VALUES (1, 'photo', 'Hello', 'a lighthouse at dawn', '2030-12-01T09:00:00+01:00')"
)


def test_plain_sql_insert_shows_in_post_list_at_utc(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    with engine.begin() as conn:
        conn.execute(text(PLAIN_SQL))
    listed = invoke(["post", "list"])
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "ACCOUNT"]
    assert lines[1].split()[:7] == ["1", "brand", "photo", "2030-12-01", "08:00", "UTC", "scheduled"]
    assert invoke(["post", "list", "--status", "failed"]).stdout.strip() == "no posts"
    assert invoke(["post", "list", "--account", "brand"]).stdout.count("\n") == 2
    bad = invoke(["post", "list", "--status", "nope"])
    assert bad.exit_code == 3 and "unknown status" in one_error_line(bad)


# --------------------------------------------------------------------------------------------- show / cancel / retry
def test_post_show_has_row_media_and_history(env: dict[str, str]) -> None:
    add_dry_account()
    post_id = add_post("--at", iso(-5), "--prompt", "a lighthouse at dawn", "--caption", "Hello")
    assert invoke(["run-once"]).exit_code == 0
    shown = invoke(["post", "show", str(post_id)])
    assert shown.exit_code == 0, shown.stderr
    out = shown.stdout
    assert "status: simulated" in out and "caption: Hello" in out and "account: brand" in out
    media = out.split("\nmedia:\n")[1].split("\nhistory:\n")[0]
    assert "1080x1080" in media and "generated" in media
    history = out.split("\nhistory:\n")[1]
    assert "created" in history and "simulated" in history
    missing = invoke(["post", "show", "999"])
    assert missing.exit_code == 4 and "no post with id 999" in one_error_line(missing)


def test_post_cancel(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    post_id = add_post("--at", "2030-12-01 09:00", "--prompt", "p")
    cancelled = invoke(["post", "cancel", str(post_id)])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    assert status_of(engine, post_id) == "cancelled"
    with engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'published' WHERE id = :i"), {"i": post_id})
    refused = invoke(["post", "cancel", str(post_id)])
    assert refused.exit_code == 5 and "already published" in one_error_line(refused)


def test_post_retry_unconfirmed_needs_force(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    post_id = add_post("--at", "2030-12-01 09:00", "--prompt", "p")
    with engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'unconfirmed', last_error = 'publish timed out' "
                          "WHERE id = :i"), {"i": post_id})
    refused = invoke(["post", "retry", str(post_id)])
    assert refused.exit_code == 5
    line = one_error_line(refused)
    assert "Instagram may already show it" in line and f"postpilot post retry {post_id} --force" in line
    assert status_of(engine, post_id) == "unconfirmed"

    forced = invoke(["post", "retry", str(post_id), "--force"])
    assert forced.exit_code == 0, forced.stderr
    assert status_of(engine, post_id) == "scheduled"
    shown = invoke(["post", "show", str(post_id)]).stdout
    assert "forced retry" in shown

    again = invoke(["post", "retry", str(post_id)])  # a scheduled post has nothing to retry
    assert again.exit_code == 5 and f"post {post_id} is scheduled; only failed" in one_error_line(again)


# --------------------------------------------------------------------------------------------- import / export
CSV_TEXT = """account,post_type,scheduled_at,timezone,caption,prompt,image_url,media_urls
brand,photo,2030-12-01 09:00,Europe/Paris,Good one,a lighthouse,,
brand,carousel,2030-12-01T10:00:00Z,,Only one image,,,https://example.com/1.jpg
brand,photo,2030-12-02T09:00:00+01:00,,Second good,,https://example.com/a.jpg,
ghost,photo,2030-12-03T09:00:00Z,,Unknown account,a prompt,,
brand,photo,2030-12-04 09:00,,No zone,,ftp://example.com/x.jpg,
"""


def test_post_import_reports_bad_rows_and_imports_nothing(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    path = tmp_path / "posts.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    result = invoke(["post", "import", str(path)])
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
    err = result.stderr.splitlines()
    assert any(line.startswith("line 3:") and "a carousel needs 2 to 10 images" in line for line in err), err
    assert any(line.startswith("line 5:") and "account" in line for line in err), err
    assert any(line.startswith("line 6:") and "ftp://" in line for line in err), err
    assert not any(line.startswith(("line 2:", "line 4:")) for line in err), err
    assert "3 of 5 rows are invalid; nothing was imported" in err[-1]
    assert invoke(["post", "list"]).stdout.strip() == "no posts"

    skipped = invoke(["post", "import", str(path), "--skip-invalid"])
    assert "imported 2 post(s), skipped 3 invalid row(s)" in skipped.stdout
    assert skipped.exit_code == 3  # the file still had bad rows: scripts must notice
    listed = invoke(["post", "list"]).stdout
    assert "2030-12-01 08:00 UTC" in listed and "2030-12-02 08:00 UTC" in listed
    assert listed.count("\n") == 3  # header and two rows


def test_post_import_unreadable_file(env: dict[str, str], tmp_path: Path) -> None:
    result = invoke(["post", "import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 3 and "cannot read" in one_error_line(result)


def test_post_export_round_trips(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    add_post("--at", "2030-12-01 09:00", "--tz", "Europe/Paris", "--prompt", "a lighthouse", "--caption", "Hi, there")
    add_post("--type", "carousel", "--at", "2030-12-02T09:00:00Z", "--media-url", "https://example.com/1.jpg",
             "--media-url", "https://example.com/2.jpg")
    exported = invoke(["post", "export"])
    assert exported.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["post_type"] for r in rows] == ["photo", "carousel"]
    assert rows[0]["caption"] == "Hi, there" and rows[0]["account"] == "brand"
    assert rows[0]["status"] == "scheduled"
    assert "example.com/1.jpg" in rows[1]["media_urls"] and "example.com/2.jpg" in rows[1]["media_urls"]

    out = tmp_path / "out.csv"
    assert invoke(["post", "export", "-o", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == exported.stdout
    # What export writes, import reads back (status columns aside).
    reimport = tmp_path / "again.csv"
    keep = ("account", "post_type", "scheduled_at", "timezone", "caption", "prompt", "image_url", "media_urls")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keep, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    reimport.write_text(buf.getvalue(), encoding="utf-8")
    again = invoke(["post", "import", str(reimport)])
    assert again.exit_code == 0, again.stderr
    assert "imported 2 post(s)" in again.stdout


# --------------------------------------------------------------------------------------------- run-once
class _NotFound(FakeHandler):
    def do_GET(self) -> None:
        self.send_json(404, {"error": "not found"})


def test_run_once_exit_0_when_all_published(env: dict[str, str], tmp_path: Path, engine: Engine) -> None:
    add_dry_account()
    ids = [add_post("--at", iso(-5), "--prompt", "a lighthouse at dawn"),
           add_post("--type", "carousel", "--at", iso(-3), "--media-url", "https://example.com/1.jpg",
                    "--media-url", "https://example.com/2.jpg", "--caption", "not due yet"),
           add_post("--at", iso(7200), "--prompt", "outside the prepare window")]
    with engine.begin() as conn:  # the carousel is not due for an hour: run-once leaves it alone
        conn.execute(text("UPDATE scheduled_posts SET scheduled_at = :at WHERE id = :i"),
                     {"at": datetime.now(UTC) + timedelta(hours=3), "i": ids[1]})
    result = invoke(["run-once"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "1 simulated, 1 ready"  # one post: prepared (ready), then published
    assert [status_of(engine, i) for i in ids] == ["simulated", "scheduled", "scheduled"]


def test_run_once_exit_1_when_a_post_failed(env: dict[str, str], tmp_path: Path, engine: Engine) -> None:
    add_dry_account()
    good = add_post("--at", iso(-5), "--prompt", "a lighthouse at dawn")
    with FakeServer(_NotFound, None) as server:
        missing = add_post("--at", iso(-5), "--image-url", f"{server.url}/gone.jpg")
        with engine.begin() as conn:  # a row no CLI would accept, written with plain SQL
            conn.execute(text(
                "INSERT INTO scheduled_posts (account_id, post_type, media_urls, scheduled_at) "
                f"VALUES (1, 'carousel', '[\"https://example.com/1.jpg\"]', '{iso(-5)}')"))
            bad = int(conn.execute(text("SELECT max(id) FROM scheduled_posts")).scalar_one())
        result = run(["run-once"], env, tmp_path)  # a real process: the exit code is the contract
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 simulated" in result.stdout and "2 failed" in result.stdout
    assert f"post {bad}: " in result.stderr and "a carousel needs 2 to 10 images" in result.stderr
    assert f"post {missing}: " in result.stderr and "404" in result.stderr
    assert "Traceback" not in result.stderr
    assert [status_of(engine, i) for i in (good, missing, bad)] == ["simulated", "failed", "failed"]


def test_run_once_dry_run_publishes_nothing(env: dict[str, str], tmp_path: Path, engine: Engine) -> None:
    added = invoke(["account", "add", "live", "--ig-user-id", "17841400000000002"], stdin=TOKEN)
    assert added.exit_code == 0, added.stderr
    post_id = int(invoke(["post", "add", "--account", "live", "--at", iso(-5), "--prompt", "p"]).stdout)
    # The Graph API base points at a closed port: any request would fail the post.
    result = invoke(["run-once", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("dry run: ") and "1 simulated" in result.stdout
    assert status_of(engine, post_id) == "simulated"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("POSTPILOT_DATABASE_URL", "mysql://x", "POSTPILOT_DATABASE_URL"),
        ("POSTPILOT_WORKERS", "0", "POSTPILOT_WORKERS"),
        ("POSTPILOT_IMAGE_PROVIDER", "dall-e", "POSTPILOT_IMAGE_PROVIDER"),
    ],
)
def test_run_once_exit_2_on_configuration_error(tmp_path: Path, name: str, value: str, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPILOT_") and k not in CLEAN_ENV}
    env[name] = value
    result = run(["run-once"], env, tmp_path)
    assert result.returncode == 2
    assert message in one_error_line(result)


def test_nothing_due(env: dict[str, str]) -> None:
    result = invoke(["run-once"])
    assert result.exit_code == 0 and "nothing was due" in result.stdout


# --------------------------------------------------------------------------------------------- demo and help
def test_demo_end_to_end_on_embedded_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPILOT_") and k not in CLEAN_ENV}
    result = run(["demo"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "var" / "postpilot.db").is_file()
    assert result.stdout.count(": simulated") == 3
    sizes = {}
    for path in sorted((tmp_path / "var" / "media").glob("*.jpg")):
        with Image.open(path) as img:
            assert img.format == "JPEG"
            sizes[path.name] = img.size
    assert sizes == {
        "post-1-0.jpg": (1080, 1080),
        "post-2-0.jpg": (1080, 1350), "post-2-1.jpg": (1080, 1350), "post-2-2.jpg": (1080, 1350),
        "post-3-0.jpg": (1080, 566),
    }


COMMANDS = [
    [], ["run"], ["run-once"], ["demo"], ["health"], ["db"], ["db", "upgrade"], ["db", "current"],
    ["account"], ["account", "add"], ["account", "list"], ["account", "connect"], ["account", "refresh"],
    ["account", "check"], ["post"], ["post", "add"], ["post", "list"], ["post", "show"], ["post", "cancel"],
    ["post", "retry"], ["post", "import"], ["post", "export"],
]


def test_help_for_every_command() -> None:
    for command in COMMANDS:
        result = invoke([*command, "--help"])
        assert result.exit_code == 0, (command, result.stdout, result.stderr)
        assert "Usage:" in result.stdout, command
        assert "Traceback" not in result.stdout + result.stderr


def test_module_entry_point_help(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPILOT_")}
    result = run(["--help"], env, tmp_path)
    assert result.returncode == 0 and "run-once" in result.stdout
    version = invoke(["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("postpilot ")



def test_export_neutralises_formulas_and_import_takes_it_off(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    formulas = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3 new menu", "@SUM(A1)", "\t=1"]
    ids = [add_post("--at", iso(3600 * (i + 1)), "--prompt", "p", "--caption", c) for i, c in enumerate(formulas)]
    exported = invoke(["post", "export"])
    assert exported.exit_code == 0
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(exported.stdout))}
    for post_id, caption in zip(ids, formulas, strict=True):
        assert rows[post_id]["caption"] == "'" + caption  # a spreadsheet shows it as text, never runs it
    # Imported again, each caption is what the marketer wrote.
    again = tmp_path / "again.csv"
    with again.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=("account", "post_type", "scheduled_at", "caption", "prompt"))
        writer.writeheader()
        for post_id in ids:
            row = rows[post_id]
            writer.writerow({k: row[k] for k in ("account", "post_type", "scheduled_at", "caption", "prompt")})
    imported = invoke(["post", "import", str(again)])
    assert imported.exit_code == 0, imported.stderr
    shown = invoke(["post", "export"]).stdout
    captions = [r["caption"] for r in csv.DictReader(io.StringIO(shown))]
    assert captions.count("'" + formulas[0]) == 2  # the original and the re-imported one
    from postpilot.csv_format import neutralise

    assert neutralise("\r=1") == "'\r=1" and neutralise("plain") == "plain"


def test_signed_urls_are_hidden_in_show_and_export(env: dict[str, str]) -> None:
    add_dry_account()
    signed = "https://bucket.example.com/a.jpg?X-Amz-Signature=s3cr3tsig&access_token=tok3n"
    post_id = add_post("--at", iso(3600), "--image-url", signed)
    shown = invoke(["post", "show", str(post_id)])
    assert shown.exit_code == 0
    assert "https://bucket.example.com/a.jpg?…" in shown.stdout
    assert "s3cr3tsig" not in shown.stdout and "tok3n" not in shown.stdout
    exported = invoke(["post", "export"]).stdout
    assert "https://bucket.example.com/a.jpg?…" in exported and "s3cr3tsig" not in exported
    # On request, the stored value as written (e.g. to import it elsewhere).
    full = invoke(["post", "export", "--full-urls"]).stdout
    assert signed in full


def test_post_import_a_cell_too_large_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    path = tmp_path / "big.csv"
    path.write_text(
        "account,post_type,scheduled_at,caption\nbrand,photo,2030-12-24T09:00:00Z,ok\n"
        f'brand,photo,2030-12-24T09:00:00Z,"{"x" * 140_000}"\n',
        encoding="utf-8",
    )
    result = invoke(["post", "import", str(path)])
    assert result.exit_code == 3
    message = one_error_line(result)
    assert "a cell in the row starting on line 3 is longer than 131,072 characters" in message
    assert invoke(["post", "list"]).stdout.strip() == "no posts"


def test_post_import_a_column_named_twice_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    path = tmp_path / "twice.csv"
    path.write_text(
        "account,post_type,scheduled_at,caption,caption\nbrand,photo,2030-12-24T09:00:00Z,first,second\n",
        encoding="utf-8",
    )
    result = invoke(["post", "import", str(path)])
    assert result.exit_code == 3
    assert "the column(s) caption appear more than once in the header" in one_error_line(result)


# --- issue 13: edits, times in the past, retry too late -----------------------------------------------------


def test_post_add_refuses_a_time_in_the_past_unless_allowed(env: dict[str, str]) -> None:
    add_dry_account()
    result = invoke(["post", "add", "--account", "brand", "--at", "2025-01-01T09:00:00Z", "--prompt", "p"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: scheduled_at 2025-01-01T09:00:00+00:00 is ")
    assert "days in the past; give a time in the future (or use --allow-past" in result.stderr
    allowed = invoke(["post", "add", "--account", "brand", "--at", "2025-01-01T09:00:00Z", "--prompt", "p",
                      "--allow-past"])
    assert allowed.exit_code == 0, allowed.stderr


def test_post_import_refuses_past_rows_with_the_line(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    csv_file = tmp_path / "old.csv"
    csv_file.write_text("account,post_type,scheduled_at,prompt\nbrand,photo,2025-01-01T09:00:00Z,p\n"
                        "brand,photo,2030-01-01T09:00:00Z,p\n")
    result = invoke(["post", "import", str(csv_file)])
    assert result.exit_code == 3
    assert "line 2: scheduled_at 2025-01-01T09:00:00+00:00 is" in result.stderr
    assert "(or use post import --allow-past to publish it as soon as possible)" in result.stderr
    assert invoke(["post", "import", str(csv_file), "--allow-past"]).exit_code == 0


def test_post_edit_changes_what_will_be_published(env: dict[str, str]) -> None:
    add_dry_account()
    post_id = add_post("--at", "2030-12-01T09:00:00Z", "--prompt", "a lighthouse", "--caption", "old")
    result = invoke(["post", "edit", str(post_id), "--caption", "new words #sale", "--at", "2030-12-02T10:00:00Z"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"post {post_id} edited (caption, scheduled_at); it is scheduled"
    shown = invoke(["post", "show", str(post_id)]).stdout
    assert "new words #sale" in shown and "2030-12-02T10:00:00+00:00" in shown and "edited" in shown


def test_post_edit_checks_the_result_like_a_new_post(env: dict[str, str]) -> None:
    add_dry_account()
    post_id = add_post("--at", "2030-12-01T09:00:00Z", "--prompt", "a lighthouse")
    result = invoke(["post", "edit", str(post_id), "--caption", "#" + " #".join(f"t{i}" for i in range(31))])
    assert result.exit_code == 3 and "caption has 31 hashtags" in result.stderr
    nothing = invoke(["post", "edit", str(post_id)])
    assert nothing.exit_code == 3 and "nothing to change" in nothing.stderr
    missing = invoke(["post", "edit", "999", "--caption", "x"])
    assert missing.exit_code == 4 and "no post with id 999" in missing.stderr


def test_post_retry_says_when_a_post_is_too_late(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    post_id = add_post("--at", "2025-01-01T09:00:00Z", "--prompt", "p", "--allow-past")
    with engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'failed' WHERE id = :i"), {"i": post_id})
    result = invoke(["post", "retry", str(post_id)])
    assert result.exit_code == 5
    assert "more than 24 h ago, so it would fail as missed again; give it a new time first" in result.stderr
    assert f"postpilot post edit {post_id} --at" in result.stderr


def test_post_add_for_an_unknown_account_is_not_found(env: dict[str, str]) -> None:
    add_dry_account()
    result = invoke(["post", "add", "--account", "nobody", "--at", "2030-12-01 09:00", "--prompt", "p"])
    assert result.exit_code == 4  # README: 4 not found
    assert "no account named 'nobody'" in one_error_line(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image-url", "https://example.com/a.jpg", "--prompt", "p"], "a photo takes either an image_url"),
        (["--prompt", "p", "--image-count", "3"], "image_count is only for a carousel generated from a prompt"),
        (["--prompt", "p", "--video-url", "https://example.com/v.mp4"], "video_url and cover_url are only for a reel"),
    ],
)
def test_options_that_would_be_ignored_are_refused(env: dict[str, str], args: list[str], message: str) -> None:
    add_dry_account()
    result = invoke(["post", "add", "--account", "brand", "--at", "2030-12-01 09:00", *args])
    assert result.exit_code == 3
    assert message in one_error_line(result)


def test_other_commands_never_create_a_sqlite_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("POSTPILOT_"):
            monkeypatch.delenv(name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for args in (["post", "list"], ["account", "list"], ["run-once"], ["post", "show", "1"]):
        result = invoke(args)
        assert result.exit_code == 2, (args, result.stderr)
        line = one_error_line(result)
        assert "there is no postpilot database at" in line and "relative to the current directory" in line
    assert not (elsewhere / "var").exists()


def test_limit_must_be_positive_and_export_checks_its_status(env: dict[str, str]) -> None:
    add_dry_account()
    assert invoke(["post", "list", "--limit", "0"]).exit_code == 2
    bogus = invoke(["post", "export", "--status", "bogus"])
    assert bogus.exit_code == 3 and "unknown status 'bogus'" in one_error_line(bogus)


def test_ig_user_id_must_be_a_number_even_for_a_dry_run(env: dict[str, str]) -> None:
    result = invoke(["account", "add", "x", "--ig-user-id", "notanumber", "--dry-run"])
    assert result.exit_code == 3 and "must be the numeric Instagram user id" in one_error_line(result)


def test_accounts_can_be_renamed_given_a_token_and_removed(env: dict[str, str]) -> None:
    add_dry_account()
    assert invoke(["account", "rename", "brand", "shop"]).exit_code == 0
    assert "shop" in invoke(["account", "list"]).stdout
    taken = invoke(["account", "add", "other", "--ig-user-id", "1784", "--dry-run"])
    assert taken.exit_code == 0
    clash = invoke(["account", "rename", "other", "shop"])
    assert clash.exit_code == 5 and "already an account named 'shop'" in one_error_line(clash)
    dry = invoke(["account", "token", "shop"], stdin="EAAnew\n")
    assert dry.exit_code == 3 and "dry-run account" in one_error_line(dry)

    post_id = add_post_for("shop")
    busy = invoke(["account", "remove", "shop"])
    assert busy.exit_code == 5 and "still to publish" in one_error_line(busy)
    assert invoke(["post", "cancel", str(post_id)]).exit_code == 0
    finished = invoke(["account", "remove", "shop"])
    assert finished.exit_code == 5 and "--with-posts" in one_error_line(finished)
    gone = invoke(["account", "remove", "shop", "--with-posts"])
    assert gone.exit_code == 0 and gone.stdout.strip() == "removed shop and 1 finished post(s)"
    assert "shop" not in invoke(["account", "list"]).stdout


def test_a_live_account_gets_a_new_token_from_stdin(env: dict[str, str]) -> None:
    added = invoke(["account", "add", "live", "--ig-user-id", "17841400000000009"], stdin="EAAold-token-1234\n")
    assert added.exit_code == 0, added.stderr
    result = invoke(["account", "token", "live", "--expires-in-days", "60"], stdin="EAAnew-token-5678\n")
    assert result.exit_code == 0, result.stderr
    assert "EAAnew" not in result.stdout + result.stderr
    assert "new token saved" in result.stdout


def test_cancelling_a_dry_run_post_closes_it(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    post_id = add_post("--at", "2030-12-01 09:00", "--prompt", "p")
    with engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET status = 'simulated' WHERE id = :i"), {"i": post_id})
    result = invoke(["post", "cancel", str(post_id)])
    assert result.exit_code == 0 and result.stdout.strip() == f"post {post_id} is cancelled"


def add_post_for(account: str) -> int:
    result = invoke(["post", "add", "--account", account, "--at", "2030-12-01 09:00", "--prompt", "p"])
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.strip())


# --- issue 13: settings checked at start, run-once and its neighbours ---------------------------------------


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"POSTPILOT_HEALTH_LISTEN": "nonsense"},
         "invalid setting POSTPILOT_HEALTH_LISTEN: Value error, must be host:port, e.g. 127.0.0.1:8765"),
        ({"POSTPILOT_IMAGE_PROVIDER": "openai"}, "POSTPILOT_IMAGE_PROVIDER=openai needs OPENAI_API_KEY"),
        ({"POSTPILOT_MEDIA_STORE": "cloudinary"}, "POSTPILOT_MEDIA_STORE=cloudinary needs CLOUDINARY_URL"),
    ],
)
def test_run_once_refuses_settings_that_would_retry_forever(
    env: dict[str, str], tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    add_dry_account()
    result = run(["run-once"], {**env, **variables}, tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in one_error_line(result)


def test_a_live_account_without_the_secret_key_is_refused_at_start(env: dict[str, str], tmp_path: Path) -> None:
    added = invoke(["account", "add", "live", "--ig-user-id", "17841400000000009"], stdin="EAAsome-token-1234\n")
    assert added.exit_code == 0, added.stderr
    without_key = {k: v for k, v in env.items() if k != "POSTPILOT_SECRET_KEY"}
    result = run(["run-once"], {**without_key, "POSTPILOT_PUBLIC_MEDIA_URL": "https://cdn.example.com/m"}, tmp_path)
    assert result.returncode == 2
    assert "POSTPILOT_SECRET_KEY is not set, but the live account(s) live have tokens" in one_error_line(result)


def test_run_once_reports_missed_posts_and_exits_1(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    post_id = add_post("--at", "2025-01-01T09:00:00Z", "--prompt", "p", "--allow-past")
    result = invoke(["run-once"])
    assert result.exit_code == 1
    assert "1 missed" in result.stdout and "nothing was due" not in result.stdout
    assert f"post {post_id}: missed" in result.stderr


def test_post_show_into_a_closed_pipe_is_quiet(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    post_id = add_post("--at", "2030-12-01 09:00", "--prompt", "p", "--caption", "x" * 2000)
    shell = f"{sys.executable} -m postpilot post show {post_id} | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", shell], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 1


def test_debug_logging_shows_the_claims(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    add_post("--at", iso(600), "--prompt", "p")  # inside the prepare window
    loud = run(["run-once"], {**env, "POSTPILOT_LOG_LEVEL": "debug"}, tmp_path)
    add_post("--at", iso(600), "--prompt", "q")
    quiet = run(["run-once"], {**env, "POSTPILOT_LOG_LEVEL": "info"}, tmp_path)
    assert "1 ready" in quiet.stdout
    assert '"claimed"' not in quiet.stdout + quiet.stderr
    assert loud.returncode == 0 and '"event": "claimed"' in loud.stdout + loud.stderr


def test_export_edit_in_a_spreadsheet_import_round_trip(env: dict[str, str], tmp_path: Path, engine: Engine,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: export, change captions and times in the file (saved the way a European spreadsheet saves it:
    semicolons, headers in capitals), import, and what post show says is what the Graph fake receives."""
    from tests.fakes.graph import GraphState, make_server

    state = GraphState(image_delay_s=0.0)
    token = "tok-roundtrip-Zq8Xw3Lm5Np7Rt9Vb2"
    state.add_account("17841400000000042", token)
    with make_server(state) as graph:
        monkeypatch.setenv("POSTPILOT_GRAPH_URL", graph.url)
        monkeypatch.setenv("POSTPILOT_PUBLIC_MEDIA_URL", "https://media.example.test/pp")
        added = invoke(["account", "add", "live", "--ig-user-id", "17841400000000042"], stdin=token + "\n")
        assert added.exit_code == 0, added.stderr
        first = add_post_for("live")
        second = add_post_for("live")
        exported = tmp_path / "posts.csv"
        assert invoke(["post", "export", "-o", str(exported)]).exit_code == 0

        rows = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8"))))
        later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
        for row in rows:
            if row["id"] == str(first):
                row["caption"] = "Edited in a spreadsheet #new"
            if row["id"] == str(second):
                row["scheduled_at"] = later.isoformat()
        edited = tmp_path / "edited.csv"
        with edited.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=[k.upper() for k in rows[0]], delimiter=";")
            writer.writeheader()
            writer.writerows({k.upper(): v for k, v in row.items()} for row in rows)

        result = invoke(["post", "import", str(edited)])
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == "imported 0 post(s), updated 2, unchanged 0"
        again = invoke(["post", "import", str(edited)])
        assert again.stdout.strip() == "imported 0 post(s), updated 0, unchanged 2"
        assert "Edited in a spreadsheet #new" in invoke(["post", "show", str(first)]).stdout
        assert later.isoformat() in invoke(["post", "show", str(second)]).stdout

        with engine.begin() as conn:
            conn.execute(text("UPDATE scheduled_posts SET scheduled_at = :t WHERE id = :i"),
                         {"t": datetime.now(UTC) - timedelta(seconds=1), "i": first})
        published = invoke(["run-once"])
        assert published.exit_code == 0, published.stdout + published.stderr
        assert [m.caption for m in state.media] == ["Edited in a spreadsheet #new"]


def test_import_names_the_row_of_an_unknown_id(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,account,post_type,scheduled_at,prompt\n999,brand,photo,2030-01-01T09:00:00Z,p\n")
    result = invoke(["post", "import", str(bad)])
    assert result.exit_code == 3
    assert "line 2: no post with id 999 (leave id empty to add a new post)" in result.stderr


# --- issue 14: notifications from the CLI ------------------------------------------------------------------


def test_notify_test_says_whether_each_channel_got_the_message(env: dict[str, str]) -> None:
    from tests.fakes.webhook import json_url, webhook

    with webhook() as hook:
        good = json_url(hook, "team/t0ken-abc")
        ok = invoke(["notify", "test", "--url", good])
        assert ok.exit_code == 0, ok.stderr
        assert ok.stdout.strip() == "json://127.0.0.1/…: delivered"
        assert hook.state.received[0]["title"] == "postpilot: test message"
        hook.state.fail_next = 1
        down = invoke(["notify", "test", "--url", good])
        assert down.exit_code == 1
        expected = "json://127.0.0.1/…: not delivered (json://127.0.0.1/… did not accept the message)"
        assert down.stdout.strip() == expected
        assert "t0ken" not in ok.stdout + down.stdout + down.stderr
    nonsense = invoke(["notify", "test", "--url", "nonsense://x"])
    assert nonsense.exit_code == 1 and "is not a notification URL Apprise knows" in nonsense.stdout
    none = invoke(["notify", "test"])
    assert none.exit_code == 3 and "set POSTPILOT_NOTIFY_URLS" in one_error_line(none)


def test_account_notify_stores_the_url_encrypted_and_shows_it_without_secrets(env: dict[str, str],
                                                                                engine: Engine) -> None:
    add_dry_account()
    result = invoke(["account", "notify", "brand", "--url", "json://hooks.example.com/x/S3CRET",
                     "--events", "failed,published"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "brand: json://hooks.example.com/… gets failed,published"
    listed = invoke(["account", "notify", "brand"])
    assert listed.stdout.strip() == "json://hooks.example.com/…  failed,published"
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT url_encrypted FROM account_channels")).scalar_one()
    assert "S3CRET" not in stored
    bad = invoke(["account", "notify", "brand", "--url", "json://h/x", "--events", "failed,lunch"])
    assert bad.exit_code == 3 and "unknown event 'lunch'" in one_error_line(bad)
    cleared = invoke(["account", "notify", "brand", "--clear"])
    assert cleared.stdout.strip() == "brand: removed 1 channel(s)"


def test_approval_from_the_cli(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    assert invoke(["account", "set", "brand", "--require-approval"]).stdout.strip() == "brand requires approval"
    post_id = add_post("--at", "2030-12-01 09:00", "--prompt", "p")
    approved = invoke(["post", "approve", str(post_id)])
    assert approved.exit_code == 0, approved.stderr
    assert approved.stdout.startswith(f"post {post_id} approved by cli")
    rejected = invoke(["post", "reject", str(post_id), "--reason", "not this week"])
    assert rejected.exit_code == 0
    assert rejected.stdout.strip().endswith(": not this week") and "cancelled" in rejected.stdout
    again = invoke(["post", "approve", str(post_id)])
    assert again.exit_code == 5 and "only a post still to publish can be approved" in one_error_line(again)
    empty = invoke(["post", "reject", str(post_id), "--reason", " "])
    assert empty.exit_code == 3
    nothing = invoke(["post", "regenerate", str(post_id)])
    assert nothing.exit_code == 5 and "has no generated images" in one_error_line(nothing)
    assert invoke(["account", "set", "brand"]).exit_code == 3


def test_post_prepare_makes_the_images_days_ahead(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    soon = add_post("--at", iso(3 * 86400), "--prompt", "a lighthouse")  # days before its prepare window
    later = add_post("--at", iso(20 * 86400), "--prompt", "a harbour")
    result = invoke(["post", "prepare", str(soon)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"post {soon}: ready"
    with engine.connect() as conn:
        made = conn.execute(text("SELECT count(*) FROM post_media WHERE post_id = :i"), {"i": soon}).scalar_one()
    assert made == 1
    assert invoke(["post", "prepare", "--all-within", "7d"]).stdout.strip() == "nothing to prepare"
    week3 = invoke(["post", "prepare", "--all-within", "21d"])
    assert week3.stdout.strip() == f"post {later}: ready"
    again = invoke(["post", "prepare", str(soon)])
    assert again.stdout.splitlines()[0] == f"post {soon}: not prepared now (ready; only scheduled posts)"
    bad = invoke(["post", "prepare", "--all-within", "soon"])
    assert bad.exit_code == 3 and "--all-within must be a number and m, h or d" in one_error_line(bad)


def test_account_set_time_zone(env: dict[str, str]) -> None:
    add_dry_account()
    shown = invoke(["account", "set", "brand", "--tz", "Europe/Paris"])
    assert shown.stdout.strip() == "brand shows times in Europe/Paris"
    bad = invoke(["account", "set", "brand", "--tz", "Mars/Olympus"])
    assert bad.exit_code == 3 and "unknown time zone 'Mars/Olympus'" in one_error_line(bad)


def test_post_preview_shows_images_caption_and_the_graph_requests(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    post_id = add_post(
        "--at", iso(3 * 86400), "--prompt", "a lighthouse", "--caption", "Dawn #sea @friend", "--alt-text", "a lamp"
    )
    before = invoke(["post", "preview", str(post_id)])
    assert before.exit_code == 0, before.stderr
    assert "not prepared yet" in before.stdout and f"postpilot post prepare {post_id}" in before.stdout
    assert "Graph API requests" not in before.stdout
    assert invoke(["post", "prepare", str(post_id)]).exit_code == 0
    with engine.connect() as conn:
        events_before = conn.execute(text("SELECT count(*) FROM post_events")).scalar_one()
    shown = invoke(["post", "preview", str(post_id)])
    assert shown.exit_code == 0, shown.stderr
    out = shown.stdout
    assert "caption (exactly as published):\n  Dawn #sea @friend" in out
    assert "alt text: a lamp" in out
    assert "#1 image (generated, 1080x1080" in out
    requests = out.split("Graph API requests publishing will make:")[1]
    assert "1. POST http://127.0.0.1:9/v" in requests and "/17841400000000001/media\n" in requests
    assert "caption=Dawn #sea @friend" in requests and "alt_text=a lamp" in requests
    assert "/17841400000000001/media_publish" in requests and "creation_id=" in requests
    data = json.loads(invoke(["post", "preview", str(post_id), "--json"]).stdout)
    assert data["caption"] == "Dawn #sea @friend" and data["status"] == "ready"
    assert [r["path"].rsplit("/", 1)[-1] for r in data["requests"]][:2] == ["media", "dryrun-container-1"]
    assert data["images"][0]["location"].endswith(".jpg") and Path(data["images"][0]["location"]).exists()
    assert all(r["headers"] == {"Authorization": "Bearer <redacted>"} for r in data["requests"])
    with engine.connect() as conn:  # looking at a post never changes it
        assert conn.execute(text("SELECT count(*) FROM post_events")).scalar_one() == events_before
        status = conn.execute(text("SELECT status, container_id FROM scheduled_posts WHERE id = :i"), {"i": post_id})
        assert tuple(status.one()) == ("ready", None)
    missing = invoke(["post", "preview", "999"])
    assert missing.exit_code == 4 and "999" in one_error_line(missing)


def test_times_are_shown_in_the_account_zone_or_tz(env: dict[str, str]) -> None:
    add_dry_account()
    invoke(["account", "set", "brand", "--tz", "Europe/Paris"])
    # A time without an offset is read in the account's zone (09:00 in Paris in June is 07:00 UTC).
    post_id = add_post("--at", "2030-06-03 09:00", "--prompt", "p")
    listed = invoke(["post", "list"]).stdout
    assert "2030-06-03 09:00 CEST" in listed
    assert "2030-06-03 03:00 EDT" in invoke(["post", "list", "--tz", "America/New_York"]).stdout
    shown = invoke(["post", "show", str(post_id)]).stdout
    assert "scheduled_at: 2030-06-03T07:00:00+00:00 (2030-06-03 09:00 CEST)" in shown
    assert invoke(["post", "preview", str(post_id)]).stdout.splitlines()[1] == "  publishes at 2030-06-03 09:00 CEST"
    moved = invoke(["post", "edit", str(post_id), "--at", "2030-06-04 10:30"])
    assert moved.exit_code == 0, moved.stderr
    assert "2030-06-04 10:30 CEST" in invoke(["post", "list"]).stdout
    bad = invoke(["post", "list", "--tz", "Mars/Olympus"])
    assert bad.exit_code == 3 and "unknown time zone 'Mars/Olympus'" in one_error_line(bad)


def test_post_list_upcoming_is_what_goes_out_next_soonest_first(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    later = add_post("--at", iso(5 * 86400), "--prompt", "later")
    soon = add_post("--at", iso(2 * 86400), "--prompt", "soon")
    gone = add_post("--at", iso(3 * 86400), "--prompt", "cancelled")
    paused = add_post("--at", iso(4 * 86400), "--prompt", "paused")
    invoke(["post", "cancel", str(gone)])
    with engine.begin() as conn:
        conn.execute(text("UPDATE scheduled_posts SET is_active = false WHERE id = :i"), {"i": paused})
    rows = invoke(["post", "list", "--upcoming"]).stdout.splitlines()[1:]
    assert [int(r.split()[0]) for r in rows] == [soon, later]
    assert [int(r.split()[0]) for r in invoke(["post", "list"]).stdout.splitlines()[1:]] == [soon, gone, paused, later]
    assert invoke(["post", "list", "--upcoming", "--limit", "1"]).stdout.count("\n") == 2
    invoke(["post", "cancel", str(soon)])
    invoke(["post", "cancel", str(later)])
    assert invoke(["post", "list", "--upcoming"]).stdout.strip() == "nothing upcoming"


def test_an_account_can_prepare_its_posts_earlier(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    add_dry_account("other")
    ours = add_post("--at", iso(20 * 3600), "--prompt", "a day ahead")  # outside the default hour
    result = invoke(["account", "set", "brand", "--prepare-ahead", "24h"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "brand prepares its posts 24h before their time"
    theirs = invoke(["post", "add", "--account", "other", "--at", iso(20 * 3600), "--prompt", "p"]).stdout.strip()
    assert "UTC, prepare 24h ahead" in invoke(["account", "list"]).stdout
    once = invoke(["run-once"])
    assert once.exit_code == 0, once.stderr
    with engine.connect() as conn:
        status = dict(conn.execute(text("SELECT id, status FROM scheduled_posts")).all())
    assert status == {ours: "ready", int(theirs): "scheduled"}  # the other account keeps the default hour
    back = invoke(["account", "set", "brand", "--prepare-ahead", "default"])
    assert back.stdout.strip() == "brand prepares its posts 1h (POSTPILOT_PREPARE_AHEAD_S) before their time"
    for bad, message in (("soon", "--prepare-ahead must be a number and m, h or d"),
                         ("40d", "--prepare-ahead is at most 30d")):
        refused = invoke(["account", "set", "brand", "--prepare-ahead", bad])
        assert refused.exit_code == 3 and message in one_error_line(refused)


def test_post_add_takes_the_issue_16_options(env: dict[str, str], engine: Engine) -> None:
    add_dry_account()
    story = add_post("--at", iso(3600), "--type", "story", "--prompt", "croissants", "--tag", "ourshop")
    photo = add_post("--at", iso(7200), "--prompt", "bread", "--first-comment", "#bakery #bread",
                     "--tag", "baker.jo@0.4,0.6", "--collaborator", "partner_shop", "--location-id", "110843418940484")
    reel = add_post("--at", iso(9000), "--type", "reel", "--video-url", "https://example.com/v.mp4",
                    "--no-share-to-feed", "--thumb-offset", "1500", "--audio-name", "Bakery sounds",
                    "--trial", "manual")
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT * FROM scheduled_posts"))}
    assert rows[story].post_type == "story"
    shown = invoke(["post", "show", str(photo)]).stdout
    assert "user_tags: baker.jo@0.4,0.6" in shown and "collaborators: partner_shop" in shown
    assert "first_comment: #bakery #bread" in shown and "comment: posted right after the post is live" in shown
    assert "trial_params: MANUAL" in invoke(["post", "show", str(reel)]).stdout
    assert "share_to_feed: no: only on the Reels tab, not in the feed or on the profile grid" in invoke(
        ["post", "show", str(reel)]).stdout
    edited = invoke(["post", "edit", str(photo), "--tag", ""])
    assert edited.exit_code == 0, edited.stderr
    assert "user_tags:" not in invoke(["post", "show", str(photo)]).stdout


def test_post_show_shows_carousel_items_written_as_objects(env: dict[str, str], engine: Engine) -> None:
    """A carousel slide written as {"url": …, "alt_text": …} (SQL or import) is shown, never as null; its URL
    without the query string, as every URL post show prints."""
    from sqlalchemy import update

    from postpilot.db.rows import posts

    add_dry_account()
    post_id = add_post("--at", iso(7200), "--type", "carousel", "--media-url", "https://img.example.com/1.jpg",
                       "--media-url", "https://img.example.com/2.jpg")
    slides = [{"url": "https://img.example.com/1.jpg?sig=s3cr3t", "alt_text": "the counter"},
              {"url": "https://cdn.example.com/making-of.mp4", "type": "video"}, "https://img.example.com/2.jpg"]
    with engine.begin() as conn:
        conn.execute(update(posts).where(posts.c.id == post_id).values(media_urls=slides))
    shown = invoke(["post", "show", str(post_id)]).stdout
    line = next(line for line in shown.splitlines() if line.strip().startswith("media_urls:"))
    assert json.loads(line.split(":", 1)[1]) == [
        {"url": "https://img.example.com/1.jpg?…", "alt_text": "the counter"},
        {"url": "https://cdn.example.com/making-of.mp4", "type": "video"},
        "https://img.example.com/2.jpg",
    ]
    assert "null" not in line and "s3cr3t" not in shown


@pytest.mark.parametrize(("args", "message"), [
    (["--type", "story", "--prompt", "p", "--caption", "hi"], "a story has no caption on Instagram"),
    (["--prompt", "p", "--tag", "a@b"], "--tag 'a@b' must look like username@x,y"),
    (["--prompt", "p", "--tag", "friend@left,top"], "user_tags item 1 x must be a number from 0.0 to 1.0"),
    (["--prompt", "p", "--collaborator", "a", "--collaborator", "b", "--collaborator", "c", "--collaborator", "d"],
     "collaborators has 4 usernames; Instagram allows at most 3"),
    (["--prompt", "p", "--trial", "MANUAL"], "trial_params is only for a reel"),
    (["--type", "reel", "--video-url", "https://example.com/v.mp4", "--trial", "soon"],
     "trial_params graduation_strategy must be MANUAL or SS_PERFORMANCE"),
])
def test_post_add_refuses_bad_issue_16_options_in_words(env: dict[str, str], args: list[str], message: str) -> None:
    add_dry_account()
    result = invoke(["post", "add", "--account", "brand", "--at", iso(3600), *args])
    assert result.exit_code == 3, result.stdout + result.stderr
    assert message in one_error_line(result)


def test_csv_carries_the_issue_16_columns_both_ways(env: dict[str, str], tmp_path: Path) -> None:
    add_dry_account()
    path = tmp_path / "more.csv"
    path.write_text(
        "account,post_type,scheduled_at,prompt,video_url,user_tags,collaborators,share_to_feed,thumb_offset,"
        "trial_params,first_comment\n"
        f'brand,photo,{iso(3600)},bread,,"baker.jo@0.4,0.6 friend@0.1,0.2",partner_shop studio,,,,#bakery\n'
        f"brand,reel,{iso(7200)},,https://example.com/v.mp4,baker.jo,,false,1500,SS_PERFORMANCE,\n"
        f"brand,photo,{iso(9000)},bread,,friend@0.5,,,,,,\n",
        encoding="utf-8",
    )
    refused = invoke(["post", "import", str(path)])
    assert refused.exit_code == 3
    assert "line 4" in refused.stdout + refused.stderr and "user_tags 'friend@0.5'" in refused.stdout + refused.stderr
    path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8")
    done = invoke(["post", "import", str(path)])
    assert done.exit_code == 0, done.stdout + done.stderr
    exported = invoke(["post", "export"]).stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows[0]["user_tags"] == "baker.jo@0.4,0.6 friend@0.1,0.2"
    assert rows[0]["collaborators"] == "partner_shop studio"
    assert rows[0]["first_comment"] == "#bakery"
    assert (rows[1]["share_to_feed"], rows[1]["thumb_offset"], rows[1]["trial_params"]) == ("false", "1500",
                                                                                           "SS_PERFORMANCE")
    again = tmp_path / "again.csv"
    again.write_text(exported, encoding="utf-8")
    unchanged = invoke(["post", "import", str(again)])
    assert unchanged.exit_code == 0, unchanged.stdout + unchanged.stderr
    assert "0 updated" in unchanged.stdout or "unchanged" in unchanged.stdout, unchanged.stdout


def test_a_duplicate_is_held_and_retried_with_allow_duplicate(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTPILOT_DUPLICATE_WINDOW_S", "259200")
    add_dry_account()
    first = add_post("--at", iso(600), "--caption", "Sale today", "--prompt", "a red tag")
    again = add_post("--at", iso(1200), "--caption", "sale  TODAY", "--prompt", "a red tag")
    invoke(["run-once"])
    held = invoke(["post", "show", str(again)]).stdout
    assert "status: failed" in held and f"held as a duplicate: its caption and media match post {first}" in held
    retried = invoke(["post", "retry", str(again), "--allow-duplicate"])
    assert retried.exit_code == 0, retried.stderr
    invoke(["run-once"])
    assert "status: ready" in invoke(["post", "show", str(again)]).stdout
    assert "repeats allowed" not in invoke(["account", "list"]).stdout
    assert invoke(["account", "set", "brand", "--no-duplicate-guard"]).stdout.strip() == "brand allows repeated posts"
    assert "repeats allowed" in invoke(["account", "list"]).stdout
