"""The Tiltfile, evaluated offline with the Starlark interpreter Tilt itself uses
(go.starlark.net, through the starlark-go package) and stand-ins for Tilt's builtins that
record every call. ``helm()`` renders the real chart, so the checks see what Tilt would
deploy: every image built from the Dockerfile's `dev` target with live update into a
folder the chart's pods can write, and used by the chart; every resource and object it
names existing; consumers waiting for Kafka, Redis and PostgreSQL.

The `tilt` binary itself cannot be built here (the Go module proxy refuses
github.com/tilt-dev/tilt), so `tilt alpha tiltfile-result` is not part of the suite.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import starlark_go
import yaml

from tests.k8s.harness import (
    CHART_DIR,
    DEV_STAGE,
    K8S_DIR,
    REPO_ROOT,
    SERVICES,
    ChartRenderer,
    all_containers,
    dev_environment,
    load_yaml,
    pod_spec,
)

TILTFILE = REPO_ROOT / "Tiltfile"


@dataclass
class TiltCalls:
    """What the Tiltfile asked Tilt to do."""

    docker_builds: list[dict[str, Any]] = field(default_factory=list)
    helm_resources: list[dict[str, Any]] = field(default_factory=list)
    local_resources: list[dict[str, Any]] = field(default_factory=list)
    k8s_resources: list[dict[str, Any]] = field(default_factory=list)
    k8s_yaml: list[Any] = field(default_factory=list)
    helm_calls: list[dict[str, Any]] = field(default_factory=list)
    local_commands: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)

    def applied_objects(self) -> list[dict[str, Any]]:
        objects = []
        for item in self.k8s_yaml:
            text = (
                (REPO_ROOT / item).read_text()
                if isinstance(item, str) and item.endswith(".yaml")
                else item
            )
            objects += [o for o in yaml.safe_load_all(text) if o]
        return objects


def _dev_secrets_yaml() -> str:
    spec = importlib.util.spec_from_file_location("dev_secrets", K8S_DIR / "dev_secrets.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate()  # the content, without writing the developer's store


def evaluate_tiltfile(renderer: ChartRenderer) -> TiltCalls:
    calls = TiltCalls()

    def record(calls_of_kind: list[dict[str, Any]], **values: Any) -> None:
        calls_of_kind.append(values)

    def helm(chart: str, name: str = "", namespace: str = "", values: Any = (), **kw: Any) -> str:
        calls.helm_calls.append(
            {"chart": chart, "name": name, "namespace": namespace, "values": list(values), **kw}
        )
        assert Path(chart).resolve() == CHART_DIR.resolve() or chart == "charts/leaderboard"
        files = [str(Path(v).relative_to("charts/leaderboard")) for v in values]
        result = renderer.template(files, ())
        assert result.returncode == 0, result.stderr
        calls.helm_calls[-1]["release"] = name
        return result.stdout

    def local(command: str, **kw: Any) -> str:
        calls.local_commands.append(command)
        if "dev_secrets.py" in command:
            return _dev_secrets_yaml()
        return ""

    builtins = {
        "allow_k8s_contexts": lambda context: calls.contexts.append(context),
        "update_settings": lambda **kw: None,
        "read_yaml": lambda path, **kw: load_yaml(REPO_ROOT / path),
        "helm_resource": lambda name, chart, **kw: record(
            calls.helm_resources, name=name, chart=chart, **kw
        ),
        "local_resource": lambda name, **kw: record(calls.local_resources, name=name, **kw),
        "link": lambda url, name="": {"url": url, "name": name},
        "port_forward": lambda local_port, container_port=None, name="", **kw: {
            "local": local_port,
            "container": container_port or local_port,
            "name": name,
        },
        "docker_build": lambda ref, context, **kw: record(
            calls.docker_builds, ref=ref, context=context, **kw
        ),
        "sync": lambda source, destination: {"sync": [source, destination]},
        "fall_back_on": lambda paths: {
            "fall_back_on": list(paths) if isinstance(paths, list) else [paths]
        },
        "k8s_yaml": lambda value, **kw: calls.k8s_yaml.append(value),
        "local": local,
        "helm": helm,
        "decode_yaml_stream": lambda text: [o for o in yaml.safe_load_all(text)],
        "encode_yaml_stream": lambda objects: yaml.safe_dump_all(list(objects), sort_keys=False),
        "k8s_resource": lambda workload="", **kw: record(
            calls.k8s_resources, workload=workload, **kw
        ),
    }
    source = TILTFILE.read_text()
    # `load` fetches Tilt extensions; helm_resource is among the stand-ins above.
    source = re.sub(r"^load\(.*\)$", "", source, flags=re.MULTILINE)
    # Tilt's dialect allows top-level if/for and sets, like these options.
    starlark_go.configure_starlark(allow_set=True, allow_global_reassign=True, allow_recursion=True)
    interpreter = starlark_go.Starlark(globals=builtins)
    interpreter.exec(source, filename="Tiltfile")
    return calls


@pytest.fixture(scope="session")
def tilt(renderer: ChartRenderer) -> TiltCalls:
    return evaluate_tiltfile(renderer)


def test_tiltfile_targets_the_kind_cluster_of_kind_config(tilt: TiltCalls) -> None:
    cluster = load_yaml(REPO_ROOT / "kind-config.yaml")["name"]
    assert tilt.contexts == [f"kind-{cluster}"]


def test_every_image_is_built_with_live_update_and_used_by_the_chart(tilt: TiltCalls) -> None:
    built = {b["ref"]: b for b in tilt.docker_builds}
    assert set(built) == {f"leaderboard/{s}" for s in SERVICES}
    deployed = tilt.applied_objects()
    used = {
        c["image"].rsplit(":", 1)[0]
        for o in deployed
        if o["kind"] in ("Deployment", "Job", "Pod")
        for c in all_containers(o)
    }
    for service in SERVICES:
        build = built[f"leaderboard/{service}"]
        assert build["dockerfile"] == "images/Dockerfile"
        # The service's image with live update (the production target plus watchfiles).
        assert build["target"] == DEV_STAGE
        assert build["build_args"] == {"SERVICE": service}
        assert (REPO_ROOT / build["dockerfile"]).is_file()
        assert build["context"] == "."
        assert {"src", "uv.lock", "pyproject.toml"} <= set(build["only"])
        steps = build["live_update"]
        syncs = [s["sync"] for s in steps if "sync" in s]
        # Into the copy the dev image runs from, first on its PYTHONPATH.
        assert syncs == [["src/leaderboard", f"{dev_environment()['PYTHONPATH']}/leaderboard"]]
        assert any("uv.lock" in s.get("fall_back_on", []) for s in steps)
        assert f"leaderboard/{service}" in used, f"the chart does not run leaderboard/{service}"
    assert {u for u in used if u.startswith("leaderboard/")} <= set(built)


def test_live_update_syncs_into_a_folder_the_production_pods_can_write(tilt: TiltCalls) -> None:
    """The chart is the production one: the root filesystem stays read-only and the
    image's entry point (the dev image's watchfiles) is not overridden, so the sync
    destination must lie on a volume every service pod mounts writable."""
    destinations = {
        s["sync"][1] for b in tilt.docker_builds for s in b["live_update"] if "sync" in s
    }
    assert destinations
    for deployment in (o for o in tilt.applied_objects() if o["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        assert "initContainers" not in spec, name
        assert "command" not in container, f"{name} overrides the image's entry point"
        assert "PYTHONPATH" not in {v["name"] for v in container["env"]}, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        volumes = {v["name"]: v for v in spec["volumes"]}
        writable = [
            m["mountPath"]
            for m in container["volumeMounts"]
            if "emptyDir" in volumes[m["name"]] and not m.get("readOnly")
        ]
        for destination in destinations:
            assert any(destination.startswith(path.rstrip("/") + "/") for path in writable), (
                f"{name}: nothing writable at {destination}"
            )


def test_the_chart_is_deployed_with_the_dev_values_minus_helm_tests(tilt: TiltCalls) -> None:
    (call,) = tilt.helm_calls
    assert call["values"] == ["charts/leaderboard/values-dev.yaml"]
    assert not call.get("set"), "the Tiltfile deploys the chart with its values files only"
    # Live update is the Tiltfile's and the dev image's: no development values in the chart.
    assert "dev" not in load_yaml(CHART_DIR / "values-dev.yaml")
    assert call["release"] == "leaderboard"
    assert call["namespace"] == "leaderboard"
    deployed = tilt.applied_objects()
    assert not [o for o in deployed if o["kind"] == "Pod"], "the helm test pod is deployed"
    assert {o["kind"] for o in deployed} >= {"Namespace", "Secret", "Deployment", "Kafka"}


def test_dev_secrets_provide_every_secret_the_dev_chart_references(tilt: TiltCalls) -> None:
    deployed = tilt.applied_objects()
    secrets = {o["metadata"]["name"]: set(o["data"]) for o in deployed if o["kind"] == "Secret"}
    for workload in (o for o in deployed if o["kind"] in ("Deployment", "Job")):
        for container in all_containers(workload):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets.get(ref["name"], set()), (
                        f"{workload['metadata']['name']} needs {ref['name']}/{ref['key']}"
                    )
    # The generated ones come from the dev store, not from the chart (stable passwords).
    assert all(
        o["metadata"]["labels"].get("leaderboard.io/dev") == "true"
        for o in deployed
        if o["kind"] == "Secret"
    )


def test_prerequisites_are_installed_as_pinned(tilt: TiltCalls) -> None:
    releases = load_yaml(K8S_DIR / "prerequisites.yaml")["releases"]
    installed = {r["name"]: r for r in tilt.helm_resources}
    assert set(installed) == {r["name"] for r in releases}
    for release in releases:
        call = installed[release["name"]]
        flags = call["flags"]
        assert call["chart"] == release["chart"]
        assert call["namespace"] == release["namespace"]
        assert flags[flags.index("--version") + 1] == release["version"]
        assert flags[flags.index("--values") + 1] == release["values"]
        assert (REPO_ROOT / release["values"]).is_file()


def _resource_names(tilt: TiltCalls) -> set[str]:
    names = {r["name"] for r in tilt.helm_resources} | {r["name"] for r in tilt.local_resources}
    names |= {r["new_name"] for r in tilt.k8s_resources if r.get("new_name")}
    deployed = tilt.applied_objects()
    names |= {o["metadata"]["name"] for o in deployed if o["kind"] in ("Deployment", "Job")}
    # The Bitnami StatefulSets (stubbed offline): named after the hosts the services use.
    env = next(
        o
        for o in deployed
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "leaderboard-env"
    )
    names.add(env["data"]["LEADERBOARD_REDIS_HOST"].split(".")[0])
    names.add(env["data"]["LEADERBOARD_POSTGRES_HOST"].split(".")[0])
    return names


def test_every_named_resource_and_object_exists(tilt: TiltCalls) -> None:
    names = _resource_names(tilt)
    deployed = tilt.applied_objects()
    selectors = {f"{o['metadata']['name']}:{o['kind'].lower()}" for o in deployed}
    for resource in tilt.k8s_resources:
        if resource["workload"]:
            assert resource["workload"] in names, f"no workload {resource['workload']!r}"
        for dependency in resource.get("resource_deps", []):
            assert dependency in names, f"{resource} waits for unknown {dependency!r}"
        for selector in resource.get("objects", []):
            assert selector in selectors, f"no object {selector!r}"
    for resource in tilt.local_resources:
        for dependency in resource.get("resource_deps", []):
            assert dependency in names
    # Every object that is not a workload (or a Service, which Tilt attaches to the
    # workload it selects) is grouped under a resource, so dependencies can name it.
    grouped = {s for r in tilt.k8s_resources for s in r.get("objects", [])}
    for obj in deployed:
        if obj["kind"] not in ("Deployment", "Job", "Service"):
            selector = f"{obj['metadata']['name']}:{obj['kind'].lower()}"
            assert selector in grouped, f"{selector} would be left uncategorized"


def test_consumers_wait_for_kafka_redis_and_postgresql(tilt: TiltCalls) -> None:
    deps = {
        r["workload"]: set(r.get("resource_deps", [])) for r in tilt.k8s_resources if r["workload"]
    }
    for service in ("simulator", "ingest", "ranker", "archiver", "publisher", "closer", "gateway"):
        assert "kafka" in deps[f"leaderboard-{service}"], service
    for service in ("ranker", "publisher", "closer", "gateway"):
        assert "leaderboard-redis-master" in deps[f"leaderboard-{service}"]
    for service in ("archiver", "closer"):  # they write the migration's tables
        assert {"leaderboard-postgresql", "leaderboard-migration"} <= deps[f"leaderboard-{service}"]
    assert "leaderboard-postgresql" in deps["leaderboard-gateway"]
    kafka = next(r for r in tilt.k8s_resources if r.get("new_name") == "kafka")
    assert "strimzi" in kafka["resource_deps"]
    assert kafka["pod_readiness"] == "wait"
    assert kafka["extra_pod_selectors"]
    monitoring = next(r for r in tilt.k8s_resources if r.get("new_name") == "monitoring-config")
    assert "kube-prometheus-stack" in monitoring["resource_deps"]


def test_port_forwards_reach_the_gateway_and_grafana(tilt: TiltCalls) -> None:
    gateway = next(r for r in tilt.k8s_resources if r["workload"] == "leaderboard-gateway")
    (forward,) = gateway["port_forwards"]
    deployment = next(
        o
        for o in tilt.applied_objects()
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "leaderboard-gateway"
    )
    ports = [p["containerPort"] for p in pod_spec(deployment)["containers"][0]["ports"]]
    assert forward["container"] in ports
    grafana = next(r for r in tilt.local_resources if r["name"] == "grafana")
    assert "port-forward" in grafana["serve_cmd"]
    assert "3000" in grafana["serve_cmd"]
    assert "kube-prometheus-stack" in grafana["resource_deps"]
