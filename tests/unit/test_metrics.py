"""Metric names, labels, buckets and exposition."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from postpilot.metrics import Metrics

EXPECTED_FAMILIES = {
    # family name as the parser reports it (counters lose "_total") -> type
    "postpilot_posts": "counter",
    "postpilot_notifications": "counter",
    "postpilot_stage_duration_seconds": "histogram",
    "postpilot_publish_lateness_seconds": "histogram",
    "postpilot_due_unpublished": "gauge",
    "postpilot_oldest_overdue_seconds": "gauge",
    "postpilot_image_spend_usd": "counter",
    "postpilot_images_generated": "counter",
    "postpilot_claims": "counter",
    "postpilot_errors": "counter",
    "postpilot_last_poll_timestamp_seconds": "gauge",
    "postpilot_poll_duration_seconds": "histogram",
    "postpilot_info": "gauge",
    "postpilot_pool_posts": "gauge",
    "postpilot_pool_threads": "gauge",
    "postpilot_dependency_days_left": "gauge",
    "postpilot_graph_usage_percent": "gauge",
    "postpilot_graph_calls_held": "counter",
}
# "component" and "scope" take two fixed values each (the things with an end; Meta's two usage budgets).
ALLOWED_LABELS = {
    "outcome", "post_type", "stage", "provider", "error_class", "version", "le", "pool", "component", "scope",
    "result", "channel",  # a channel is shown by scheme and host: as many values as configured channels
}  # fmt: skip


def test_every_family_is_present_with_prefix_and_type() -> None:
    body, _ = Metrics().render()
    families = {f.name: f.type for f in text_string_to_metric_families(body.decode())}

    assert families == EXPECTED_FAMILIES


def test_labels_are_bounded_and_never_per_post() -> None:
    metrics = Metrics()
    metrics.observe_outcome("published", "photo")
    metrics.add_image_spend(0.04, "openai")
    body, _ = metrics.render()

    labels = {
        name
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        for name in s.labels
    }
    assert labels <= ALLOWED_LABELS


def test_no_created_series_in_either_format() -> None:
    metrics = Metrics()
    metrics.observe_outcome("failed", "reel")
    metrics.observe_lateness(1.5)

    text, _ = metrics.render()
    openmetrics, content_type = metrics.render("application/openmetrics-text; version=1.0.0")

    assert content_type.startswith("application/openmetrics-text")
    assert b"_created" not in text
    assert b"_created" not in openmetrics


def test_default_content_type_is_prometheus_text() -> None:
    _, content_type = Metrics().render()

    assert content_type.startswith("text/plain")
    assert "version=0.0.4" in content_type


def test_lateness_buckets_span_sub_second_to_hours() -> None:
    metrics = Metrics()
    for seconds in (0.05, 0.3, 45.0, 5000.0, 90000.0, -2.0):
        metrics.observe_lateness(seconds)

    def bucket(le: str) -> float | None:
        return metrics.registry.get_sample_value("postpilot_publish_lateness_seconds_bucket", {"le": le})

    assert bucket("0.1") == 2  # 0.05 and the early (clamped to 0) publish
    assert bucket("0.25") == 2
    assert bucket("0.5") == 3
    assert bucket("60.0") == 4
    assert bucket("3600.0") == 4
    assert bucket("7200.0") == 5
    assert bucket("86400.0") == 5
    assert bucket("+Inf") == 6


def test_outcomes_are_counted_and_preinitialised() -> None:
    metrics = Metrics()
    metrics.observe_outcome("published", "carousel")
    metrics.observe_outcome("published", "carousel")

    get = metrics.registry.get_sample_value
    assert get("postpilot_posts_total", {"outcome": "published", "post_type": "carousel"}) == 2
    assert get("postpilot_posts_total", {"outcome": "missed", "post_type": "reel"}) == 0


@pytest.mark.parametrize(("outcome", "post_type"), [("exploded", "photo"), ("published", "tiktok")])
def test_unknown_outcome_or_post_type_is_a_programming_error(outcome: str, post_type: str) -> None:
    with pytest.raises(ValueError):
        Metrics().observe_outcome(outcome, post_type)


def test_stage_durations_and_claims() -> None:
    metrics = Metrics()
    metrics.observe_stage("publish", 0.4)
    metrics.count_claims("prepare", 3)
    metrics.count_claims("prepare", 0)

    get = metrics.registry.get_sample_value
    assert get("postpilot_stage_duration_seconds_count", {"stage": "publish"}) == 1
    assert get("postpilot_stage_duration_seconds_bucket", {"stage": "publish", "le": "0.5"}) == 1
    assert get("postpilot_stage_duration_seconds_bucket", {"stage": "publish", "le": "0.25"}) == 0
    assert get("postpilot_stage_duration_seconds_bucket", {"stage": "stage", "le": "600.0"}) == 0
    assert get("postpilot_claims_total", {"stage": "prepare"}) == 3
    with pytest.raises(ValueError):
        metrics.observe_stage("upload", 1.0)


def test_errors_are_counted_by_our_class_names_only() -> None:
    metrics = Metrics()
    metrics.count_error("Throttled")
    metrics.count_error("OutcomeUnknown")
    metrics.count_error("KeyError")
    metrics.count_error("post 123 failed")

    get = metrics.registry.get_sample_value
    assert get("postpilot_errors_total", {"error_class": "Throttled"}) == 1
    assert get("postpilot_errors_total", {"error_class": "OutcomeUnknown"}) == 1
    assert get("postpilot_errors_total", {"error_class": "Unexpected"}) == 2
    assert get("postpilot_errors_total", {"error_class": "KeyError"}) is None


def test_image_spend_backlog_and_poll() -> None:
    metrics = Metrics(version="9.9.9")
    metrics.add_image_spend(0.04, "openai")
    metrics.add_image_spend(0.08, "openai", images=2)
    metrics.add_image_spend(0.0, "offline")
    metrics.set_backlog(4, 125.5)
    metrics.poll_succeeded(datetime(2030, 1, 1, tzinfo=UTC), 0.02)

    get = metrics.registry.get_sample_value
    assert get("postpilot_image_spend_usd_total") == pytest.approx(0.12)
    assert get("postpilot_images_generated_total", {"provider": "openai"}) == 3
    assert get("postpilot_images_generated_total", {"provider": "offline"}) == 1
    assert get("postpilot_due_unpublished") == 4
    assert get("postpilot_oldest_overdue_seconds") == 125.5
    assert get("postpilot_last_poll_timestamp_seconds") == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert get("postpilot_poll_duration_seconds_count") == 1
    assert get("postpilot_info", {"version": "9.9.9"}) == 1

    metrics.set_backlog(0, None)
    metrics.poll_succeeded(1_900_000_000.0, 0.01)
    assert get("postpilot_oldest_overdue_seconds") == 0
    assert get("postpilot_last_poll_timestamp_seconds") == 1_900_000_000.0
    with pytest.raises(ValueError):
        metrics.add_image_spend(-1.0, "openai")


def test_instances_do_not_share_a_registry() -> None:
    first, second = Metrics(), Metrics()
    first.count_claims("publish", 1)

    assert second.registry.get_sample_value("postpilot_claims_total", {"stage": "publish"}) == 0


def test_account_usage_is_folded_into_one_series() -> None:
    metrics = Metrics()
    metrics.set_graph_usage("business_use_case", "shop", "call_count", 40.0)
    metrics.set_graph_usage("business_use_case", "cafe", "call_count", 85.0)
    metrics.set_graph_usage("business_use_case", "cafe", "total_time", 12.0)
    metrics.set_graph_usage("app", "", "call_count", 7.0)
    body = metrics.render()[0].decode()
    assert 'postpilot_graph_usage_percent{scope="business_use_case"} 85.0' in body
    assert 'postpilot_graph_usage_percent{scope="app"} 7.0' in body
    assert "shop" not in body and "cafe" not in body
    with pytest.raises(ValueError):
        metrics.set_graph_usage("page", "", "call_count", 1.0)


def test_the_apps_usage_is_its_highest_figure_not_the_last_one_read() -> None:
    """X-App-Usage carries three figures; the gauge must show the highest, whichever is reported last."""
    metrics = Metrics()
    for metric, percent in (("call_count", 92.0), ("total_cputime", 46.0), ("total_time", 46.0)):
        metrics.set_graph_usage("app", "", metric, percent)
    assert 'postpilot_graph_usage_percent{scope="app"} 92.0' in metrics.render()[0].decode()
    for metric, percent in (("call_count", 30.0), ("total_cputime", 15.0), ("total_time", 15.0)):
        metrics.set_graph_usage("app", "", metric, percent)  # the next answer: the hour drained
    assert 'postpilot_graph_usage_percent{scope="app"} 30.0' in metrics.render()[0].decode()
