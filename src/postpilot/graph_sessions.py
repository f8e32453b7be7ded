"""Which Graph API client an account's work gets, for the composition root (``app.py``): the real client with
the account's token decrypted from the database, the recording client for dry-run accounts (and for
``run-once --dry-run``), or the replacement given to ``build_app``."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from postpilot.config import Settings
from postpilot.crypto import TokenCipher
from postpilot.db.repository import Repository
from postpilot.domain.errors import ConfigError
from postpilot.domain.model import Account, LoginKind
from postpilot.instagram.client import GraphClient
from postpilot.instagram.recording import RecordingGraphClient
from postpilot.instagram.usage import GraphUsage
from postpilot.logging import register_secret
from postpilot.metrics import Metrics
from postpilot.pipeline.ports import GraphFactory, GraphSession


class GraphSessions:
    """``session`` is the ``GraphFactory`` the pipeline and the first comments use."""

    def __init__(
        self,
        *,
        settings: Settings,
        repo: Repository,
        # Both asked for only when a live account's client is made: dry-run accounts need no secret key, and a
        # command that never calls the Graph API never builds the pooled HTTP client.
        cipher: Callable[[], TokenCipher],
        http: Callable[[], httpx.Client],
        usage: GraphUsage,
        metrics: Metrics,
        force_dry_run: bool = False,
        replacement: GraphFactory | None = None,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.cipher = cipher
        self.http = http
        self.usage = usage
        self.metrics = metrics
        self.force_dry_run = force_dry_run
        self.replacement = replacement

    def graph_for(self, account: Account, *, urgent: bool = False) -> GraphClient:
        """The real Graph API client for a live account (its token decrypted from the database)."""
        ciphertext = self.repo.account_token_encrypted(account.id)
        if not ciphertext:
            raise ConfigError(
                f"the account {account.name!r} has no access token: run postpilot account connect {account.name}"
            )
        token = self.cipher().decrypt(ciphertext)
        register_secret(token)
        return GraphClient(
            http=self.http(),
            base_url=self._base(account),
            version=self.settings.graph_version,
            token=token,
            timeout_s=self.settings.graph_timeout_s,
            publish_timeout_s=self.settings.publish_timeout_s,
            account=account.name,
            usage=self.usage,
            on_hold=self.metrics.count_graph_held,
            urgent=urgent,
        )

    def dry_run_graph_for(self, account: Account) -> RecordingGraphClient:
        """Records the requests a real run would send: same host (per login kind) and API version."""
        return RecordingGraphClient(
            base_url=self._base(account), version=self.settings.graph_version, account=account.name
        )

    def session(self, account: Account, *, urgent: bool = False) -> GraphSession:
        """The recording client for dry-run accounts (and for ``run-once --dry-run``), the real one otherwise;
        or the replacement given to ``build_app``."""
        if self.replacement is not None:
            return self.replacement(account, urgent=urgent)
        if account.dry_run or self.force_dry_run:
            recorder = self.dry_run_graph_for(account)
            return GraphSession(recorder, dry_run=True, recorded=lambda: [r.as_dict() for r in recorder.drain()])
        return GraphSession(self.graph_for(account, urgent=urgent))

    def _base(self, account: Account) -> str:
        s = self.settings
        return s.instagram_graph_url if account.login_kind is LoginKind.INSTAGRAM else s.graph_url
