"""The composition root: builds the real adapters from Settings, once, at the entry point.

``App`` holds every adapter and service and is what the entry points (``cli/``, ``review/``, ``doctor.py``)
are given. Beside it: ``media_providers.py`` (the image generator and the media store, built on first use:
``openai`` and ``cloudinary`` cost tens of MB each, so a daemon on the embedded defaults stays small),
``graph_sessions.py`` (which Graph API client an account's work gets) and ``start_checks.py`` (settings that
would start a daemon whose posts then wait forever).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Engine

from postpilot.config import Settings
from postpilot.crypto import TokenCipher
from postpilot.db.engine import build_engine
from postpilot.db.repository import Repository
from postpilot.domain.errors import ConfigError
from postpilot.domain.retry import RetryPolicy
from postpilot.graph_sessions import GraphSessions
from postpilot.instagram.quota import PublishingQuota
from postpilot.instagram.recording import RecordingGraphClient
from postpilot.instagram.usage import GraphUsage
from postpilot.liveness import Heartbeat
from postpilot.logging import register_secret
from postpilot.media.ports import ImageGenerator, MediaStore
from postpilot.media_providers import MediaProviders
from postpilot.metrics import Metrics
from postpilot.pipeline.first_comment import FirstCommentFlow
from postpilot.pipeline.outcome import StepResult
from postpilot.pipeline.ports import GraphFactory
from postpilot.pipeline.prepare import Preparer
from postpilot.pipeline.preview import PostPreview, preview_post
from postpilot.pipeline.publish import PublishFlow
from postpilot.pipeline.runner import Runner
from postpilot.pipeline.stage import StagingFlow, StagingPolicy
from postpilot.pipeline.steps import Pipeline
from postpilot.start_checks import start_problems
from postpilot.tokens import TokenRefresher
from postpilot.watch import DependencyWatch

if TYPE_CHECKING:
    from postpilot.daemon import Daemon
    from postpilot.notify.sender import NoticeSender
    from postpilot.review.process import ReviewProcess


def default_owner() -> str:
    """Who holds a lease: host, pid and a random suffix, so a restarted process never inherits old leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class App:
    """Every adapter and service, built from Settings (``build_app``). Replacements (``generator``,
    ``store``, ``graph_factory``) stand in for the real adapters, e.g. in tests and benchmarks; the SDK-backed
    adapters (OpenAI, Cloudinary) are built on first use (``media_providers.py``)."""

    settings: Settings
    owner: str = field(default_factory=default_owner)
    force_dry_run: bool = False
    generator_override: ImageGenerator | None = None
    store_override: MediaStore | None = None
    graph_factory: GraphFactory | None = None

    def __post_init__(self) -> None:
        for secret in (
            self.settings.secret_key,
            self.settings.openai_api_key,
            self.settings.cloudinary_url,
            self.settings.facebook_app_secret,
            self.settings.instagram_app_secret,
        ):
            if secret is not None:
                register_secret(secret.get_secret_value())
        for url in self.settings.notify_url_list:
            register_secret(url)
        if self.settings.worker_id:
            self.owner = f"{self.settings.worker_id}:{os.getpid()}"

    # ------------------------------------------------------------------ infrastructure
    @cached_property
    def engine(self) -> Engine:
        return build_engine(self.settings.resolved_database_url, pool_size=self.db_pool_size)

    @property
    def db_pool_size(self) -> int:
        """A connection for every worker thread of the runner's pools, plus the scheduler's and the poll's."""
        s = self.settings
        return s.workers + s.stage_workers + s.generation_workers + 6

    @cached_property
    def repo(self) -> Repository:
        repo = Repository(engine=self.engine)
        # Whether a live post is queued for the channels is decided in the publish transaction itself.
        repo.notify_published = self.settings.notify_published
        return repo

    @cached_property
    def http(self) -> httpx.Client:
        """One pooled HTTP client for the Graph API and media fetches; closed by ``close()``."""
        return httpx.Client(
            timeout=httpx.Timeout(self.settings.graph_timeout_s),
            limits=httpx.Limits(max_connections=max(20, self.settings.workers * 4), max_keepalive_connections=50),
            follow_redirects=False,
            trust_env=False,
        )

    @cached_property
    def fetch_http(self) -> httpx.Client:
        """For marketers' image URLs: connects only to public addresses (``media.public_net``)."""
        from postpilot.media.public_net import public_only_client

        return public_only_client(
            timeout=httpx.Timeout(self.settings.fetch_timeout_s, connect=10.0),
            max_redirects=5,
            allow_networks=self.settings.fetch_allowed_networks,
        )

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def cipher(self) -> TokenCipher:
        key = self.settings.secret_key
        return TokenCipher(key.get_secret_value() if key else None)

    # ------------------------------------------------------------------ adapters
    @cached_property
    def media(self) -> MediaProviders:
        """The image generator and the media store, each built on first use (``media_providers.py``)."""
        return MediaProviders(
            settings=self.settings,
            fetch_http=lambda: self.fetch_http,
            http=lambda: self.http,
            generator=self.generator_override,
            store=self.store_override,
        )

    @cached_property
    def graphs(self) -> GraphSessions:
        """The Graph API client each account's work gets (``graph_sessions.py``)."""
        return GraphSessions(
            settings=self.settings,
            repo=self.repo,
            cipher=lambda: self.cipher,
            http=lambda: self.http,
            usage=self.graph_usage,
            metrics=self.metrics,
            force_dry_run=self.force_dry_run,
            replacement=self.graph_factory,
        )

    @cached_property
    def watch(self) -> DependencyWatch:
        return DependencyWatch(
            graph_version=self.settings.graph_version,
            read_model=self.media.read_openai_model if self.media.image_provider == "openai" else None,
            metrics=self.metrics,
            notify=self.repo.queue_notice,
        )

    @cached_property
    def token_refresher(self) -> TokenRefresher:
        return TokenRefresher(
            repo=self.repo,
            cipher=lambda: self.cipher,
            http=self.http,
            instagram_graph_url=self.settings.instagram_graph_url,
            timeout_s=self.settings.graph_timeout_s,
        )

    @cached_property
    def graph_usage(self) -> GraphUsage:
        return GraphUsage(on_reading=self.metrics.set_graph_usage)

    # ------------------------------------------------------------------ the pipeline
    @cached_property
    def generation_slots(self) -> threading.Semaphore:
        return threading.BoundedSemaphore(self.settings.generation_workers)

    @cached_property
    def staging_policy(self) -> StagingPolicy:
        return StagingPolicy(
            poll_s=self.settings.container_poll_s,
            reel_wait_s=self.settings.reel_max_wait_s,
            settle_s=self.settings.publish_timeout_s + 30.0,
        )

    @cached_property
    def first_comments(self) -> FirstCommentFlow:
        return FirstCommentFlow(
            repo=self.repo, graphs=self.graphs.session, owner=self.owner, lease_s=self.settings.lease_s
        )

    @cached_property
    def pipeline(self) -> Pipeline:
        quota = PublishingQuota(store=self.repo)
        staging = StagingFlow(repo=self.repo, policy=self.staging_policy, quota=quota)
        preparer = Preparer(
            repo=self.repo,
            generator_factory=self.media.generator,
            store_factory=self.media.store,
            daily_budget_usd=self.settings.daily_image_budget_usd,
            generation_slots=self.generation_slots,
            on_generated=self._count_image,
            spool_dir=self.settings.state_dir / "spool",
        )
        return Pipeline(
            repo=self.repo,
            preparer=preparer,
            staging=staging,
            publishing=PublishFlow(repo=self.repo, staging=staging, policy=self.staging_policy, quota=quota),
            graphs=self.graphs.session,
            metrics=self.metrics,
            owner=self.owner,
            comments=self.first_comments,
            duplicate_window_s=self.settings.duplicate_window_s,
            policy=RetryPolicy(max_attempts=self.settings.max_attempts),
            force_dry_run=self.force_dry_run,
        )

    def runner(self, *, on_result: Callable[[StepResult], None] | None = None) -> Runner:
        """A runner (its thread pools) over this app's pipeline; ``shutdown()`` it when done."""
        return Runner(
            settings=self.settings,
            repo=self.repo,
            pipeline=self.pipeline,
            metrics=self.metrics,
            owner=self.owner,
            on_result=on_result,
        )

    def notice_sender(self) -> NoticeSender:
        """The outbox's sender (``notify/sender.py``) with the configured channels and Apprise."""
        from postpilot.notify.channels import AppriseSender
        from postpilot.notify.sender import NoticeSender

        return NoticeSender(
            store=self.repo,
            transport=AppriseSender(),
            owner=self.owner,
            global_urls=self.settings.notify_url_list,
            published_too=self.settings.notify_published,
            # Asked for only when an account has a channel of its own: a daemon without accounts (or without
            # account channels) needs no secret key to start.
            decrypt=lambda ciphertext: self.cipher.decrypt(ciphertext),
            on_result=self.metrics.notification_result,
            review_url=self.settings.web_public_url,
        )

    def heartbeat(self, kind: str) -> Heartbeat:
        """This process's heartbeat (``db/workers.py``); ``kind`` is ``daemon`` or ``once``."""
        return Heartbeat(self.repo, owner=self.owner, kind=kind)

    def daemon(self) -> Daemon:
        from postpilot.daemon import Daemon  # APScheduler: loaded for ``postpilot run`` only

        return Daemon(
            heartbeat=self.heartbeat("daemon"),
            notices=self.notice_sender(),
            start_checks=self.check_start,
            settings=self.settings,
            repo=self.repo,
            engine=self.engine,
            metrics=self.metrics,
            runner=self.runner(),
            watch=self.watch,
            tokens=self.token_refresher,
            usage=self.graph_usage,
            owner=self.owner,
            review=self.review_server(),
            comments=self.first_comments,
        )

    def review_server(self) -> ReviewProcess | None:
        """The review page (``review/``) on its own listener when POSTPILOT_WEB_LISTEN is set, in a process of
        its own (``review/process.py`` says why); Flask is loaded there only."""
        where = self.settings.web_host_port
        if where is None:
            return None
        from postpilot.review.process import ReviewProcess

        return ReviewProcess(self.settings, host=where[0], port=where[1], behind_proxy=self.settings.web_secure_cookies)

    # ------------------------------------------------------------------ operations
    def check_start(self) -> None:
        """Refuses settings that would start a daemon (or a pass) whose posts then wait forever
        (``start_checks.py``)."""
        problems = start_problems(self.settings, self.repo.list_accounts(), force_dry_run=self.force_dry_run)
        if problems:
            raise ConfigError("; ".join(problems))

    def preview(self, post_id: int) -> PostPreview:
        """What the post will publish (``pipeline/preview.py``), recorded against the account's dry-run
        client: the same host and API version as publishing, nothing sent, nothing changed."""
        post = self.repo.require_post(post_id)
        account = self.repo.account(post.account_id)
        recorder = (
            self.graphs.dry_run_graph_for(account)
            if account
            else RecordingGraphClient(base_url=self.settings.graph_url, version=self.settings.graph_version)
        )
        return preview_post(self.repo, post_id, recorder=recorder, prepare_ahead_s=self.settings.prepare_ahead_s)

    def status(self) -> dict[str, Any]:
        """What ``/status`` shows, without a running daemon (no last poll)."""
        from postpilot.status import status_summary

        return status_summary(self.repo, watch=self.watch, usage=self.graph_usage)

    def _count_image(self, model: str, usd: float) -> None:
        self.metrics.add_image_spend(usd, self.media.image_provider)

    def close(self) -> None:
        media = self.__dict__.get("media")
        if media is not None:
            media.close()
        for name in ("http", "fetch_http"):
            client = self.__dict__.get(name)
            if client is not None:
                client.close()
        engine = self.__dict__.get("engine")
        if engine is not None:
            engine.dispose()


def build_app(
    settings: Settings,
    *,
    force_dry_run: bool = False,
    owner: str | None = None,
    generator: ImageGenerator | None = None,
    store: MediaStore | None = None,
    graph_factory: GraphFactory | None = None,
) -> App:
    """The composition root. The pipeline and what it stands on are built here, at once (no connection is
    opened); the SDK-backed adapters wait for their first use unless a replacement is given."""
    app = App(
        settings=settings,
        force_dry_run=force_dry_run,
        generator_override=generator,
        store_override=store,
        graph_factory=graph_factory,
    )
    if owner:
        app.owner = owner
    app.pipeline  # noqa: B018 - built now: a wiring mistake shows at start, not at the first due post
    return app
