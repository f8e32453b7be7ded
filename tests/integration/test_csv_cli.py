"""``postpilot post import | export`` with every column of issues 14 and 16, on SQLite and PostgreSQL: the
marketer's round trip (export, edit in a spreadsheet, import by id, ``post show``), carousel slides as objects
with their alt text and type, the message each bad cell gets, and examples/posts.csv as shipped."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from postpilot.cli import cli
from postpilot.db.repository import Repository
from postpilot.domain.model import Post
from tests.integration.cli_env import isolate_cli

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "examples" / "posts.csv"
SLIDES = [
    {"url": "https://example.com/a.jpg", "alt_text": "the counter at opening time"},
    {"url": "https://example.com/clip", "type": "video"},  # a video whose URL does not say so
    "https://cdn.example.com/b.jpg?sig=S3CRET-sig-77",  # a signed URL: shown as ?… in the export
]


@pytest.fixture(autouse=True)
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    isolate_cli(monkeypatch, db_url=db_url, tmp_path=tmp_path, DUPLICATE_WINDOW_S="0")
    return db_url


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def add_account(name: str = "brand") -> None:
    result = invoke(["account", "add", name, "--ig-user-id", "17841400000000001", "--dry-run"])
    assert result.exit_code == 0, result.stderr


def at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def write_csv(path: Path, rows: list[dict[str, Any]], *, delimiter: str = ",") -> Path:
    names = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=names, delimiter=delimiter, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def exported(*args: str) -> list[dict[str, str]]:
    result = invoke(["post", "export", *args])
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def imported(path: Path) -> str:
    result = invoke(["post", "import", str(path)])
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout.strip()


def post(engine: Engine, post_id: int | str) -> Post:
    found = Repository(engine=engine).post(int(post_id))
    assert found is not None
    return found


def shown(post_id: int | str) -> str:
    result = invoke(["post", "show", str(post_id)])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_round_trip_changes_the_new_columns_by_id_and_post_show_has_them(tmp_path: Path, engine: Engine) -> None:
    """Issue 13's round trip with issue 16's columns: export, edit captions, times, a location, a slide's alt
    text and a reel's audio in the file (saved with semicolons), import by id, and post show says so."""
    add_account()
    plan = write_csv(
        tmp_path / "plan.csv",
        [
            {
                "account": "brand",
                "post_type": "photo",
                "scheduled_at": at(2),
                "caption": "Bread",
                "prompt": "a bakery",
                "location_id": "110843418940484",
                "first_comment": "#bakery #bread",
            },
            {
                "account": "brand",
                "post_type": "carousel",
                "scheduled_at": at(3),
                "caption": "Three slides",
                "media_urls": json.dumps(SLIDES),
                "user_tags": "baker.jo@0.4,0.6#1",
                "requires_approval": "true",
            },
            {
                "account": "brand",
                "post_type": "reel",
                "scheduled_at": at(4),
                "caption": "A trial",
                "video_url": "https://example.com/v.mp4",
                "share_to_feed": "false",
                "thumb_offset": "1500",
                "audio_name": "Bakery sounds",
                "trial_params": "MANUAL",
            },
        ],
    )
    assert imported(plan) == "imported 3 post(s)"
    rows = exported()
    photo, carousel, reel = rows
    assert (photo["location_id"], photo["first_comment"]) == ("110843418940484", "#bakery #bread")
    assert (reel["audio_name"], reel["trial_params"], reel["share_to_feed"]) == ("Bakery sounds", "MANUAL", "false")
    assert carousel["requires_approval"] == "true" and carousel["user_tags"] == "baker.jo@0.4,0.6#1"

    new_time = at(6)
    photo.update(caption="Bread, now with rye #rye", scheduled_at=new_time, location_id="213385402")
    slides = json.loads(carousel["media_urls"])
    slides[0]["alt_text"] = "the counter at seven"
    carousel.update(caption="Three slides, one video", media_urls=json.dumps(slides))
    reel.update(audio_name="Oven hum", scheduled_at=at(7))
    edited = write_csv(tmp_path / "edited.csv", rows, delimiter=";")
    assert imported(edited) == "imported 0 post(s), updated 3, unchanged 0"
    assert imported(edited) == "imported 0 post(s), updated 0, unchanged 3"

    on_photo = shown(photo["id"])
    assert "caption: Bread, now with rye #rye" in on_photo and f"scheduled_at: {new_time}" in on_photo
    assert "location_id: 213385402" in on_photo and "first_comment: #bakery #bread" in on_photo
    on_reel = shown(reel["id"])
    assert "audio_name: Oven hum" in on_reel and "trial_params: MANUAL" in on_reel and "thumb_offset: 1500" in on_reel
    assert "caption: Three slides, one video" in shown(carousel["id"])
    stored = post(engine, carousel["id"])
    assert stored.media_urls == [{**SLIDES[0], "alt_text": "the counter at seven"}, SLIDES[1], SLIDES[2]]
    assert stored.requires_approval is True

    # A file keeping only the columns someone works with changes those and leaves the rest as they are.
    narrow = write_csv(
        tmp_path / "narrow.csv",
        [{"id": carousel["id"], "account": "brand", "scheduled_at": carousel["scheduled_at"], "caption": "Short"}],
    )
    assert imported(narrow) == "imported 0 post(s), updated 1, unchanged 0"
    after = post(engine, carousel["id"])
    assert after.caption == "Short" and after.media_urls == stored.media_urls
    assert after.user_tags == stored.user_tags and after.requires_approval is True


def test_carousel_slides_as_objects_keep_their_alt_text_type_and_signed_urls_both_ways(
    tmp_path: Path, engine: Engine
) -> None:
    add_account()
    plan = write_csv(
        tmp_path / "slides.csv",
        [
            {"account": "brand", "post_type": "carousel", "scheduled_at": at(2), "media_urls": json.dumps(SLIDES)},
            {
                "account": "brand",
                "post_type": "carousel",
                "scheduled_at": at(3),
                "media_urls": "https://example.com/1.jpg | https://example.com/2.mov",
            },
        ],
    )
    assert imported(plan) == "imported 2 post(s)"
    objects, plain = exported()
    assert json.loads(objects["media_urls"]) == [SLIDES[0], SLIDES[1], "https://cdn.example.com/b.jpg?…"]
    assert "S3CRET" not in objects["media_urls"]
    assert plain["media_urls"] == "https://example.com/1.jpg https://example.com/2.mov"  # plain stays plain
    full = exported("--full-urls")
    assert json.loads(full[0]["media_urls"]) == SLIDES

    export_file = tmp_path / "export.csv"
    assert invoke(["post", "export", "-o", str(export_file)]).exit_code == 0
    assert imported(export_file) == "imported 0 post(s), updated 0, unchanged 2"

    # Edit one slide's alt text and move the video first: the signed URL, still shown as ?…, is kept.
    slides = json.loads(objects["media_urls"])
    slides[0]["alt_text"] = "the counter, from the door"
    objects["media_urls"] = json.dumps([slides[1], slides[0], slides[2]])
    assert imported(write_csv(tmp_path / "moved.csv", [objects])) == "imported 0 post(s), updated 1, unchanged 0"
    assert post(engine, objects["id"]).media_urls == [
        SLIDES[1],
        {"url": "https://example.com/a.jpg", "alt_text": "the counter, from the door"},
        SLIDES[2],
    ]

    # The same slides imported as new posts from the full export are the same slides.
    copy = {k: v for k, v in full[0].items() if k != "id"}
    assert imported(write_csv(tmp_path / "copy.csv", [copy])) == "imported 1 post(s)"
    newest = max(int(r["id"]) for r in exported())
    assert post(engine, newest).media_urls == SLIDES


def test_requires_approval_is_a_column_and_allow_duplicate_is_only_exported(tmp_path: Path, engine: Engine) -> None:
    add_account()
    plan = write_csv(
        tmp_path / "plan.csv",
        [
            {
                "account": "brand",
                "scheduled_at": at(3),
                "prompt": "a launch",
                "requires_approval": "yes",
                "allow_duplicate": "true",
            },
            {"account": "brand", "scheduled_at": at(4), "prompt": "a plain day"},
        ],
    )
    assert imported(plan) == "imported 2 post(s)"
    launch, plain = exported()
    assert (launch["requires_approval"], launch["allow_duplicate"]) == ("true", "false")  # the confirmation: not set
    assert (plain["requires_approval"], plain["allow_duplicate"]) == ("", "false")
    assert post(engine, launch["id"]).allow_duplicate is False

    prepared = invoke(["post", "prepare", launch["id"]])
    assert prepared.exit_code == 0, prepared.stdout + prepared.stderr
    assert f"waiting for approval: run postpilot post approve {launch['id']}" in shown(launch["id"])

    with engine.begin() as conn:  # a person confirmed a repeat: the export says so, an import leaves it
        conn.execute(text("UPDATE scheduled_posts SET allow_duplicate = true WHERE id = :i"), {"i": int(plain["id"])})
    launch, plain = exported()
    assert plain["allow_duplicate"] == "true"
    plain.update(allow_duplicate="false", requires_approval="false")
    launch.update(requires_approval="")
    assert imported(write_csv(tmp_path / "edit.csv", [launch, plain])) == "imported 0 post(s), updated 2, unchanged 0"
    assert post(engine, plain["id"]).allow_duplicate is True
    assert post(engine, plain["id"]).requires_approval is False
    assert post(engine, launch["id"]).requires_approval is None  # as the account says


def test_a_prepared_post_exported_with_its_filled_images_is_updated_by_its_row(tmp_path: Path, engine: Engine) -> None:
    """Preparing fills image_url / media_urls with where the images are stored (file:// with the local store)
    beside the prompt; the exported row must still update the post (it was once silently skipped)."""
    add_account()
    plan = write_csv(
        tmp_path / "plan.csv",
        [
            {"account": "brand", "scheduled_at": at(2), "caption": "Photo", "prompt": "a lighthouse"},
            {
                "account": "brand",
                "post_type": "carousel",
                "scheduled_at": at(2),
                "caption": "Slides",
                "prompt": "a harbour",
                "image_count": "2",
            },
        ],
    )
    assert imported(plan) == "imported 2 post(s)"
    for row in exported():
        assert invoke(["post", "prepare", row["id"]]).exit_code == 0
    rows = exported()
    assert rows[0]["image_url"].startswith("file://") and rows[1]["media_urls"].count("file://") == 2
    for row in rows:
        row["caption"] += " (edited)"
    assert imported(write_csv(tmp_path / "edit.csv", rows)) == "imported 0 post(s), updated 2, unchanged 0"
    assert [post(engine, r["id"]).caption for r in rows] == ["Photo (edited)", "Slides (edited)"]


def test_a_row_the_database_cannot_read_is_named_by_export_and_import(tmp_path: Path, engine: Engine) -> None:
    from tests.integration.test_unreadable_rows import _bad_row, _restore

    add_account()
    plan = write_csv(tmp_path / "plan.csv", [{"account": "brand", "scheduled_at": at(2), "prompt": "a harbour"}])
    assert imported(plan) == "imported 1 post(s)"
    try:
        bad = _bad_row(engine, 1)
        result = invoke(["post", "export", "-o", str(tmp_path / "out.csv")])
        assert result.exit_code == 3  # the file is written, without that row: a script must notice
        assert f"left out of the export: post {bad} cannot be read: the column scheduled_at" in result.stderr
        rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"))))
        assert [r["prompt"] for r in rows] == ["a harbour"]
        rows.append({**rows[0], "id": str(bad), "caption": "mend it"})
        again = invoke(["post", "import", str(write_csv(tmp_path / "edit.csv", rows))])
        assert again.exit_code == 3 and "Traceback" not in again.stdout + again.stderr
        assert f"line 3: post {bad} cannot be read: the column scheduled_at" in again.stderr
        listed = invoke(["post", "list"])  # the others are listed, that one named
        assert listed.exit_code == 0 and "a harbour" not in listed.stderr
        assert f"warning: post {bad} cannot be read: the column scheduled_at" in listed.stderr
        assert len([line for line in listed.stdout.splitlines() if line.strip()]) == 2  # the header and one row
        shown = invoke(["post", "show", str(bad)])
        assert shown.exit_code == 3 and f"post {bad} cannot be read: the column scheduled_at" in shown.stderr
    finally:
        _restore(engine)


PHOTO = {"post_type": "photo", "prompt": "bread"}
REEL = {"post_type": "reel", "video_url": "https://example.com/v.mp4"}
STORY = {"post_type": "story", "prompt": "croissants"}
CAROUSEL = {"post_type": "carousel"}
TWO = '"https://example.com/b.jpg"'
# (column, the rest of the row, the cell, what the marketer reads on that row's line)
BAD_CELLS: list[tuple[str, dict[str, str], str, str]] = [
    ("first_comment", PHOTO, "x" * 2201, "first_comment is 2201 characters long; Instagram allows at most 2200"),
    ("first_comment", STORY, "#bakery", "first_comment is not possible on a story (stories take no comments)"),
    ("user_tags", PHOTO, "friend@0.5", "user_tags 'friend@0.5' must look like username@x,y (e.g. friend@0.5,0.5)"),
    ("user_tags", PHOTO, "friend@1.5,0.5", "user_tags item 1 x must be a number from 0.0 to 1.0"),
    ("user_tags", PHOTO, '[{"username": "friend"', "user_tags starts with [ but is not valid JSON"),
    ("user_tags", REEL, "friend@0.5,0.5", "user_tags item 1: a reel tags people by username only"),
    ("collaborators", PHOTO, "a b c d", "collaborators has 4 usernames; Instagram allows at most 3"),
    ("collaborators", PHOTO, "@partner_shop", "collaborators item 1 '@partner_shop': write the username without"),
    ("collaborators", STORY, "partner_shop", "collaborators are not supported on stories"),
    (
        "location_id",
        PHOTO,
        "Paris",
        "location_id must be the numeric id of a Facebook Page with a location (got 'Paris')",
    ),
    ("location_id", STORY, "110843418940484", "location_id is not supported on stories"),
    ("share_to_feed", REEL, "maybe", "share_to_feed must be true or false (got 'maybe')"),
    ("share_to_feed", PHOTO, "true", "share_to_feed is only for a reel"),
    ("thumb_offset", REEL, "1.5s", "thumb_offset must be a whole number (got '1.5s')"),
    ("thumb_offset", REEL, "-5", "thumb_offset must be a whole number of milliseconds, 0 or more (got -5)"),
    ("audio_name", REEL, "x" * 256, "audio_name must be text of at most 255 characters"),
    ("audio_name", PHOTO, "Bakery sounds", "audio_name is only for a reel"),
    ("trial_params", REEL, "soon", "trial_params graduation_strategy must be MANUAL or SS_PERFORMANCE (got 'SOON')"),
    ("trial_params", REEL, '{"graduation_strategy": "MANUAL"', "trial_params starts with { but is not valid JSON"),
    ("trial_params", PHOTO, "MANUAL", "trial_params is only for a reel"),
    (
        "requires_approval",
        PHOTO,
        "maybe",
        "requires_approval must be true or false (got 'maybe'); leave it empty to do as the account says",
    ),
    (
        "media_urls",
        CAROUSEL,
        '[{"url": "https://example.com/a.jpg"} ' + TWO + "]",
        "media_urls starts with [ but is not valid JSON (Expecting ',' delimiter at character 39)",
    ),
    (
        "media_urls",
        CAROUSEL,
        "[\u201chttps://example.com/a.jpg\u201d, \u201chttps://example.com/b.jpg\u201d]",
        'it has typographic quotes (\u201c \u201d), JSON needs straight ones (")',
    ),
    (
        "media_urls",
        CAROUSEL,
        '[{"url": "https://example.com/a.jpg", "type": "gif"}, ' + TWO + "]",
        "media_urls item 1 type must be image or video (got 'gif')",
    ),
    (
        "media_urls",
        CAROUSEL,
        "[" + TWO + ', {"url": "https://example.com/clip", "type": "video", "alt_text": "x"}]',
        "media_urls item 2 is a video; alt text is for images only",
    ),
    (
        "media_urls",
        CAROUSEL,
        '[{"src": "https://example.com/a.jpg"}, ' + TWO + "]",
        "media_urls item 1 has unknown keys src; it takes url, type and alt_text",
    ),
    (
        "media_urls",
        CAROUSEL,
        '{"url": "https://example.com/a.jpg"}',
        "media_urls is the whole carousel: put the slides in a JSON array",
    ),
    (
        "media_urls",
        CAROUSEL,
        '[{"url": "ftp://example.com/a.jpg"}, ' + TWO + "]",
        "media_urls item 1 must start with http:// or https://",
    ),
]


def test_each_bad_cell_is_named_with_its_line_column_and_rule(tmp_path: Path) -> None:
    add_account()
    rows = [{"account": "brand", "scheduled_at": at(2), **rest, column: cell} for column, rest, cell, _ in BAD_CELLS]
    result = invoke(["post", "import", str(write_csv(tmp_path / "bad.csv", rows))])
    assert result.exit_code == 3 and "Traceback" not in result.stdout + result.stderr
    lines = {line.split(":", 1)[0]: line for line in result.stderr.splitlines() if line.startswith("line ")}
    for number, (column, _, _, message) in enumerate(BAD_CELLS, start=2):
        said = lines.get(f"line {number}", "")
        assert message in said, (column, message, said)
        assert column in said
    assert result.stderr.splitlines()[-1] == (
        f"error: {len(BAD_CELLS)} of {len(BAD_CELLS)} rows are invalid; nothing was imported (fix them, or use "
        "--skip-invalid to import the valid rows)"
    )
    assert invoke(["post", "list"]).stdout.strip() == "no posts"


def test_examples_posts_csv_imports_cleanly_and_round_trips(engine: Engine, tmp_path: Path) -> None:
    add_account("demo")
    result = invoke(["post", "import", str(EXAMPLE_CSV)])  # times as written (2030): no --allow-past
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = EXAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    assert result.stdout.strip() == f"imported {len(lines) - 1} post(s)"
    posts = Repository(engine=engine).list_posts()
    assert {p.post_type for p in posts} == {"photo", "carousel", "reel", "story"}
    assert any(p.location_id for p in posts) and any(p.trial_params for p in posts)
    videos = [s for p in posts for s in p.media_urls or [] if isinstance(s, dict) and s.get("type") == "video"]
    assert videos and any(isinstance(s, dict) and s.get("alt_text") for p in posts for s in p.media_urls or [])
    export_file = tmp_path / "export.csv"
    assert invoke(["post", "export", "-o", str(export_file)]).exit_code == 0
    assert imported(export_file) == f"imported 0 post(s), updated 0, unchanged {len(lines) - 1}"


def _import_on_a_terminal(path: Path) -> tuple[int, str]:
    """``post import`` as a person runs it in a terminal (stderr a pty), from this test's environment."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "postpilot", "post", "import", str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, env=dict(os.environ), timeout=300,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return done.returncode, b"".join(chunks).decode(errors="replace") + done.stdout.decode()


def test_a_big_import_shows_how_far_it_has_got_on_a_terminal_only() -> None:
    """Both halves of a long import: the rows checked, then the rows written (it was silent for half of it)."""
    add_account()
    rows = [{"account": "brand", "caption": f"Post {i}", "prompt": "a lighthouse", "scheduled_at": at(3 + i / 1e4)}
            for i in range(2_500)]
    big = write_csv(Path("big.csv"), rows)
    code, shown = _import_on_a_terminal(big)
    assert code == 0, shown
    assert "checked 1,000 rows…" in shown and "checked 2,000 rows…" in shown
    assert "imported 1,000 of 2,500 rows…" in shown and "imported 2,000 of 2,500 rows…" in shown
    assert "imported 2500 post(s)" in shown
    quiet = invoke(["post", "import", str(write_csv(Path("more.csv"), rows[:1_200]))])  # not a terminal
    assert quiet.exit_code == 0 and "rows…" not in quiet.output
