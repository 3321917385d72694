"""Offline harness of the Kubernetes tests: helm, the chart with stub subcharts, the CRDs.

Nothing here needs a cluster or a registry. ``ensure_helm()`` runs the project's own
installer (``k8s/install-tools.sh``: helm from the Go module proxy, built once into
``~/.cache/leaderboard/tools``). ``ChartRenderer`` copies the chart to a temporary
folder and puts *stub* Bitnami subcharts (empty charts with the names and versions
``Chart.lock`` pins) into its ``charts/``, since the real ones cannot be pulled here; the
stubs render nothing, so every rendered object is one this project wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "leaderboard"
IMAGES_DIR = REPO_ROOT / "images"
#: One Dockerfile for every service image: shared stages, a target per service, then `dev`.
DOCKERFILE = IMAGES_DIR / "Dockerfile"
K8S_DIR = REPO_ROOT / "k8s"
#: k8s/install-tools.sh builds the tools into this cache outside the clone.
CACHE_DIR = Path(os.environ.get("LEADERBOARD_CACHE_DIR", Path.home() / ".cache" / "leaderboard"))
TOOLS_DIR = CACHE_DIR / "tools"
HELM = TOOLS_DIR / "bin" / "helm"
#: CI lays a copy of shared/ beside the clone; the CRDs are read from there, never copied.
CRD_DIR = REPO_ROOT.parent / "shared" / "k8s-crds"


def stages(text: str) -> dict[str, str]:
    """Stage name -> its instructions (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out: dict[str, str] = {}
    current = None
    for line in joined.splitlines():
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line)
        if match:
            current = match.group(2)
            out[current] = line + "\n"
        elif current and line.strip() and not line.lstrip().startswith("#"):
            out[current] += line + "\n"
    return out


STAGES = stages(DOCKERFILE.read_text())
#: The development target (Tilt's live update), built on any service's target.
DEV_STAGE = "dev"
#: Every other stage after the shared ones is a service's target.
SERVICES = sorted(name for name in STAGES if name not in ("build", "runtime", DEV_STAGE))


def dev_environment() -> dict[str, str]:
    """The variables the dev target sets (ENV), as written in the Dockerfile."""
    lines = re.findall(r"^ENV\s+(.*)$", STAGES[DEV_STAGE], re.MULTILINE)
    return dict(re.findall(r"\b(\w+)=(\S+)", " ".join(lines)))


RELEASE = "leaderboard"
NAMESPACE = "leaderboard"

#: The value profiles every check runs on: name -> (values files, --set overrides).
PROFILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # The kind demo: `helm install leaderboard charts/leaderboard`.
    "default": ((), ()),
    # What the Tiltfile deploys.
    "dev": (("values-dev.yaml",), ()),
    "production": (("values-production.yaml",), ()),
    "external-datastores": (("values-external-datastores.yaml",), ()),
    # Every optional template on at once, with an external Kafka.
    "all-options": (
        ("values-production.yaml",),
        (
            "httpRoute.enabled=true",
            "httpRoute.timeouts.request=0s",
            "ingest.exposeViaIngress=true",
            "ranker.autoscaling.enabled=true",
            "kafka.enabled=false",
            "externalKafka.bootstrapServers=kafka-0.kafka:9092\\,kafka-1.kafka:9092",
            "simulator.enabled=true",
            "simulator.replicaCount=2",
        ),
    ),
}


def ensure_helm() -> Path:
    """The helm binary, built by the project's installer if it is not there yet."""
    if not HELM.exists():
        subprocess.run(
            ["bash", str(K8S_DIR / "install-tools.sh")],
            check=True,
            timeout=1800,
            env={**os.environ, "LEADERBOARD_CACHE_DIR": str(CACHE_DIR)},
        )
    return HELM


def run_helm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm with no cluster and no network configuration of the developer."""
    return subprocess.run(
        [str(ensure_helm()), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            # Keep helm away from any kubeconfig or cache of the machine.
            "KUBECONFIG": "/nonexistent",
            "HELM_CACHE_HOME": str(TOOLS_DIR / "helm-cache"),
            "HELM_CONFIG_HOME": str(TOOLS_DIR / "helm-config"),
            "HELM_DATA_HOME": str(TOOLS_DIR / "helm-data"),
        },
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def locked_dependencies() -> list[dict[str, str]]:
    return load_yaml(CHART_DIR / "Chart.lock")["dependencies"]


def make_stub_chart(parent: Path, name: str, version: str) -> None:
    """An empty chart (no templates) standing in for a subchart that cannot be fetched."""
    stub = parent / f".stub-{name}"
    stub.mkdir(parents=True)
    (stub / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {name}\nversion: {version}\n"
        "description: offline stand-in for the real subchart (tests only)\n"
    )
    result = run_helm("package", str(stub), "--destination", str(parent))
    assert result.returncode == 0, result.stderr
    shutil.rmtree(stub)


def go_json(value: Any) -> bytes:
    """``value`` as Go's encoding/json writes it (compact, HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.encode()


#: The JSON fields of helm's chart.Dependency, in struct order, and whether they are omitempty.
_DEPENDENCY_FIELDS = (
    ("name", False),
    ("version", True),
    ("repository", False),
    ("condition", True),
    ("tags", True),
    ("enabled", True),
    ("import-values", True),
    ("alias", True),
)


def _go_dependency(dependency: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, omitempty in _DEPENDENCY_FIELDS:
        value = dependency.get(field)
        if omitempty and not value:
            continue
        out[field] = value if value is not None else ""
    return out


def lock_digest(requested: Iterable[Mapping[str, Any]], locked: Iterable[Mapping[str, Any]]) -> str:
    """The ``digest`` helm writes into Chart.lock (``resolver.HashReq``): the SHA-256 of
    the JSON of [Chart.yaml dependencies, locked dependencies]."""
    payload = [[_go_dependency(d) for d in requested], [_go_dependency(d) for d in locked]]
    return "sha256:" + hashlib.sha256(go_json(payload)).hexdigest()


@dataclass
class Rendered:
    """The objects one profile renders to."""

    profile: str
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        matches = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(matches) == 1, (
            f"{self.profile}: expected one {kind} {name!r}, got {len(matches)}"
        )
        return matches[0]

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in ("Deployment", "Job", "Pod")]


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "Pod":
        return workload["spec"]
    return workload["spec"]["template"]["spec"]


def all_containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


class ChartRenderer:
    """Renders the chart (copied, with stub subcharts) for any set of values."""

    def __init__(self, workdir: Path) -> None:
        self.chart = workdir / "leaderboard"
        shutil.copytree(CHART_DIR, self.chart, ignore=shutil.ignore_patterns("charts"))
        (self.chart / "charts").mkdir()
        for dependency in locked_dependencies():
            make_stub_chart(self.chart / "charts", dependency["name"], dependency["version"])

    def args(self, values: Sequence[str], sets: Sequence[str]) -> list[str]:
        out: list[str] = []
        for name in values:
            out += ["--values", str(self.chart / name)]
        for assignment in sets:
            out += ["--set", assignment]
        return out

    def lint(
        self, values: Sequence[str] = (), sets: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        return run_helm("lint", "--strict", str(self.chart), *self.args(values, sets))

    def template(
        self, values: Sequence[str] = (), sets: Sequence[str] = (), *extra: str
    ) -> subprocess.CompletedProcess[str]:
        return run_helm(
            "template",
            RELEASE,
            str(self.chart),
            "--namespace",
            NAMESPACE,
            *self.args(values, sets),
            *extra,
        )

    def render(self, profile: str) -> Rendered:
        values, sets = PROFILES[profile]
        result = self.template(values, sets)
        assert result.returncode == 0, f"helm template ({profile}) failed:\n{result.stderr}"
        objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return Rendered(profile, objects)


def load_crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of the shared CRDs."""
    if not CRD_DIR.is_dir():
        raise AssertionError(
            f"the upstream CRDs are missing: expected {CRD_DIR} (a copy of shared/ beside "
            "the repository clone, see shared/k8s-crds/README.md); the Strimzi and "
            "Prometheus Operator resources cannot be validated without them"
        )
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = load_yaml(path)
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def strict_schema(schema: Any) -> Any:
    """A copy of a CRD schema that rejects unknown fields, as the API server's structural
    pruning effectively does: every object with ``properties`` and no
    ``additionalProperties`` or ``x-kubernetes-preserve-unknown-fields`` gets
    ``additionalProperties: false``. Kubernetes' own extensions are dropped."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        key: strict_schema(value)
        for key, value in schema.items()
        if not key.startswith("x-kubernetes-")
    }
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def env_of(
    container: Mapping[str, Any], config_maps: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """A container's plain environment: its ConfigMaps (envFrom), then its own values.
    Variables from Secrets are returned as ``<secret:name/key>``."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env.update(config_maps[name])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = f"<secret:{ref['name']}/{ref['key']}>"
    return env


def config_maps(rendered: Rendered) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: o.get("data", {}) for o in rendered.of_kind("ConfigMap")}
