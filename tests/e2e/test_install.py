"""deploy/install.sh and deploy/uninstall.sh, run into a temporary root (DESTDIR) and checked file by file.

The fast tests use --skip-venv (layout only). The slow one builds a real virtualenv, pip-installs
postpilot into it and runs the migration on SQLite inside the temporary root.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("postpilot.service", "postpilot-once.service", "postpilot-once.timer")
STAND_IN_TEMPLATE = "# stand-in .env.example written by tests/test_install.py\n# POSTPILOT_LOG_LEVEL=info\n"

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The parts of the repository the scripts read, with a stand-in .env.example if there is none yet."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for folder in ("deploy", "systemd"):
        shutil.copytree(ROOT / folder, copy / folder)
    template = ROOT / ".env.example"
    if template.exists():
        shutil.copy2(template, copy / ".env.example")
    else:
        (copy / ".env.example").write_text(STAND_IN_TEMPLATE, encoding="utf-8")
    return copy


@pytest.fixture
def destdir(tmp_path: Path) -> Path:
    return tmp_path / "root"


def script_env(destdir: Path, **extra: str) -> dict[str, str]:
    # The developer's own POSTPILOT_* settings must not leak into the install (or its migration).
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POSTPILOT_", "OPENAI_", "CLOUDINARY_")) and key not in ("PREFIX", "DESTDIR")
    }
    env["DESTDIR"] = str(destdir)
    env.update(extra)
    return env


@pytest.fixture
def run(repo: Path, destdir: Path) -> Runner:
    def run(
        script: str, *args: str, check: bool = True, timeout: float = 60, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", str(repo / "deploy" / script), *args],
            env=script_env(destdir, **extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
        return result

    return run


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under root with its mode, modification time and content hash."""
    tree: dict[str, tuple[int, int, str]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        tree[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, digest)
    return tree


def test_install_lays_out_config_secrets_and_units(run: Runner, repo: Path, destdir: Path) -> None:
    result = run("install.sh", "--skip-venv")

    etc = destdir / "etc/postpilot"
    assert mode(etc) == 0o700
    assert mode(etc / "credentials") == 0o700

    env_file = etc / "postpilot.env"
    assert env_file.read_bytes() == (repo / ".env.example").read_bytes()
    assert mode(env_file) == 0o600

    secret_key = etc / "credentials/secret_key"
    assert mode(secret_key) == 0o600
    Fernet(secret_key.read_bytes())  # a valid Fernet key, or this raises

    for unit in UNITS:
        installed = destdir / "etc/systemd/system" / unit
        assert installed.read_bytes() == (repo / "systemd" / unit).read_bytes()
        assert mode(installed) == 0o644

    # Layout only: no venv, no migration, and nothing done to the live system.
    assert not (destdir / "opt/postpilot/venv").exists()
    assert not (destdir / "var").exists()
    assert "skipped    database migration" in result.stdout
    assert "skipped    systemctl" in result.stdout
    assert "generated  /etc/postpilot/credentials/secret_key" in result.stdout
    # The summary names the files where they are: under DESTDIR (issue 13).
    assert f"settings:  {destdir}/etc/postpilot/postpilot.env" in result.stdout
    assert f"state:     {destdir}/var/lib/postpilot" in result.stdout


def test_second_run_changes_nothing_and_keeps_edits(run: Runner, destdir: Path) -> None:
    run("install.sh", "--skip-venv")
    env_file = destdir / "etc/postpilot/postpilot.env"
    edited = env_file.read_text(encoding="utf-8") + "POSTPILOT_LOG_LEVEL=debug\n"
    env_file.write_text(edited, encoding="utf-8")
    extra_secret = destdir / "etc/postpilot/credentials/database_url"
    extra_secret.write_text("postgresql://postpilot@db/postpilot", encoding="utf-8")
    extra_secret.chmod(0o600)
    before = snapshot(destdir)

    result = run("install.sh", "--skip-venv")

    assert snapshot(destdir) == before
    assert env_file.read_text(encoding="utf-8") == edited
    assert "kept       /etc/postpilot/postpilot.env" in result.stdout
    assert "kept       /etc/postpilot/credentials/secret_key" in result.stdout
    for word in ("created", "generated", "installed", "updated", "fixed"):
        assert not any(line.startswith(word) for line in result.stdout.splitlines()), result.stdout


def test_rerun_restores_secret_permissions(run: Runner, destdir: Path) -> None:
    run("install.sh", "--skip-venv")
    credentials = destdir / "etc/postpilot/credentials"
    (credentials / "facebook_app_secret").write_text("shh", encoding="utf-8")
    (credentials / "facebook_app_secret").chmod(0o644)
    credentials.chmod(0o755)
    (destdir / "etc/postpilot/postpilot.env").chmod(0o644)

    result = run("install.sh", "--skip-venv")

    assert mode(credentials) == 0o700
    assert mode(credentials / "facebook_app_secret") == 0o600
    assert mode(destdir / "etc/postpilot/postpilot.env") == 0o600
    assert "fixed      /etc/postpilot/credentials/facebook_app_secret (mode 600)" in result.stdout


def test_changed_unit_is_updated(run: Runner, destdir: Path) -> None:
    run("install.sh", "--skip-venv")
    unit = destdir / "etc/systemd/system/postpilot.service"
    unit.write_text("stale\n", encoding="utf-8")

    result = run("install.sh", "--skip-venv")

    assert "updated    /etc/systemd/system/postpilot.service" in result.stdout
    assert unit.read_text(encoding="utf-8").startswith("# postpilot daemon")


def test_prefix_moves_the_venv_path_in_the_units(run: Runner, destdir: Path) -> None:
    run("install.sh", "--skip-venv", PREFIX="/srv/postpilot")

    for name, command in (("postpilot.service", "run"), ("postpilot-once.service", "run-once")):
        text = (destdir / "etc/systemd/system" / name).read_text(encoding="utf-8")
        assert f"ExecStart=/srv/postpilot/venv/bin/postpilot {command}\n" in text
        assert "/opt/postpilot" not in text


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (("--bogus",), {}, "unknown option: --bogus"),
        ((), {"PREFIX": "relative/path"}, "PREFIX must be an absolute path"),
        ((), {"PREFIX": "/opt/post pilot"}, "PREFIX may only contain"),
        (("--wheel", "/nonexistent.whl"), {}, "no such wheel"),
    ],
)
def test_bad_arguments_are_refused(
    run: Runner, destdir: Path, args: tuple[str, ...], extra: dict[str, str], message: str
) -> None:
    result = run("install.sh", "--skip-venv", *args, check=False, **extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (destdir / "etc").exists()


def test_env_example_reads_the_same_in_systemd_and_dotenv() -> None:
    # install.sh copies .env.example verbatim to the unit's EnvironmentFile=. systemd takes a "#" after a
    # value as part of the value and does not understand "export", while python-dotenv (the .env file)
    # strips such a comment: keep assignment lines to plain NAME=value so both read the same thing.
    template = ROOT / ".env.example"
    if not template.exists():
        pytest.skip(".env.example is not written yet")
    assignment = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=[^#]*")
    # Environment variables beat credential files, so an active (even empty) secret line in the installed
    # env file would hide /etc/postpilot/credentials; an active state dir would move the data out of
    # the unit's StateDirectory=.
    must_stay_commented = re.compile(
        r"(POSTPILOT_(SECRET_KEY|DATABASE_URL|STATE_DIR|\w*_SECRET)|OPENAI_API_KEY|CLOUDINARY_URL)="
    )
    for number, raw in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            assert assignment.fullmatch(line), f".env.example:{number}: not a plain NAME=value line: {raw!r}"
            assert not must_stay_commented.match(line), f".env.example:{number}: must stay commented out: {raw!r}"


def test_uninstall_keeps_config_and_state_unless_purged(run: Runner, destdir: Path) -> None:
    run("install.sh", "--skip-venv")
    # Stand-ins for what a full install and a running daemon leave behind.
    venv = destdir / "opt/postpilot/venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    (destdir / "var/lib/postpilot").mkdir(parents=True)
    (destdir / "var/lib/postpilot/postpilot.db").write_bytes(b"")
    dropin = destdir / "etc/systemd/system/postpilot.service.d"
    dropin.mkdir()
    (dropin / "override.conf").write_text("[Service]\n", encoding="utf-8")

    result = run("uninstall.sh")

    for unit in UNITS:
        assert not (destdir / "etc/systemd/system" / unit).exists()
    assert not dropin.exists()
    assert not (destdir / "opt/postpilot").exists()
    assert (destdir / "etc/postpilot/credentials/secret_key").exists()
    assert (destdir / "var/lib/postpilot/postpilot.db").exists()
    assert "kept       /etc/postpilot (pass --purge to delete it)" in result.stdout

    run("uninstall.sh", "--purge")

    assert not (destdir / "etc/postpilot").exists()
    assert not (destdir / "var/lib/postpilot").exists()
    assert (destdir / "etc/systemd/system").is_dir()


def test_uninstall_leaves_a_foreign_directory_alone(run: Runner, destdir: Path) -> None:
    not_a_venv = destdir / "opt/postpilot/venv"
    not_a_venv.mkdir(parents=True)
    (not_a_venv / "important.txt").write_text("keep me", encoding="utf-8")

    result = run("uninstall.sh")

    assert (not_a_venv / "important.txt").exists()
    assert "not a virtualenv; left alone" in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_full_install_builds_a_venv_and_migrates(run: Runner, destdir: Path) -> None:
    # A real build needs the whole source tree, not just deploy/ and systemd/. Skipping bytecode
    # compilation (through the pip passthrough) saves time here; a production install keeps it.
    had_build_dir = (ROOT / "build").exists()
    result = run(
        "install.sh",
        "--src",
        str(ROOT),
        "--migrate",
        timeout=280,
        PYTHON=sys.executable,
        POSTPILOT_PIP_ARGS="--no-compile",
    )

    postpilot = destdir / "opt/postpilot/venv/bin/postpilot"
    assert postpilot.exists(), result.stdout
    assert "ran        postpilot db upgrade" in result.stdout
    database = destdir / "var/lib/postpilot/postpilot.db"
    assert database.exists(), result.stdout
    conn = sqlite3.connect(database)
    try:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        conn.close()
    assert revision
    assert (ROOT / "build").exists() == had_build_dir, "pip built inside the source tree"
    assert "installed  postpilot" in result.stdout
    # Issue 10: the install ends with postpilot doctor, whose table is shown (no account yet is only a warning).
    assert "ran        postpilot doctor: no errors" in result.stdout, result.stdout
    assert re.search(rf"^schema +ok +at {revision} \(head\)$", result.stdout, re.M), result.stdout

    # Issue 13: a re-run with the same code reinstalls the same files and says so, so a running service
    # would not be restarted for nothing.
    again = run("install.sh", "--src", str(ROOT), timeout=280, PYTHON=sys.executable,
                POSTPILOT_PIP_ARGS="--no-compile")
    assert "unchanged  postpilot" in again.stdout, again.stdout
    assert "skipped    postpilot doctor (DESTDIR set; pass --migrate to run it)" in again.stdout
    assert "installed  postpilot" not in again.stdout
