"""Dashboards and alerts query only metrics the services export, and the monitoring stack
in k8s/ picks up what the chart labels."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from leaderboard.archiver import metrics as archiver_metrics
from leaderboard.closer import metrics as closer_metrics
from leaderboard.core import metrics as metrics_module
from leaderboard.gateway import metrics as gateway_metrics
from leaderboard.ingest import metrics as ingest_metrics
from leaderboard.publisher import metrics as publisher_metrics
from leaderboard.ranker import metrics as ranker_metrics
from leaderboard.simulator import metrics as simulator_metrics
from tests.k8s.harness import (
    CHART_DIR,
    K8S_DIR,
    NAMESPACE,
    RELEASE,
    ChartRenderer,
    Rendered,
    load_yaml,
)
from tests.support.prometheus import promtool

#: PromQL words that are not metric names.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    "le",
}
#: Series Prometheus itself records for every target, usable in alerts.
PROMETHEUS_SERIES = {"up"}
#: The plain Prometheus rules file the chart's PrometheusRule is made from.
RULES_FILE = CHART_DIR / "rules" / "alerts.yaml"
#: A line of that file whose number OLD the chart replaces by a value.
CHART_MARKER = re.compile(r"\s*# chart: (\S+) -> (\w+)$")


#: Each service declares its own metrics in its ``metrics`` module.
SERVICE_METRICS = (
    simulator_metrics,
    ingest_metrics,
    ranker_metrics,
    archiver_metrics,
    publisher_metrics,
    gateway_metrics,
    closer_metrics,
)


def declared_metric_names() -> set[str]:
    """Every series name the code's metrics classes export (counters as ``_total`` and
    ``_created``, histograms as ``_bucket``/``_sum``/``_count``, info as ``_info``),
    including the process and Python collectors every process registers."""
    registry = CollectorRegistry()
    metrics_module.Metrics("check", registry)
    for module in SERVICE_METRICS:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            parameters = list(inspect.signature(cls).parameters)
            if parameters == ["registry"]:
                cls(registry)
    names = set()
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
        "gauge": ("",),
    }
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b", " ", text)  # numbers, durations
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("("):
            continue  # a function or aggregation
        if word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, job) "
        '(rate(leaderboard_x_bucket{a="b", c=~"d|e"}[5m])))'
        ' / on(job) group_left(pod) leaderboard_y > bool 1 unless up{job="x"} offset 5m'
    )
    assert metric_names(expr) == {"leaderboard_x_bucket", "leaderboard_y", "up"}


def test_declared_names_include_every_kind_of_metric() -> None:
    names = declared_metric_names()
    assert "leaderboard_consumer_lag" in names
    assert "leaderboard_gateway_send_duration_seconds_bucket" in names
    assert "leaderboard_ranker_events_dead_lettered_total" in names
    assert "leaderboard_build_info" in names


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in (CHART_DIR / "dashboards").glob("*.json")}


def _panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


@pytest.mark.parametrize("name", sorted(_dashboards()))
def test_dashboard_queries_name_only_exported_metrics(name: str) -> None:
    declared = declared_metric_names()
    dashboard = _dashboards()[name]
    queries = _panel_queries(dashboard)
    assert queries
    for title, expr in queries:
        unknown = metric_names(expr) - declared
        assert not unknown, f"{name} / {title!r} queries {unknown}, which no service exports"
        assert "$namespace" in expr, f"{name} / {title!r} ignores the namespace variable"
    variables = dashboard["templating"]["list"]
    for variable in variables:
        query = variable.get("definition") or ""
        assert not (metric_names(query.replace("label_values", "")) - declared - {"namespace"})


def test_dashboards_cover_what_operators_need() -> None:
    titles = {panel["title"].lower() for d in _dashboards().values() for panel in d["panels"]}
    for wanted in (
        "throughput",
        "consumer lag",
        "dead-letter",
        "freshness",
        "gateway connections",
        "send latency",
    ):
        assert any(wanted in title for title in titles), f"no panel about {wanted}"
    uids = [d["uid"] for d in _dashboards().values()]
    assert len(uids) == len(set(uids))


def test_alert_rules_name_only_exported_metrics(profile: Rendered) -> None:
    declared = declared_metric_names() | PROMETHEUS_SERIES
    rules = profile.of_kind("PrometheusRule")
    assert len(rules) == 1
    alerts = {
        rule["alert"]: rule["expr"]
        for group in rules[0]["spec"]["groups"]
        for rule in group["rules"]
    }
    for wanted in (
        "LeaderboardConsumerLagGrowing",
        "LeaderboardSnapshotsStale",
        "LeaderboardDeadLetterRate",
        "LeaderboardGatewayApiErrors",
    ):
        assert wanted in alerts
    for alert, expr in alerts.items():
        unknown = metric_names(expr) - declared
        assert not unknown, f"{alert} queries {unknown}, which no service exports"
        assert 'namespace="leaderboard"' in expr, f"{alert} is not scoped to the release"


def test_dashboards_ship_as_configmaps_grafana_loads(profile: Rendered) -> None:
    stack = load_yaml(K8S_DIR / "kube-prometheus-stack-values.yaml")
    sidecar = stack["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True
    assert sidecar["searchNamespace"] == "ALL"
    boards = [c for c in profile.of_kind("ConfigMap") if "-dashboard-" in c["metadata"]["name"]]
    assert len(boards) == len(_dashboards())
    for board in boards:
        assert board["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
        assert sidecar["folderAnnotation"] in board["metadata"].get("annotations", {})
        for content in board["data"].values():
            json.loads(content)


def test_prometheus_selects_the_chart_monitors_by_its_release_label() -> None:
    stack = load_yaml(K8S_DIR / "kube-prometheus-stack-values.yaml")
    spec = stack["prometheus"]["prometheusSpec"]
    # With these true (the chart's default), Prometheus selects `release: <release name>`.
    for key in (
        "serviceMonitorSelectorNilUsesHelmValues",
        "podMonitorSelectorNilUsesHelmValues",
        "ruleSelectorNilUsesHelmValues",
    ):
        assert spec[key] is True
    release = next(
        r
        for r in load_yaml(K8S_DIR / "prerequisites.yaml")["releases"]
        if r["chart"].endswith("/kube-prometheus-stack")
    )
    chart_values = load_yaml(CHART_DIR / "values.yaml")
    assert chart_values["monitoring"]["labels"]["release"] == release["name"]
    assert (
        release["namespace"]
        == (
            chart_values["networkPolicy"]["monitoringNamespaceSelector"]["matchLabels"][
                "kubernetes.io/metadata.name"
            ]
        )
    )


def expected_rule_groups(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The groups of the rules file as the chart should render them with these
    monitoring.prometheusRule values (the file's header says how)."""
    lines = []
    for line in RULES_FILE.read_text().splitlines():
        marker = CHART_MARKER.search(line)
        if marker:
            old, name = marker.groups()
            number = rf"(^|[^0-9.]){re.escape(old)}([^0-9.]|$)"
            line = re.sub(number, rf"\g<1>{values[name]}\g<2>", line[: marker.start()])
        lines.append(line)
    groups: list[dict[str, Any]] = yaml.safe_load("\n".join(lines))["groups"]
    scope = f'namespace="{NAMESPACE}", job=~"{RELEASE}-.*"'
    for group in groups:
        for rule in group["rules"]:
            expr = re.sub(r"\{([^{}]+)\}", rf"{{{scope}, \1}}", rule["expr"])
            rule["expr"] = expr.replace("{}", f"{{{scope}}}")
    return groups


def test_every_chart_marker_names_a_value_whose_default_the_file_uses() -> None:
    defaults = load_yaml(CHART_DIR / "values.yaml")["monitoring"]["prometheusRule"]
    markers = [
        m.groups() for m in map(CHART_MARKER.search, RULES_FILE.read_text().splitlines()) if m
    ]
    assert {name for _, name in markers} == set(defaults) - {"enabled"}
    for old, name in markers:
        # The file as Prometheus loads it locally alerts at the chart's defaults.
        assert float(old) == float(defaults[name]), f"{name}: {old} is not its default"


def test_the_prometheus_rule_is_the_rules_file_scoped_to_the_release(profile: Rendered) -> None:
    (rule,) = profile.of_kind("PrometheusRule")
    defaults = load_yaml(CHART_DIR / "values.yaml")["monitoring"]["prometheusRule"]
    assert rule["spec"]["groups"] == expected_rule_groups(defaults)
    # Prometheus' own templates reach it as written, not evaluated by helm.
    annotations = [r["annotations"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any("{{ $labels.job }}" in a["summary"] for a in annotations)


def test_the_prometheus_rule_takes_its_thresholds_from_the_values(
    renderer: ChartRenderer,
) -> None:
    values = {
        "lagThreshold": 123,
        "snapshotStaleMinutes": 7,
        "dlqRatePerSecond": 2.5,
        "gatewayErrorRatio": 0.125,
    }
    result = renderer.template(
        (),
        (),
        "--set-json",
        f"monitoring.prometheusRule={json.dumps({'enabled': True, **values})}",
        "--show-only",
        "templates/monitoring/prometheusrule.yaml",
    )
    assert result.returncode == 0, result.stderr
    groups = yaml.safe_load(result.stdout)["spec"]["groups"]
    assert groups == expected_rule_groups(values)
    text = yaml.safe_dump(groups)
    for needle in ("> 123", "[7m]", "for 7 minutes", "> 2.5", "> 0.125"):
        assert needle in text
    assert "# chart:" not in text


def test_promtool_accepts_the_rendered_rules(profile: Rendered, tmp_path: Path) -> None:
    """The release's selectors and the values' thresholds, put in by the template, still
    make valid PromQL."""
    (rule,) = profile.of_kind("PrometheusRule")
    rules_file = tmp_path / "rendered.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    assert "SUCCESS" in promtool("check", "rules", rules_file)
