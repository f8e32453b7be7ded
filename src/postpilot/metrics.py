"""Prometheus metrics for the daemon, on a private registry.

Every series is named ``postpilot_…`` in base units (seconds, US dollars) and labelled only with small,
fixed sets of values: never a post id or an account name, so the number of series stays bounded however
many posts go through. Label values outside those sets are programming errors and raise ``ValueError``
(error classes are the exception: anything that is not one of ours is counted as ``Unexpected``).

A private ``CollectorRegistry`` per ``Metrics`` object keeps tests independent, and the ``_created``
series are dropped at render time: ``prometheus_client.disable_created_metrics()`` would flip a
process-wide switch that other registries (and other tests) did not ask for.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from postpilot import __version__
from postpilot.domain.errors import PostpilotError
from postpilot.domain.model import PostType

PREFIX = "postpilot"

OUTCOMES = ("published", "failed", "unconfirmed", "simulated", "cancelled", "missed")
STAGES = ("prepare", "stage", "publish")
# Expired leases are reclaimed for reconciliation, which is worth counting apart from the three stages.
CLAIM_STAGES = (*STAGES, "reconcile")
POOLS = ("publish", "stage", "prepare")  # the runner's thread pools
DEPENDENCIES = ("openai_model", "graph_api_version")  # things with an announced end (domain.sunset)
USAGE_SCOPES = ("app", "business_use_case")  # Meta's rate-limit budgets (instagram.usage)
UNEXPECTED_ERROR = "Unexpected"

# A stage ranges from a cached no-op (tens of ms) to a slow image generation plus a video container
# that takes minutes to reach FINISHED.
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Lateness must resolve both "a few hundred ms after the minute" (the goal) and "hours late" (an outage,
# a reconnect, a full quota), so the buckets span sub-second to a day.
LATENESS_BUCKETS = (
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
    21600.0, 86400.0,
)  # fmt: skip
# A poll is a handful of indexed queries; anything past a few seconds means a struggling database.
POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _error_class_names() -> frozenset[str]:
    names: set[str] = set()
    pending: list[type[PostpilotError]] = [PostpilotError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return frozenset(names)


def _check(value: str, allowed: Iterable[str], label: str) -> str:
    value = str(value)
    if value not in allowed:
        raise ValueError(f"unknown {label} {value!r}; expected one of {sorted(allowed)}")
    return value


class _WithoutCreated:
    """A collector view of a registry that leaves out the ``_created`` samples."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            trimmed = copy.copy(metric)
            trimmed.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield trimmed


class Metrics:
    """The daemon's counters, gauges and histograms, and their exposition."""

    def __init__(self, *, version: str = __version__) -> None:
        self._registry = CollectorRegistry()
        self._error_classes = _error_class_names() | {UNEXPECTED_ERROR}
        reg = self._registry

        self._posts = Counter(
            "posts",
            "Posts that reached a final outcome.",
            ["outcome", "post_type"],
            namespace=PREFIX,
            registry=reg,
        )
        self._stage_duration = Histogram(
            "stage_duration_seconds",
            "Time spent in one pipeline stage for one post.",
            ["stage"],
            namespace=PREFIX,
            buckets=STAGE_BUCKETS,
            registry=reg,
        )
        self._lateness = Histogram(
            "publish_lateness_seconds",
            "How long after its scheduled instant a post went live.",
            namespace=PREFIX,
            buckets=LATENESS_BUCKETS,
            registry=reg,
        )
        self._due = Gauge(
            "due_unpublished",
            "Posts whose scheduled instant has passed and that are not published yet.",
            namespace=PREFIX,
            registry=reg,
        )
        self._oldest_overdue = Gauge(
            "oldest_overdue_seconds",
            "How far past its scheduled instant the oldest unpublished post is (0 if none).",
            namespace=PREFIX,
            registry=reg,
        )
        self._notifications = Counter(
            "notifications",
            "Notification deliveries by result (sent or failed), per channel shown by scheme and host only.",
            ["result", "channel"],
            namespace=PREFIX,
            registry=reg,
        )
        self._spend = Counter(
            "image_spend_usd",
            "Money spent on image generation, in US dollars.",
            namespace=PREFIX,
            registry=reg,
        )
        self._images = Counter(
            "images_generated",
            "Images generated, by provider.",
            ["provider"],
            namespace=PREFIX,
            registry=reg,
        )
        self._claims = Counter(
            "claims",
            "Posts claimed for work, by stage.",
            ["stage"],
            namespace=PREFIX,
            registry=reg,
        )
        self._errors = Counter(
            "errors",
            "Errors met while working on posts, by postpilot error class.",
            ["error_class"],
            namespace=PREFIX,
            registry=reg,
        )
        self._last_poll = Gauge(
            "last_poll_timestamp_seconds",
            "Unix time of the last successful poll.",
            namespace=PREFIX,
            registry=reg,
        )
        self._poll_duration = Histogram(
            "poll_duration_seconds",
            "Time taken by one successful poll.",
            namespace=PREFIX,
            buckets=POLL_BUCKETS,
            registry=reg,
        )
        self._pool_posts = Gauge(
            "pool_posts",
            "Posts this process has claimed and not finished, per pool (running or queued behind the threads).",
            ["pool"],
            namespace=PREFIX,
            registry=reg,
        )
        self._pool_threads = Gauge(
            "pool_threads",
            "Threads per pool (POSTPILOT_WORKERS, POSTPILOT_STAGE_WORKERS, POSTPILOT_GENERATION_WORKERS).",
            ["pool"],
            namespace=PREFIX,
            registry=reg,
        )
        self._dependency_days = Gauge(
            "dependency_days_left",
            "Days until the configured OpenAI model or Graph API version reaches its announced end "
            "(+Inf: none announced; 0 or less: gone).",
            ["component"],
            namespace=PREFIX,
            registry=reg,
        )
        self._graph_usage = Gauge(
            "graph_usage_percent",
            "Highest share of a Meta rate-limit budget used, from the usage headers of the latest answers "
            "(app: X-App-Usage; business_use_case: X-Business-Use-Case-Usage, the busiest account).",
            ["scope"],
            namespace=PREFIX,
            registry=reg,
        )
        self._graph_held = Counter(
            "graph_calls_held",
            "Graph API calls postpilot held back because a usage budget was near its limit.",
            namespace=PREFIX,
            registry=reg,
        )
        # Named without the namespace so that the series is ``postpilot_info{version=…} 1``.
        self._info = Info(PREFIX, "postpilot build information.", registry=reg)
        self._info.info({"version": version})

        # Series that exist from the start read as 0 instead of "no data", so rate() and alerts work
        # before the first event of each kind.
        for outcome in OUTCOMES:
            for post_type in PostType:
                self._posts.labels(outcome=outcome, post_type=post_type.value)
        for stage in STAGES:
            self._stage_duration.labels(stage=stage)
        for stage in CLAIM_STAGES:
            self._claims.labels(stage=stage)
        for name in self._error_classes:
            self._errors.labels(error_class=name)
        for pool in POOLS:
            self._pool_posts.labels(pool=pool)
            self._pool_threads.labels(pool=pool)
        for scope in USAGE_SCOPES:
            self._graph_usage.labels(scope=scope)
        self._usage_by_account: dict[str, float] = {}
        self._usage_of_app: dict[str, float] = {}
        self._usage_lock = threading.Lock()

    @property
    def registry(self) -> CollectorRegistry:
        """The private registry, for tests and for adding collectors."""
        return self._registry

    def observe_outcome(self, outcome: str, post_type: str) -> None:
        """Count one post reaching a final outcome (``published``, ``failed``, …)."""
        self._posts.labels(
            outcome=_check(outcome, OUTCOMES, "outcome"),
            post_type=_check(post_type, [t.value for t in PostType], "post type"),
        ).inc()

    def observe_lateness(self, seconds: float) -> None:
        """Record how late a post went live; an early publish (clock skew) counts as 0."""
        self._lateness.observe(max(0.0, seconds))

    def observe_stage(self, stage: str, seconds: float) -> None:
        self._stage_duration.labels(stage=_check(stage, STAGES, "stage")).observe(max(0.0, seconds))

    def count_claims(self, stage: str, n: int) -> None:
        if n > 0:
            self._claims.labels(stage=_check(stage, CLAIM_STAGES, "claim stage")).inc(n)

    def count_error(self, cls_name: str) -> None:
        """Count an error by its postpilot class name; anything else is counted as ``Unexpected``."""
        name = cls_name if cls_name in self._error_classes else UNEXPECTED_ERROR
        self._errors.labels(error_class=name).inc()

    def notification_result(self, channel: str, sent: bool) -> None:
        self._notifications.labels(result="sent" if sent else "failed", channel=channel).inc()

    def add_image_spend(self, usd: float, provider: str, images: int = 1) -> None:
        """Count generated images and what they cost (the offline renderer costs 0)."""
        if usd < 0 or images < 0:
            raise ValueError("image spend and image count cannot be negative")
        self._spend.inc(usd)
        self._images.labels(provider=provider).inc(images)

    def set_backlog(self, due: int, oldest_s: float | None) -> None:
        """Set the overdue backlog: how many posts are due and unpublished, and the oldest one's age."""
        self._due.set(due)
        self._oldest_overdue.set(max(0.0, oldest_s or 0.0))

    def set_pool_load(self, pool: str, *, posts: int, threads: int) -> None:
        """How busy a pool is: claimed posts against threads. Posts steadily above threads in ``publish``
        means due posts wait for a thread (raise POSTPILOT_WORKERS)."""
        name = _check(pool, POOLS, "pool")
        self._pool_posts.labels(pool=name).set(posts)
        self._pool_threads.labels(pool=name).set(threads)

    def set_dependency_days(self, component: str, days: float) -> None:
        """Days left before ``component`` (``openai_model``, ``graph_api_version``) ends; ``inf`` for none."""
        self._dependency_days.labels(component=_check(component, DEPENDENCIES, "component")).set(days)

    def set_graph_usage(self, scope: str, account: str, metric: str, percent: float) -> None:
        """One usage figure read from Meta's headers. The gauge shows the highest figure of each scope (each
        answer carries call_count, total_cputime and total_time, reported here one by one); accounts are folded into the
        busiest one's figure so no account name becomes a label."""
        name = _check(scope, USAGE_SCOPES, "scope")
        with self._usage_lock:  # answers arrive on many threads
            figures = self._usage_of_app if name == "app" else self._usage_by_account
            figures[metric if name == "app" else f"{account}\0{metric}"] = percent
            highest = max(figures.values())
        self._graph_usage.labels(scope=name).set(highest)

    def count_graph_held(self) -> None:
        self._graph_held.inc()

    def poll_succeeded(self, ts: float | datetime, duration: float) -> None:
        """Record a successful poll finishing at ``ts`` (Unix seconds or an aware datetime)."""
        self._last_poll.set(ts.timestamp() if isinstance(ts, datetime) else ts)
        self._poll_duration.observe(max(0.0, duration))

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type, negotiated from an ``Accept`` header if given."""
        encoder, content_type = choose_encoder(accept)
        return encoder(_WithoutCreated(self._registry)), content_type
