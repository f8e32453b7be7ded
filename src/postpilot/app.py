"""The composition root: builds the real adapters from Settings, once, at the entry point.

SDKs are imported only when their provider is chosen and first used (``openai`` and ``cloudinary`` cost tens
of MB each), so a daemon on the embedded defaults stays small.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Engine

from postpilot.config import Settings
from postpilot.crypto import TokenCipher
from postpilot.db.engine import build_engine
from postpilot.db.repository import Repository
from postpilot.domain.errors import ConfigError
from postpilot.domain.model import Account, LoginKind
from postpilot.domain.retry import RetryPolicy
from postpilot.instagram.client import GraphClient
from postpilot.instagram.quota import PublishingQuota
from postpilot.instagram.recording import RecordingGraphClient
from postpilot.instagram.usage import GraphUsage
from postpilot.liveness import Heartbeat
from postpilot.logging import register_secret
from postpilot.media.ports import ImageGenerator, MediaStore
from postpilot.metrics import Metrics
from postpilot.pipeline.first_comment import FirstCommentFlow
from postpilot.pipeline.outcome import StepResult
from postpilot.pipeline.ports import GraphFactory, GraphSession
from postpilot.pipeline.prepare import Preparer
from postpilot.pipeline.preview import PostPreview, preview_post
from postpilot.pipeline.publish import PublishFlow
from postpilot.pipeline.runner import Runner
from postpilot.pipeline.stage import StagingFlow, StagingPolicy
from postpilot.pipeline.steps import Pipeline
from postpilot.tokens import TokenRefresher
from postpilot.watch import DependencyWatch

if TYPE_CHECKING:
    from postpilot.daemon import Daemon
    from postpilot.media.openai_generator import OpenAIImageGenerator
    from postpilot.notify.sender import NoticeSender
    from postpilot.review.process import ReviewProcess


def default_owner() -> str:
    """Who holds a lease: host, pid and a random suffix, so a restarted process never inherits old leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class App:
    """Every adapter and service, built from Settings (``build_app``). Replacements (``generator``,
    ``store``, ``graph_factory``) stand in for the real adapters, e.g. in tests and benchmarks. The SDK-backed
    adapters (OpenAI, Cloudinary) are built on first use: importing an SDK costs tens of MB, which a daemon
    on the embedded defaults never pays."""

    settings: Settings
    owner: str = field(default_factory=default_owner)
    force_dry_run: bool = False
    generator_override: ImageGenerator | None = None
    store_override: MediaStore | None = None
    graph_factory: GraphFactory | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._generator: ImageGenerator | None = self.generator_override
        self._openai: OpenAIImageGenerator | None = None
        self._store: MediaStore | None = self.store_override
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
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def cipher(self) -> TokenCipher:
        key = self.settings.secret_key
        return TokenCipher(key.get_secret_value() if key else None)

    # ------------------------------------------------------------------ providers
    @property
    def image_provider(self) -> str:
        choice = self.settings.image_provider
        if choice == "auto":
            return "openai" if self.settings.openai_api_key else "card"
        return choice

    @property
    def media_store_kind(self) -> str:
        choice = self.settings.media_store
        if choice == "auto":
            return "cloudinary" if self.settings.cloudinary_url else "local"
        return choice

    def generator(self) -> ImageGenerator:
        with self._lock:
            if self._generator is None:
                self._generator = self._build_generator()
            return self._generator

    def _build_generator(self) -> ImageGenerator:
        if self.image_provider == "openai":
            if not self.settings.openai_api_key:
                raise ConfigError("POSTPILOT_IMAGE_PROVIDER=openai needs OPENAI_API_KEY")
            from postpilot.media.openai_generator import OpenAIImageGenerator

            self._openai = OpenAIImageGenerator(
                api_key=self.settings.openai_api_key.get_secret_value(),
                base_url=self.settings.openai_base_url,
                model=self.settings.openai_model,
                quality=self.settings.openai_quality,
                output_format=self.settings.openai_output_format,
                timeout_s=self.settings.openai_timeout_s,
                max_retries=self.settings.openai_max_retries,
            )
            return self._openai
        from postpilot.media.card import CardRenderer

        return CardRenderer()

    def start_problems(self) -> list[str]:
        """Settings that would start a healthy-looking daemon whose posts then wait forever: checked before the
        daemon or a pass starts (exit code 2, one line each), never first at a post's minute."""
        s = self.settings
        found: list[str] = []
        if s.image_provider == "openai" and not s.openai_api_key:
            found.append("POSTPILOT_IMAGE_PROVIDER=openai needs OPENAI_API_KEY (or set POSTPILOT_IMAGE_PROVIDER=card)")
        if s.media_store == "cloudinary" and not s.cloudinary_url:
            found.append("POSTPILOT_MEDIA_STORE=cloudinary needs CLOUDINARY_URL (or set POSTPILOT_MEDIA_STORE=local)")
        live = [a for a in self.repo.list_accounts() if a.is_active and not a.dry_run and not self.force_dry_run]
        if live and s.secret_key is None and any(a.has_token for a in live):
            names = ", ".join(a.name for a in live if a.has_token)
            found.append(
                f"POSTPILOT_SECRET_KEY is not set, but the live account(s) {names} have tokens encrypted with it: set "
                "the key they were saved with"
            )
        return found

    def check_start(self) -> None:
        problems = self.start_problems()
        if problems:
            raise ConfigError("; ".join(problems))

    def read_openai_model(self) -> tuple[str, bool, date | None]:
        """The configured OpenAI model as OpenAI's models endpoint describes it (for ``DependencyWatch``)."""
        self.generator()
        assert self._openai is not None, "only called when the image provider is openai"
        found = self._openai.model_lifecycle()
        return found.model, found.available, found.shutdown_date

    @cached_property
    def watch(self) -> DependencyWatch:
        return DependencyWatch(
            graph_version=self.settings.graph_version,
            read_model=self.read_openai_model if self.image_provider == "openai" else None,
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

    def store(self) -> MediaStore:
        with self._lock:
            if self._store is None:
                self._store = self._build_store()
            return self._store

    def _build_store(self) -> MediaStore:
        if self.media_store_kind == "cloudinary":
            if not self.settings.cloudinary_url:
                raise ConfigError("POSTPILOT_MEDIA_STORE=cloudinary needs CLOUDINARY_URL")
            from postpilot.media.cloudinary_store import CloudinaryMediaStore

            return CloudinaryMediaStore(
                cloudinary_url=self.settings.cloudinary_url.get_secret_value(),
                timeout_s=self.settings.cloudinary_timeout_s,
                folder=self.settings.cloudinary_folder,
                connections=self.settings.generation_workers,
            )
        from postpilot.media.local_store import LocalMediaStore

        return LocalMediaStore(
            root=self.settings.resolved_media_dir,
            public_base_url=self.settings.public_media_url,
            http=self.fetch_http,
            max_fetch_bytes=self.settings.fetch_max_bytes,
            fetch_deadline_s=self.settings.fetch_deadline_s,
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

    def graph_for(self, account: Account, *, urgent: bool = False) -> GraphClient:
        """The real Graph API client for a live account (its token decrypted from the database)."""
        ciphertext = self.repo.account_token_encrypted(account.id)
        if not ciphertext:
            raise ConfigError(
                f"the account {account.name!r} has no access token: run postpilot account connect {account.name}"
            )
        token = self.cipher.decrypt(ciphertext)
        register_secret(token)
        return GraphClient(
            http=self.http,
            base_url=self._graph_base(account),
            version=self.settings.graph_version,
            token=token,
            timeout_s=self.settings.graph_timeout_s,
            publish_timeout_s=self.settings.publish_timeout_s,
            account=account.name,
            usage=self.graph_usage,
            on_hold=self.metrics.count_graph_held,
            urgent=urgent,
        )

    def dry_run_graph_for(self, account: Account) -> RecordingGraphClient:
        """Records the requests a real run would send: same host (per login kind) and API version."""
        return RecordingGraphClient(
            base_url=self._graph_base(account), version=self.settings.graph_version, account=account.name
        )

    def preview(self, post_id: int) -> PostPreview:
        """What the post will publish (``pipeline/preview.py``), recorded against the account's dry-run
        client: the same host and API version as publishing, nothing sent, nothing changed."""
        post = self.repo.require_post(post_id)
        account = self.repo.account(post.account_id)
        recorder = (
            self.dry_run_graph_for(account)
            if account
            else RecordingGraphClient(base_url=self.settings.graph_url, version=self.settings.graph_version)
        )
        return preview_post(self.repo, post_id, recorder=recorder, prepare_ahead_s=self.settings.prepare_ahead_s)

    def graph_session(self, account: Account, *, urgent: bool = False) -> GraphSession:
        """The ``GraphFactory`` the pipeline uses: the recording client for dry-run accounts (and for
        ``run-once --dry-run``), the real one otherwise; or the replacement given to ``build_app``."""
        if self.graph_factory is not None:
            return self.graph_factory(account, urgent=urgent)
        if account.dry_run or self.force_dry_run:
            recorder = self.dry_run_graph_for(account)
            return GraphSession(recorder, dry_run=True, recorded=lambda: [r.as_dict() for r in recorder.drain()])
        return GraphSession(self.graph_for(account, urgent=urgent))

    def _graph_base(self, account: Account) -> str:
        s = self.settings
        return s.instagram_graph_url if account.login_kind is LoginKind.INSTAGRAM else s.graph_url

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
            repo=self.repo, graphs=self.graph_session, owner=self.owner, lease_s=self.settings.lease_s
        )

    @cached_property
    def pipeline(self) -> Pipeline:
        quota = PublishingQuota(store=self.repo)
        staging = StagingFlow(repo=self.repo, policy=self.staging_policy, quota=quota)
        preparer = Preparer(
            repo=self.repo,
            generator_factory=self.generator,
            store_factory=self.store,
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
            graphs=self.graph_session,
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

    def status(self) -> dict[str, Any]:
        """What ``/status`` shows, without a running daemon (no last poll)."""
        from postpilot.status import status_summary

        return status_summary(self.repo, watch=self.watch, usage=self.graph_usage)

    def _count_image(self, model: str, usd: float) -> None:
        self.metrics.add_image_spend(usd, self.image_provider)

    def close(self) -> None:
        closer = getattr(self._generator, "close", None)
        if callable(closer):
            closer()
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
