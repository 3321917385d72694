"""The chart itself: helm lint --strict and helm template on every value profile, the
values schema, Chart.lock, the documentation of every value, NOTES.txt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.k8s.harness import (
    CHART_DIR,
    PROFILES,
    SERVICES,
    ChartRenderer,
    Rendered,
    load_yaml,
    lock_digest,
    pod_spec,
    run_helm,
)

PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
def test_helm_lint_strict_passes(renderer: ChartRenderer, profile_name: str) -> None:
    values, sets = PROFILES[profile_name]
    result = renderer.lint(values, sets)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout, result.stdout
    assert "[ERROR]" not in result.stdout, result.stdout


def test_every_profile_renders(profile: Rendered) -> None:
    kinds = {o["kind"] for o in profile.objects}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy"} <= kinds, kinds


def test_the_default_demo_runs_every_service_and_production_drops_the_simulator(
    rendered: dict[str, Rendered],
) -> None:
    names = {o["metadata"]["name"] for o in rendered["default"].of_kind("Deployment")}
    services = {"simulator", "ingest", "ranker", "archiver", "publisher", "closer", "gateway"}
    assert names == {f"leaderboard-{s}" for s in services}
    production = {o["metadata"]["name"] for o in rendered["production"].of_kind("Deployment")}
    assert production == {f"leaderboard-{s}" for s in services - {"simulator"}}


def test_service_pods_run_their_image_as_built_with_only_tmp_writable(profile: Rendered) -> None:
    """No profile changes what a service container runs or mounts (development plumbing,
    such as Tilt's live update, belongs to the Tiltfile and the images' dev target)."""
    for deployment in profile.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        assert "initContainers" not in spec, name
        assert [(v["name"], list(v)) for v in spec["volumes"]] == [("tmp", ["name", "emptyDir"])]
        for container in spec["containers"]:
            assert "command" not in container, f"{name} overrides its image's entry point"
            assert "args" not in container, name
            assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"], name


def _schema() -> dict[str, Any]:
    return load_yaml(CHART_DIR / "values.schema.json")


def _merged_values(files: tuple[str, ...]) -> dict[str, Any]:
    def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    values = load_yaml(CHART_DIR / "values.yaml")
    for name in files:
        values = merge(values, load_yaml(CHART_DIR / name) or {})
    return values


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
def test_shipped_values_files_satisfy_the_schema(profile_name: str) -> None:
    files, _ = PROFILES[profile_name]
    jsonschema.validate(_merged_values(files), _schema())


@pytest.mark.parametrize(
    ("assignment", "complaint"),
    [
        ("image.tag=latest", "/image/tag"),
        ("gateway.image.tag=latest", "/gateway/image/tag"),
        ("redis.enabled=false", "/externalRedis/host"),
        ("postgresql.enabled=false", "/externalPostgresql"),
        ("kafka.enabled=false", "/externalKafka/bootstrapServers"),
        ("topics.gameScore.partitions=0", "/topics/gameScore/partitions"),
        ("logLevel=TRACE", "/logLevel"),
        ("ranker.replicaCounts=2", "replicaCounts"),
        # Live update is the Tiltfile's and the images' dev target's, not a value.
        ("dev.liveUpdate.enabled=true", "'dev'"),
    ],
)
def test_bad_values_are_refused_with_the_offending_key(
    renderer: ChartRenderer, assignment: str, complaint: str
) -> None:
    result = renderer.template((), (assignment,))
    assert result.returncode != 0, f"{assignment} was accepted"
    assert complaint in result.stderr, result.stderr


def test_kafka_replication_is_checked_against_the_node_count(renderer: ChartRenderer) -> None:
    result = renderer.template((), ("kafka.replicationFactor=3",))
    assert result.returncode != 0
    assert "kafka.replicationFactor must not exceed kafka.nodePool.replicas" in result.stderr


def test_chart_lock_pins_exactly_the_dependencies_of_chart_yaml() -> None:
    chart = load_yaml(CHART_DIR / "Chart.yaml")
    lock = load_yaml(CHART_DIR / "Chart.lock")
    requested = chart["dependencies"]
    assert [(d["name"], d["repository"], d["version"]) for d in lock["dependencies"]] == [
        (d["name"], d["repository"], d["version"]) for d in requested
    ]
    # The digest helm checks before `helm dependency build` (else: "out of sync").
    assert lock["digest"] == lock_digest(requested, lock["dependencies"])
    for dependency in requested:
        assert re.fullmatch(r"\d+\.\d+\.\d+", dependency["version"]), "pin exact versions"
        assert dependency["condition"] == f"{dependency['name']}.enabled"


def test_lock_digest_is_computed_as_helm_computes_it(tmp_path: Path) -> None:
    """The digest check above is only as good as this: helm locks a local dependency and
    the harness must arrive at the same digest."""
    (tmp_path / "dep").mkdir()
    (tmp_path / "dep" / "Chart.yaml").write_text("apiVersion: v2\nname: dep\nversion: 1.2.3\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
        "  - name: dep\n    version: 1.2.3\n    repository: file://../dep\n"
        "    condition: dep.enabled\n"
    )
    result = run_helm("dependency", "update", str(tmp_path / "app"))
    assert result.returncode == 0, result.stderr
    lock = load_yaml(tmp_path / "app" / "Chart.lock")
    requested = load_yaml(tmp_path / "app" / "Chart.yaml")["dependencies"]
    assert lock_digest(requested, lock["dependencies"]) == lock["digest"]


def _documented_params() -> dict[str, str]:
    params = {}
    for line in (CHART_DIR / "values.yaml").read_text().splitlines():
        match = PARAM.match(line)
        if match:
            params[match.group(1)] = match.group(2).strip()
    return params


def _leaf_paths(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict) and value:
        out = []
        for key, child in value.items():
            out += _leaf_paths(child, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [prefix]


def test_every_value_is_documented_with_a_param_line() -> None:
    params = _documented_params()
    values = load_yaml(CHART_DIR / "values.yaml")
    undocumented = [
        path
        for path in _leaf_paths(values)
        if not any(path == p or path.startswith(p + ".") for p in params)
    ]
    assert not undocumented, f"values without an @param line: {undocumented}"
    leaves = _leaf_paths(values)
    stale = [p for p in params if not any(leaf == p or leaf.startswith(p + ".") for leaf in leaves)]
    assert not stale, f"@param lines for values that do not exist: {stale}"


def test_the_chart_readme_lists_every_value() -> None:
    readme = (CHART_DIR / "README.md").read_text()
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([^`]+)` \| (.*?) \|", readme, re.MULTILINE)
    }
    params = _documented_params()
    missing = sorted(set(params) - set(rows))
    assert not missing, f"values missing from charts/leaderboard/README.md: {missing}"
    extra = sorted(set(rows) - set(params))
    assert not extra, f"README rows for values that do not exist: {extra}"


def test_notes_say_how_to_open_the_page(renderer: ChartRenderer) -> None:
    result = run_helm(
        "install",
        "leaderboard",
        str(renderer.chart),
        "--namespace",
        "leaderboard",
        "--dry-run=client",
    )
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "http://localhost/" in notes
    assert "port-forward svc/leaderboard-gateway" in notes
    assert "helm test leaderboard" in notes


def test_helpers_and_labels_follow_the_conventions(profile: Rendered) -> None:
    templates = sorted(p for p in (CHART_DIR / "templates").rglob("*") if p.is_file())
    helpers = "".join(path.read_text() for path in templates)
    for name in re.findall(r'define "([^"]+)"', helpers):
        assert name.startswith("leaderboard."), f"helper {name!r} lacks the chart prefix"
    for obj in profile.objects:
        labels = obj["metadata"].get("labels", {})
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/managed-by",
            "app.kubernetes.io/version",
            "helm.sh/chart",
        ):
            assert key in labels, f"{obj['kind']} {obj['metadata']['name']} lacks {key}"
        assert obj["metadata"].get("namespace") == "leaderboard", (
            f"{obj['kind']} {obj['metadata']['name']} has no explicit namespace"
        )


#: What every service renders (when on), one file each; the autoscaled ones add hpa.yaml.
COMPONENT_TEMPLATES = {"deployment", "service", "servicemonitor", "pdb", "networkpolicy"}
AUTOSCALED = {"gateway", "ranker"}
SHAPE_INCLUDE = re.compile(
    r'\A\{\{- include "leaderboard\.(\w+)" \(dict "root" \. "component" "([\w-]+)"\) \}\}\n\Z'
)


def test_templates_have_one_folder_per_component() -> None:
    """templates/<service>/<kind>.yaml, each one include of the shared shape of its kind
    (in _components.tpl) for its own folder's service, and the services of the chart's
    component table are exactly the images'."""
    templates = CHART_DIR / "templates"
    table = (templates / "_components.tpl").read_text()
    components = re.search(r'define "leaderboard\.components" -}}(.*?){{- end }}', table, re.S)
    assert components, "the component table of _components.tpl is missing"
    assert sorted(re.findall(r"^(\w+): \{module:", components.group(1), re.M)) == SERVICES
    for service in SERVICES:
        files = {path.name: path for path in (templates / service).iterdir()}
        expected = COMPONENT_TEMPLATES | ({"hpa"} if service in AUTOSCALED else set())
        assert set(files) == {f"{kind}.yaml" for kind in expected}, service
        for name, path in files.items():
            match = SHAPE_INCLUDE.match(path.read_text())
            assert match, f"{service}/{name} is not one include of a shared shape"
            shape, component = match.groups()
            assert (shape.lower(), component) == (path.stem, service), f"{service}/{name}"


def test_values_yaml_is_plain_yaml_without_templates_except_secret_names() -> None:
    text = (CHART_DIR / "values.yaml").read_text()
    templated = [
        line.strip() for line in text.splitlines() if "{{" in line and "@param" not in line
    ]
    assert all(line.startswith("existingSecret:") for line in templated), templated
    yaml.safe_load(text)
