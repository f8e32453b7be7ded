"""``postpilot user add | list | remove | password`` on SQLite and PostgreSQL: passwords from stdin, refused when
empty or short, stored only as Argon2 hashes; a reset lifts a lockout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner, Result

from postpilot.cli import cli
from postpilot.db.engine import build_engine
from postpilot.db.repository import Repository
from postpilot.domain.users import MAX_FAILED_LOGINS, Role
from postpilot.review.passwords import verify_password


@pytest.fixture
def repo(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repository]:
    for name in list(os.environ):
        if name.startswith("POSTPILOT_") or name in ("OPENAI_API_KEY", "CLOUDINARY_URL", "STATE_DIRECTORY"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("POSTPILOT_DATABASE_URL", db_url)
    monkeypatch.setenv("POSTPILOT_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("POSTPILOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("POSTPILOT_LOG_LEVEL", "warning")
    monkeypatch.chdir(tmp_path)
    engine = build_engine(db_url)
    yield Repository(engine=engine)
    engine.dispose()


def invoke(args: list[str], stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, args, input=stdin)


def test_add_list_reset_and_remove(repo: Repository) -> None:
    added = invoke(["user", "add", "maria"], stdin="a-long-enough-password\n")
    assert added.exit_code == 0, added.output
    assert added.output.strip() == "user maria added (reviewer); they log in at the review page"
    viewer = invoke(["user", "add", "tom", "--role", "viewer"], stdin="another-long-password\n")
    assert viewer.exit_code == 0, viewer.output
    maria = repo.require_review_user("maria")
    assert maria.role is Role.REVIEWER and maria.password_hash.startswith("$argon2id$")
    assert "a-long-enough-password" not in maria.password_hash
    assert verify_password(maria.password_hash, "a-long-enough-password").ok
    assert repo.require_review_user("tom").role is Role.VIEWER

    for _ in range(MAX_FAILED_LOGINS):
        repo.record_failed_login(maria.id)
    listed = invoke(["user", "list"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "LAST", "LOGIN", "(UTC)", "STATE"]
    assert "locked until" in lines[1] and "postpilot user password maria unlocks" in lines[1]
    assert lines[2].split()[:4] == ["tom", "viewer", "never", "ok"]

    reset = invoke(["user", "password", "maria"], stdin="a-new-long-password\n")
    assert reset.exit_code == 0, reset.output
    after = repo.require_review_user("maria")
    assert after.locked_until is None and after.failed_logins == 0
    assert verify_password(after.password_hash, "a-new-long-password").ok

    assert invoke(["user", "remove", "tom"]).output.strip() == "user tom removed"
    assert repo.review_user("tom") is None


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["user", "add", "maria"], "\n", 3, "error: the password is empty"),
        (["user", "add", "maria"], "short\n", 3, "error: the password is too short: use at least 10 characters"),
        (["user", "add", "maria"], "", 3, "error: no password on stdin"),
        (["user", "add", "ma ria"], "a-long-enough-password\n", 3, "error: the user name 'ma ria' is not usable"),
        (["user", "add", "maria", "--role", "admin"], "a-long-enough-password\n", 3, "error: unknown role 'admin'"),
        (["user", "remove", "nobody"], None, 4, "error: no user named 'nobody' (see postpilot user list)"),
        (["user", "password", "nobody"], "a-long-enough-password\n", 4, "error: no user named 'nobody'"),
    ],
)
def test_bad_input_is_refused_with_a_message(
    repo: Repository, args: list[str], stdin: str | None, code: int, message: str
) -> None:
    result = invoke(args, stdin=stdin)
    assert result.exit_code == code, result.output
    assert result.output.strip().startswith(message)
    assert repo.list_review_users() == []


def test_a_name_is_added_once(repo: Repository) -> None:
    assert invoke(["user", "add", "maria"], stdin="a-long-enough-password\n").exit_code == 0
    again = invoke(["user", "add", "maria"], stdin="a-long-enough-password\n")
    assert again.exit_code == 5
    assert "there is already a user named 'maria'" in again.output
