"""Options that would be accepted and then ignored are refused with a sentence, on SQLite and PostgreSQL: a
prompt on a reel (a reel is its video), an aspect on a reel or a story (a story is 9:16 whatever its source)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from postpilot.cli import cli
from tests.integration.cli_env import isolate_cli


@pytest.fixture(autouse=True)
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    isolate_cli(monkeypatch, db_url=db_url, tmp_path=tmp_path)
    assert invoke(["account", "add", "brand", "--ig-user-id", "17841400000000001", "--dry-run"]).exit_code == 0
    return db_url


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


ADD = ["post", "add", "--account", "brand", "--at", "2030-12-01 09:00"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "reel", "--video-url", "https://example.com/v.mp4", "--prompt", "p"],
         "a reel is its video_url; a prompt makes images, which a reel does not use"),
        (["--type", "reel", "--video-url", "https://example.com/v.mp4", "--aspect", "portrait"],
         "--aspect is for a photo or a carousel: a reel goes out as its video is"),
        (["--type", "story", "--prompt", "croissants", "--aspect", "landscape"],
         "--aspect is for a photo or a carousel: a story goes out in 9:16, whatever its source"),
    ],
)
def test_an_option_a_post_would_ignore_is_refused(args: list[str], message: str) -> None:
    result = invoke([*ADD, *args])
    assert result.exit_code == 3, result.output
    assert result.stderr.strip() == f"error: {message}"


def test_the_same_posts_without_them_are_accepted() -> None:
    reel = invoke([*ADD, "--type", "reel", "--video-url", "https://example.com/v.mp4"])
    story = invoke([*ADD, "--type", "story", "--prompt", "croissants"])
    photo = invoke([*ADD, "--prompt", "a lighthouse", "--aspect", "portrait"])
    assert (reel.exit_code, story.exit_code, photo.exit_code) == (0, 0, 0), (reel.output, story.output, photo.output)
