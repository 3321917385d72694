"""Metrics are prefixed, per-registry, and served over HTTP."""

from prometheus_client import generate_latest

from leaderboard.core.metrics import Metrics


def exported_names(metrics: Metrics) -> set[str]:
    return {metric.name for metric in metrics.registry.collect()}


def test_project_metrics_are_prefixed() -> None:
    names = exported_names(Metrics("ranker"))
    ours = names - {name for name in names if name.startswith(("process_", "python_"))}
    assert ours
    assert all(name.startswith("leaderboard_") for name in ours), ours


def test_build_info_names_the_service_and_version() -> None:
    text = generate_latest(Metrics("archiver").registry).decode()
    assert "leaderboard_build_info{" in text
    assert 'service="archiver"' in text


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics("a"), Metrics("b")
    first.consumed_batches.inc()
    assert first.registry.get_sample_value("leaderboard_consumer_batches_total") == 1
    assert second.registry.get_sample_value("leaderboard_consumer_batches_total") == 0
