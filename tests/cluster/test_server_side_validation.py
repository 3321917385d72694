"""Every object the chart renders, in every values profile, is accepted by the real API
server with strict field validation, custom resources against the upstream CRDs
(`../shared/k8s-crds`, applied by cluster.sh up): the Strimzi and Prometheus Operator
paths that cannot run here are still checked by the server that would receive them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.cluster.harness import KUBECONFIG, NAMESPACE, kubectl, run
from tests.k8s.harness import PROFILES, TOOLS_DIR, ChartRenderer

#: Kinds whose CRDs are not available here (the Gateway API's come from a GitHub release).
NOT_SERVED = {("gateway.networking.k8s.io/v1", "HTTPRoute")}


def server_dry_run(manifest: Path) -> subprocess.CompletedProcess[str]:
    """`kubectl apply --dry-run=server --validate=strict` of ``manifest``."""
    return run(
        [
            str(TOOLS_DIR / "bin" / "kubectl"),
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-n",
            NAMESPACE,
            "-f",
            str(manifest),
        ],
        check=False,
    )


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> ChartRenderer:
    return ChartRenderer(tmp_path_factory.mktemp("chart"))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_rendered_object_is_accepted_by_the_api_server(
    profile: str, renderer: ChartRenderer, tmp_path: Path
) -> None:
    assert KUBECONFIG.exists(), "no cluster: run `make test-cluster`"
    if kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        kubectl("create", "namespace", NAMESPACE)
    objects = [
        o
        for o in renderer.render(profile).objects
        if (o["apiVersion"], o["kind"]) not in NOT_SERVED
    ]
    assert objects
    manifest = tmp_path / f"{profile}.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    result = server_dry_run(manifest)
    assert result.returncode == 0, f"{profile}:\n{result.stderr}"
    # One line per object: nothing was skipped.
    assert len(result.stdout.strip().splitlines()) == len(objects), result.stdout


def test_an_unknown_field_is_refused(renderer: ChartRenderer, tmp_path: Path) -> None:
    """The check above can fail: strict validation refuses what the schema lacks."""
    (kafka,) = [o for o in renderer.render("default").objects if o["kind"] == "Kafka"]
    kafka["spec"]["kafka"]["noSuchField"] = 1
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(kafka))
    result = server_dry_run(manifest)
    assert result.returncode != 0
    assert "noSuchField" in result.stderr
