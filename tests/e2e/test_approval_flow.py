"""Issue 14, approval end to end, with a real daemon and the real CLI: posts inserted with SQL for an account
that requires approval are prepared and wait; approved from the CLI, a post is published on its minute;
rejected, it is cancelled with the reason; regenerated, it gets new images and waits again; never approved,
it is never published. On SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from postpilot.db.repository import Repository
from postpilot.domain.model import PostStatus
from tests.e2e.test_daemon import IG_USER, TOKEN, Daemon, daemon_env, daemons, live_account, wait_for
from tests.fakes.graph import GraphState, make_server

__all__ = ["daemons"]  # the fixture, shared with test_daemon

WAITING = "waiting for approval"


def _insert(engine: Engine, account_id: int, caption: str, at: datetime) -> int:
    with engine.begin() as conn:
        return int(conn.execute(
            text("INSERT INTO scheduled_posts (account_id, caption, prompt, scheduled_at) "
                 "VALUES (:a, :c, :p, :t) RETURNING id"),
            {"a": account_id, "c": caption, "p": f"a picture for {caption}", "t": at},
        ).scalar_one())


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "postpilot", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_approve_reject_regenerate_from_the_cli_against_a_running_daemon(
    db_url: str, engine: Engine, tmp_path: Path, daemons: list[Daemon]
) -> None:
    repo = Repository(engine=engine)
    account = live_account(engine)
    repo.set_account_require_approval(account, True)
    state = GraphState()
    state.add_account(IG_USER, TOKEN)
    # On a whole second, far enough ahead for everything below to happen before it.
    minute = (datetime.now(UTC) + timedelta(seconds=28)).replace(microsecond=0)
    approved = _insert(engine, account, "approved", minute)
    rejected = _insert(engine, account, "rejected", minute)
    regenerated = _insert(engine, account, "regenerated", minute)
    ignored = _insert(engine, account, "never approved", minute)
    with make_server(state) as graph:
        env = daemon_env(db_url, tmp_path, POSTPILOT_GRAPH_URL=graph.url, POSTPILOT_CONTAINER_POLL_S="0.1",
                         POSTPILOT_PUBLIC_MEDIA_URL="https://media.example.test/pp", POSTPILOT_MAX_LATENESS_S="5")
        d = Daemon(env, tmp_path)
        daemons.append(d)

        def all_waiting() -> bool:
            d._died()
            return all(WAITING in (repo.require_post(p).last_error or "")
                       for p in (approved, rejected, regenerated, ignored))

        wait_for(all_waiting, 30, "four prepared posts waiting for approval")
        assert state.total_publish_calls() == 0 and state.containers == {}  # nothing staged unapproved
        first_images = {m.stored_url for m in repo.media(regenerated)}

        ok = _cli(env, tmp_path, "post", "approve", str(approved))
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith(f"post {approved} approved by cli:")
        no = _cli(env, tmp_path, "post", "reject", str(rejected), "--reason", "wrong product")
        assert no.returncode == 0 and "cancelled" in no.stdout, no.stderr
        again = _cli(env, tmp_path, "post", "regenerate", str(regenerated), "--prompt", "the same, at night")
        assert again.returncode == 0, again.stderr
        wait_for(lambda: WAITING in (repo.require_post(regenerated).last_error or "") and bool(repo.media(regenerated)),
                 30, "the regenerated post prepared again and waiting")
        assert {m.stored_url for m in repo.media(regenerated)}.isdisjoint(first_images)
        assert repo.require_post(regenerated).prompt == "the same, at night"
        assert _cli(env, tmp_path, "post", "approve", str(regenerated)).returncode == 0

        wait_for(lambda: repo.require_post(approved).status is PostStatus.PUBLISHED, 60, "the approved post live")
        wait_for(lambda: repo.require_post(regenerated).status is PostStatus.PUBLISHED, 30, "the regenerated one")
        wait_for(lambda: repo.require_post(ignored).status is PostStatus.FAILED, 30, "the unapproved one missed")
        assert d.stop() == 0, d.logs

    live = repo.require_post(approved)
    assert live.published_at is not None
    assert 0 <= (live.published_at - minute).total_seconds() < 5, (live.published_at, minute)  # on its minute
    turned_down = repo.require_post(rejected)
    assert turned_down.status is PostStatus.CANCELLED and "wrong product" in (turned_down.last_error or "")
    never = repo.require_post(ignored)
    assert never.ig_media_id is None and "approv" in (never.last_error or "")
    assert state.total_publish_calls() == 2 and all(n == 1 for n in state.publish_calls.values())
    kinds = [e.kind for e in repo.events(approved)]
    assert "approved" in kinds and kinds.index("approved") < kinds.index("published")
