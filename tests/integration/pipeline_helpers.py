"""Shared setup for pipeline integration tests: an App wired to the Graph API fake, accounts, ready posts.

Posts skip the prepare step: their media rows are recorded directly and the post is moved to ``ready``, as
the prepare step would leave it. Everything after that (stage, publish, reconcile) runs the real pipeline,
the real ``GraphClient`` and httpx against ``tests/fakes/graph/`` over 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import update

from postpilot.app import App, build_app
from postpilot.config import Settings
from postpilot.db.rows import posts as posts_table
from postpilot.domain.changes import NewMedia
from postpilot.domain.model import LoginKind, MediaSource, Post, PostStatus
from postpilot.pipeline import StepResult
from tests.fakes.graph import GraphState

IG_USER = "17841400000000001"
# Shaped like none of the redaction patterns (no EAA/IG prefix), so a leak would not be masked by accident.
TOKEN = "tok-Zq8Xw3Lm5Np7Rt9Vb2Cd4Fg6Hj"
MEDIA_BASE = "https://media.example.test/postpilot"


def make_settings(db_url: str, state_dir: Path, graph_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "state_dir": state_dir,
        "secret_key": Fernet.generate_key().decode(),
        "graph_url": graph_url,
        "instagram_graph_url": graph_url,
        "container_poll_s": 0.05,
        "graph_timeout_s": 5.0,
        "publish_timeout_s": 1.0,
        "workers": 2,
        "generation_workers": 1,
        "lease_s": 60.0,
        # Tests repeat captions and prompts freely; the duplicate guard is tested where it is asked for.
        "duplicate_window_s": 0.0,
    }
    values.update(overrides)
    # _env_file=None: a developer's .env must not leak into the tests.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_app(db_url: str, state_dir: Path, graph_url: str, **overrides: Any) -> App:
    return build_app(make_settings(db_url, state_dir, graph_url, **overrides), owner="test-worker")


def add_account(
    app: App,
    *,
    name: str = "brand",
    ig_user_id: str = IG_USER,
    token: str | None = TOKEN,
    dry_run: bool = False,
    login_kind: LoginKind = LoginKind.FACEBOOK,
) -> int:
    return app.repo.create_account(
        name=name,
        ig_user_id=ig_user_id,
        login_kind=login_kind,
        dry_run=dry_run,
        token_encrypted=app.cipher.encrypt(token) if token else None,
    )


@dataclass(frozen=True)
class PostSpec:
    kind: str = "photo"  # photo | carousel | reel
    images: int = 1
    caption: str = "Autumn menu is here #food"
    alt_text: str | None = None  # photo: the post's alt text
    scheduled_at: datetime | None = None


def add_ready_post(app: App, account_id: int, spec: PostSpec = PostSpec()) -> int:
    """A post as the prepare step leaves it: media recorded, status ``ready``, due now."""
    when = spec.scheduled_at or datetime.now(UTC) - timedelta(minutes=1)
    urls = [f"{MEDIA_BASE}/{spec.kind}-{i}.jpg" for i in range(spec.images)]
    values: dict[str, Any] = {
        "account_id": account_id,
        "post_type": spec.kind,
        "caption": spec.caption,
        "scheduled_at": when,
        "alt_text": spec.alt_text,
    }
    if spec.kind == "photo":
        values["image_url"] = urls[0]
    elif spec.kind == "carousel":
        values["media_urls"] = urls
    else:
        values["video_url"] = f"{MEDIA_BASE}/reel.mp4"
        values["cover_url"] = f"{MEDIA_BASE}/cover.jpg"
    post_id = app.repo.add_post(values, actor="test")
    if spec.kind != "reel":
        for i, url in enumerate(urls):
            app.repo.record_media(
                post_id,
                NewMedia(
                    position=i,
                    source=MediaSource.PROVIDED,
                    stored_url=url,
                    width=1080,
                    height=1080,
                    bytes=120_000,
                    checksum=f"sha256-{i}",
                    source_url=url,
                    alt_text=f"item {i} alt",
                ),
            )
    # The lifecycle has no scheduled -> ready: the post goes through preparing (as a claim would move it,
    # here without a claim event), then the prepare step's transition.
    set_post(app, post_id, status=PostStatus.PREPARING.value)
    assert app.repo.transition(
        post_id, expected=PostStatus.PREPARING, to=PostStatus.READY, owner=None, kind="prepared", message="test setup"
    )
    return post_id


def publish_now(app: App, post_id: int) -> StepResult:
    """Claim the post for publishing (as the runner does at its scheduled minute) and run the publish step."""
    claimed = app.repo.claim_for_publish(owner=app.owner, lease_s=app.settings.lease_s, batch=1, post_id=post_id)
    assert [p.id for p in claimed] == [post_id], f"post {post_id} was not claimable: {app.repo.post(post_id)}"
    return app.pipeline.publish(claimed[0])


def reconcile_stale(app: App) -> list[StepResult]:
    claimed = app.repo.claim_stale_publishing(owner=app.owner, lease_s=app.settings.lease_s, batch=10)
    return [app.pipeline.reconcile(p) for p in claimed]


def set_post(app: App, post_id: int, **values: Any) -> None:
    """Change columns behind the pipeline's back (time travel, a crashed worker's leftovers)."""
    with app.engine.begin() as conn:
        conn.execute(update(posts_table).where(posts_table.c.id == post_id).values(**values))


def age_publish_attempt(app: App, post_id: int, seconds: float = 3600.0) -> None:
    """Pretend the last publish attempt (and its lease) is ``seconds`` old: the settle time has passed."""
    past = datetime.now(UTC) - timedelta(seconds=seconds)
    set_post(app, post_id, publish_attempted_at=past, lease_until=past, next_attempt_at=None)


def post(app: App, post_id: int) -> Post:
    return app.repo.require_post(post_id)


def event_kinds(app: App, post_id: int) -> list[str]:
    return [e.kind for e in app.repo.events(post_id)]


def only_publish(state: GraphState) -> tuple[str, int]:
    """The single container media_publish was called for, and how often (must be exactly once)."""
    calls = dict(state.publish_calls)
    assert len(calls) == 1, f"media_publish was called for several containers: {calls}"
    ((container, count),) = calls.items()
    return container, count
