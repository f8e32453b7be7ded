"""The systemd units in systemd/: clean `systemd-analyze verify`, exposure at most 2.0, and settings that
agree with the daemon (drain timeout, credential names).

The systemd-analyze checks skip where it is not installed, except under CI (CI=true), where a missing
systemd-analyze fails: CI installs it with `apt-get install -y --no-install-recommends systemd`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postpilot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
UNIT_DIR = ROOT / "systemd"
SERVICES = ("postpilot.service", "postpilot-once.service")
UNITS = (*SERVICES, "postpilot-once.timer")
INSTALLED_BINARY = "/opt/postpilot/venv/bin/postpilot"
MAX_EXPOSURE = 2.0
EXPOSURE_LINE = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?)")

# Everything from this comment to the end of [Service] is the sandbox, identical in both services.
HARDENING_START = "# Hardening"


def directives(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values, in file order (keys such as SystemCallFilter= repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service(name: str) -> dict[str, list[str]]:
    return directives((UNIT_DIR / name).read_text(encoding="utf-8"))["Service"]


def seconds(value: str) -> float:
    """systemd time spans as used in our units: '90s', '2min', '15min', or plain seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|min|m)?", value)
    assert match, f"unexpected time span {value!r}"
    number = float(match.group(1))
    return number * 60 if match.group(2) in ("min", "m") else number


# --- static checks, no systemd needed ------------------------------------------------------------------


@pytest.mark.parametrize("name", UNITS)
def test_no_trailing_comments(name: str) -> None:
    # systemd has no inline comments: "30s # note" is the value "30s # note", silently ignored or wrong.
    for number, raw in enumerate((UNIT_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if stripped and not stripped.startswith(("#", ";", "[")):
            assert "#" not in stripped, f"{name}:{number}: '#' inside a value: {raw!r}"


def test_daemon_unit_speaks_the_notify_protocol() -> None:
    unit = service("postpilot.service")
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    assert seconds(unit["WatchdogSec"][0]) == 30
    assert unit["Restart"] == ["on-failure"]
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["ExecStart"] == [f"{INSTALLED_BINARY} run"]


def test_stop_timeout_leaves_room_for_the_drain() -> None:
    drain = Settings.model_fields["drain_timeout_s"].default
    for name in SERVICES:
        stop = seconds(service(name)["TimeoutStopSec"][0])
        assert stop >= drain + 15, f"{name}: TimeoutStopSec={stop}s would SIGKILL a {drain}s drain"


def test_run_once_unit_is_a_oneshot_on_a_timer() -> None:
    unit = service("postpilot-once.service")
    assert unit["Type"] == ["oneshot"]
    assert unit["ExecStart"] == [f"{INSTALLED_BINARY} run-once"]
    timer = directives((UNIT_DIR / "postpilot-once.timer").read_text(encoding="utf-8"))
    assert timer["Timer"]["Unit"] == ["postpilot-once.service"]
    assert timer["Timer"]["OnCalendar"] == ["minutely"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_both_services_share_identity_and_hardening() -> None:
    daemon, once = (service(name) for name in SERVICES)
    for key in ("DynamicUser", "User", "Group", "StateDirectory", "UMask", "EnvironmentFile", "LoadCredential"):
        assert daemon[key] == once[key], key

    def hardening(name: str) -> str:
        text = (UNIT_DIR / name).read_text(encoding="utf-8")
        end = text.find("[Install]")
        return text[text.index(HARDENING_START) : end if end >= 0 else None].strip()

    assert hardening(SERVICES[0]) == hardening(SERVICES[1])


# Files an operator puts in /etc/postpilot/credentials/ (as the README tells them), and what they set.
CREDENTIAL_FILES = [
    ("secret_key", "3tzH75IjR4ZgVKt06pDFRXnhl7_edYRHgfwqvDwSAJk=", "secret_key"),
    ("database_url", "postgresql://pp@db/pp", "database_url"),
    ("facebook_app_secret", "app-secret", "facebook_app_secret"),
    ("instagram_app_secret", "ig-secret", "instagram_app_secret"),
    ("openai_api_key", "sk-test", "openai_api_key"),
    ("cloudinary_url", "cloudinary://key:secret@cloud", "cloudinary_url"),
]


@pytest.mark.parametrize(("file_name", "value", "attribute"), CREDENTIAL_FILES)
def test_credential_files_reach_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_name: str, value: str, attribute: str
) -> None:
    # LoadCredential=ID:DIR hands every file in DIR to the service as "<ID>_<file name>", and
    # pydantic-settings looks a setting up in CREDENTIALS_DIRECTORY under its environment name, prefix
    # included (case-insensitively): credentials/secret_key arrives as postpilot_secret_key.
    (load,) = service("postpilot.service")["LoadCredential"]
    cred_id, _, source = load.partition(":")
    assert source == "/etc/postpilot/credentials"
    for key in list(os.environ):
        if key.startswith(("POSTPILOT_", "OPENAI_", "CLOUDINARY_")):
            monkeypatch.delenv(key)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / f"{cred_id}_{file_name}").write_text(value + "\n", encoding="utf-8")

    settings = Settings(_env_file=None, _secrets_dir=credentials)

    found = getattr(settings, attribute)
    assert found is not None, f"credentials/{file_name} did not reach Settings.{attribute}"
    assert (found.get_secret_value() if hasattr(found, "get_secret_value") else found) == value


# --- systemd-analyze --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("systemd-analyze is missing; CI must run: apt-get install -y --no-install-recommends systemd")
        pytest.skip("systemd-analyze is not installed")
    return path


@pytest.fixture
def unit_copies(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at a binary that exists here, which `verify` insists on.

    EnvironmentFile= (optional, "-") and LoadCredential= are only read when a unit starts, so their
    /etc paths need no stand-ins."""
    venv_binary = Path(sys.executable).parent / "postpilot"
    stand_in = str(venv_binary) if venv_binary.exists() else shutil.which("true") or "/bin/true"
    for name in UNITS:
        text = (UNIT_DIR / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED_BINARY, stand_in), encoding="utf-8")
    return tmp_path


def analyze(binary: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "LC_ALL": "C.UTF-8"}
    return subprocess.run([binary, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("name", UNITS)
def test_verify_is_clean(systemd_analyze: str, unit_copies: Path, name: str) -> None:
    result = analyze(systemd_analyze, "verify", name, cwd=unit_copies)
    # verify exits 0 even for ignored lines ("Unknown key", "Failed to parse"): any output is a finding.
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == "", result.stdout + result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_security_exposure_at_most_two(systemd_analyze: str, unit_copies: Path, name: str) -> None:
    result = analyze(
        systemd_analyze,
        "security",
        "--offline=true",
        f"--threshold={round(MAX_EXPOSURE * 10)}",
        name,
        cwd=unit_copies,
    )
    assert result.stderr == "", result.stderr
    match = EXPOSURE_LINE.search(result.stdout)
    assert match, result.stdout
    assert match.group(1) == name
    exposure = float(match.group(2))
    assert exposure <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stdout
