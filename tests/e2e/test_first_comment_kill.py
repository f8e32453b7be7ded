"""Issue 16: a daemon SIGKILLed after a post went live and while its first comment was being posted (Instagram
made the comment; its answer never arrived) ends, after a restart, with the post published once and the
comment posted once. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from postpilot.db.repository import Repository
from postpilot.db.rows import posts
from postpilot.domain.model import PostStatus
from tests.e2e.test_daemon import IG_USER, TOKEN, Daemon, daemon_env, daemons, free_port, live_account, wait_for
from tests.fakes.graph import GraphState, make_server
from tests.fakes.graph.records import Fault

__all__ = ["daemons"]  # the fixture, shared with test_daemon


def test_sigkill_while_the_first_comment_is_posted_leaves_one_post_and_one_comment(
    db_url: str, engine: Engine, tmp_path: Path, daemons: list[Daemon]
) -> None:
    repo = Repository(engine=engine)
    account = live_account(engine)
    state = GraphState()
    state.add_account(IG_USER, TOKEN)
    # Instagram makes the comment, then the answer hangs: the daemon is killed while it waits.
    state.inject(Fault(kind="comment", remaining=1, commit=True, delay_s=20.0))
    with engine.begin() as conn:
        post_id = int(conn.execute(insert(posts).returning(posts.c.id).values(
            account_id=account, post_type="photo", prompt="fresh bread", caption="Morning",
            first_comment="#bakery #bread", scheduled_at=datetime.now(UTC) - timedelta(seconds=1))).scalar_one())
    with make_server(state) as graph:
        env = daemon_env(db_url, tmp_path, POSTPILOT_GRAPH_URL=graph.url, POSTPILOT_CONTAINER_POLL_S="0.1",
                         POSTPILOT_PUBLIC_MEDIA_URL="https://media.example.test/pp")
        first = Daemon(env, tmp_path, "first")
        daemons.append(first)
        wait_for(lambda: state.comments_created == 1 or first._died(), 60, "the comment made at Instagram")
        assert repo.require_post(post_id).status is PostStatus.PUBLISHED
        first.proc.kill()
        first.proc.wait()
        assert repo.require_post(post_id).first_comment_id is None  # its answer never arrived

        second = Daemon({**env, "POSTPILOT_HEALTH_LISTEN": f"127.0.0.1:{free_port()}"}, tmp_path, "second")
        daemons.append(second)
        wait_for(lambda: bool(repo.require_post(post_id).first_comment_id) or second._died(), 60,
                 "the comment recorded by the next daemon")
        time.sleep(1)
        assert second.stop() == 0, second.logs
    done = repo.require_post(post_id)
    assert done.status is PostStatus.PUBLISHED
    assert state.total_publish_calls() == 1 and len(state.media) == 1
    assert state.comments_created == 1 and [c["text"] for c in state.media[0].comments] == ["#bakery #bread"]
    assert done.first_comment_id == state.media[0].comments[0]["id"]
    assert "already on the post" in (repo.events(post_id)[-1].message or "")
