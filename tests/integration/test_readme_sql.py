"""Every ``sql`` block of the README's marketer guide runs as written on SQLite and PostgreSQL, and each row it
makes is one postpilot accepts: a post whose only problem may be a time already past, a series it expands."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from postpilot.db.repository import Repository
from postpilot.domain import validation
from postpilot.domain.model import LoginKind
from postpilot.pipeline.prepare import draft_of

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _statements(block: str) -> list[str]:
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def test_the_readme_has_its_sql_examples() -> None:
    assert len(BLOCKS) >= 6
    assert any("post_series" in b for b in BLOCKS) and any("user_tags" in b for b in BLOCKS)


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_each_readme_sql_block_runs_and_makes_rows_postpilot_accepts(engine: Engine, number: int) -> None:
    repo = Repository(engine=engine)
    repo.create_account(name="shop", ig_user_id="17841400000000001", login_kind=LoginKind.FACEBOOK, dry_run=True,
                        token_encrypted=None)
    with engine.begin() as conn:
        for statement in _statements(BLOCKS[number]):
            conn.execute(text(statement.replace(":", r"\:")))
    account = repo.account(1)
    for post in repo.list_posts():
        found = validation.problems(draft_of(post), account)
        assert [p for p in found if not p.startswith("scheduled_at")] == [], (post.id, found)
    for series in repo.list_series():
        repo.expand_series(series_id=series.id, now=datetime(2027, 1, 1, tzinfo=UTC))
        assert repo.require_series(series.id).last_error is None
        assert repo.series_posts(series.id)
