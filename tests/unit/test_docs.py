"""The documentation is checked against the code: independent clients are written from it alone.

.env.example must name every setting (and every ``POSTPILOT_*`` variable the code mentions) with its real
default; the example CSV must import cleanly; the README must carry the two commands and every CLI command.
"""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer

from postpilot.cli import cli
from postpilot.config import Settings
from postpilot.csv_format import COLUMNS
from postpilot.csvio import parse_csv
from postpilot.domain.model import Account, LoginKind

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "README.md"
EXAMPLE_CSV = ROOT / "examples" / "posts.csv"

# A variable assignment, active or commented out: "POSTPILOT_X=..." or "#POSTPILOT_X=...".
_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.M)


def _documented_names() -> set[str]:
    return set(_ASSIGNMENT.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))


def _env_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return f"POSTPILOT_{field_name.upper()}"


def test_every_setting_is_in_env_example() -> None:
    documented = _documented_names()
    missing = [_env_name(name) for name in Settings.model_fields if _env_name(name) not in documented]
    assert not missing, f"settings missing from .env.example: {missing}"


def test_env_example_names_only_real_settings() -> None:
    known = {_env_name(name) for name in Settings.model_fields}
    unknown = sorted(_documented_names() - known)
    assert not unknown, f".env.example documents variables Settings does not read: {unknown}"


def test_every_postpilot_variable_in_src_is_in_env_example() -> None:
    documented = _documented_names()
    used: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        used |= set(re.findall(r"POSTPILOT_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8")))
    assert used, "expected POSTPILOT_* names in src/"
    # A name may be built in code from a prefix (f"{prefix}_ID"): a prefix of a documented name counts.
    missing = sorted(n for n in used if n not in documented and not any(d.startswith(n + "_") for d in documented))
    assert not missing, f"POSTPILOT_* names used in src/ but missing from .env.example: {missing}"


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Loading .env.example as a .env file must change nothing: every active line shows the real default."""
    for key in list(os.environ):
        if key.startswith("POSTPILOT_") or key in (
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "CLOUDINARY_URL",
            "STATE_DIRECTORY",
            "CREDENTIALS_DIRECTORY",
        ):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    from_example = Settings(_env_file=ENV_EXAMPLE)
    defaults = Settings(_env_file=None)
    assert from_example.model_dump() == defaults.model_dump()


def test_env_example_holds_no_secret_values() -> None:
    secrets = {
        "POSTPILOT_SECRET_KEY",
        "POSTPILOT_FACEBOOK_APP_SECRET",
        "POSTPILOT_INSTAGRAM_APP_SECRET",
        "OPENAI_API_KEY",
        "CLOUDINARY_URL",
        "POSTPILOT_DATABASE_URL",
    }
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        name = line.split("=", 1)[0]
        assert name not in secrets, f"{name} must stay commented out in .env.example (it would override credentials)"


def _demo_account(name: str) -> Account | None:
    if name != "demo":
        return None
    return Account(
        id=7,
        name="demo",
        ig_user_id="17841400000000000",
        login_kind=LoginKind.FACEBOOK,
        dry_run=True,
        is_active=True,
        has_token=False,
        token_expires_at=None,
        needs_reconnect=False,
        last_error=None,
    )


def test_example_csv_imports_cleanly() -> None:
    with EXAMPLE_CSV.open(encoding="utf-8", newline="") as stream:
        results = parse_csv(stream, _demo_account)
    assert results
    assert [(r.line, r.problems) for r in results if r.problems] == []
    values = [r.values for r in results]
    assert all(v is not None and v["account_id"] == 7 for v in values)
    types = [v["post_type"] for v in values if v is not None]
    assert {"photo", "carousel", "reel", "story"} <= set(types)
    header = EXAMPLE_CSV.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == list(COLUMNS)


def test_example_csv_shows_the_issue_16_fields_at_future_times() -> None:
    """A location, a trial reel, a carousel with a video slide and a slide's own alt text, and no time that has
    passed (post import refuses those without --allow-past)."""
    with EXAMPLE_CSV.open(encoding="utf-8", newline="") as stream:
        values = [r.values for r in parse_csv(stream, _demo_account, now=datetime.now(UTC))]
    assert all(v is not None for v in values), "a row is refused (a time in the past?)"
    rows = [v for v in values if v is not None]
    assert any(v["location_id"] for v in rows)
    assert any(v["post_type"] == "reel" and v["trial_params"] for v in rows)
    assert any(v["first_comment"] for v in rows) and any(v["requires_approval"] for v in rows)
    slides = [s for v in rows if v["post_type"] == "carousel" for s in v["media_urls"] or []]
    assert any(isinstance(s, dict) and s.get("type") == "video" for s in slides)
    assert any(isinstance(s, dict) and s.get("alt_text") for s in slides)


def test_readme_csv_section_matches_the_program_and_the_example_file() -> None:
    """The README's column list names every column, and its CSV rows are examples/posts.csv's own."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Importing a CSV file", 1)[1].split("\n## ", 1)[0]
    listed = re.search(r"`(account, post_type, [^`]*)`", section)
    assert listed is not None
    assert [c.strip() for c in listed.group(1).split(",")] == list(COLUMNS)
    blocks = re.findall(r"```csv\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    example = EXAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    shown = blocks[0].splitlines()
    assert shown[0] == example[0] and set(shown) <= set(example), "the README's CSV rows are not in examples/posts.csv"
    parsed = parse_csv(io.StringIO(blocks[0]), _demo_account)
    assert [r.problems for r in parsed] == [[]] * (len(shown) - 1)


def test_readme_has_the_two_commands_first() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make check" in text
    first_section = text.split("\n## ", 2)[1]
    assert first_section.startswith("The two commands")


def test_readme_has_the_issue_sql_example() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert (
        "INSERT INTO scheduled_posts (account_id, post_type, caption, prompt, scheduled_at) "
        "VALUES (1, 'photo', 'Hello', 'a lighthouse at dawn', '2026-12-01T09:00:00+01:00');"
    ) in text


def _command_paths(group: Any, prefix: str = "") -> list[str]:
    """Leaf command paths ("post import") of a Typer/click group; groups are recognised by ``commands``."""
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(getattr(command, "commands", None), dict):
            paths += _command_paths(command, path + " ")
        else:
            paths.append(path)
    return paths


def test_readme_mentions_every_cli_command() -> None:
    text = README.read_text(encoding="utf-8")
    paths = _command_paths(typer.main.get_command(cli))
    assert "post import" in paths
    missing = [p for p in paths if f"postpilot {p}" not in text]
    assert not missing, f"README does not show these commands: {missing}"


def test_readme_shows_the_schema_revision_the_program_has() -> None:
    """Issue 13: ``db current``, ``/readyz`` and ``doctor`` examples show the head revision of this version."""
    from postpilot.db.migrate import HEAD_REVISION

    text = README.read_text(encoding="utf-8")
    shown = set(re.findall(r'"schema": "(\d{4})"|schema=(\d{4})|"(\d{4}) \(head\)"|at (\d{4}) \(head\)', text))
    revisions = {r for groups in shown for r in groups if r}
    assert revisions == {HEAD_REVISION}, revisions


def test_readme_exit_code_table_matches_the_program() -> None:
    from postpilot.cli import common

    text = README.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|$", text, flags=re.MULTILINE))
    assert set(table) == {"0", "1", "2", "3", "4", "5", "6", "130"}
    assert (common.EXIT_OK, common.EXIT_POST_FAILED, common.EXIT_CONFIG, common.EXIT_INPUT, common.EXIT_NOT_FOUND,
            common.EXIT_CONFLICT, common.EXIT_INTERNAL) == (0, 1, 2, 3, 4, 5, 6)
    assert table["3"].startswith("invalid input") and table["4"].startswith("not found")
    assert table["5"].startswith("conflict") and table["2"].startswith("configuration error")


def test_readme_exit_codes_name_doctors() -> None:
    """``doctor`` exits 1 on a warning only with --strict, and 2 for any check in error (``cli/__init__.py``)."""
    text = README.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|$", text, flags=re.MULTILINE))
    assert "`doctor --strict`" in table["1"]
    assert "`doctor`" in table["2"] and "any check in error" in table["2"]


def _login_paragraph(text: str, login: str) -> str:
    start = text.index(f"- {login} Login asks for")
    end = text.index("\n   - ", start + 1) if login == "Facebook" else text.index("\n\n", start)
    return " ".join(text[start:end].split())


def test_readme_names_every_permission_each_login_asks_for() -> None:
    from postpilot.instagram.scopes import BUSINESS_MANAGER_SCOPES, FACEBOOK_SCOPES, INSTAGRAM_SCOPES

    text = README.read_text(encoding="utf-8")
    facebook, instagram = _login_paragraph(text, "Facebook"), _login_paragraph(text, "Instagram")
    missing = [s for s in (*FACEBOOK_SCOPES, *BUSINESS_MANAGER_SCOPES) if f"`{s}`" not in facebook]
    missing += [s for s in INSTAGRAM_SCOPES if f"`{s}`" not in instagram]
    assert not missing, f"README's settings section does not name these permissions: {missing}"


def test_env_example_names_the_graph_versions_postpilot_knows() -> None:
    from postpilot.instagram.versions import GRAPH_VERSIONS

    text = " ".join(line.lstrip("# ") for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines())
    known = re.search(r"(v\d+\.0) to (v\d+\.0) are known", text)
    assert known, ".env.example does not say which Graph API versions are known"
    versions = list(GRAPH_VERSIONS)
    assert (known[1], known[2]) == (versions[0], versions[-1])
    default = Settings.model_fields["graph_version"].default
    assert f"{default} is served until {GRAPH_VERSIONS[default]:%Y-%m-%d}" in text
