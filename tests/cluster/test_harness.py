"""The cluster tests cannot hide a broken pod: a crash loop fails the wait at once, with the
pod's own log in the failure (here a ranker whose settings are wrong)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cluster.harness import BrokenPodError, deployments_ready, kubectl, wait_for

NAMESPACE = "harness-check"
CRASHING = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "crashing-ranker", "namespace": NAMESPACE},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "crashing-ranker"}},
        "template": {
            "metadata": {"labels": {"app": "crashing-ranker"}},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                "containers": [
                    {
                        "name": "ranker",
                        "image": "leaderboard/ranker:0.1.0",
                        "imagePullPolicy": "Never",
                        "env": [
                            {"name": "LEADERBOARD_RANKER_DEDUP_WINDOW_SECONDS", "value": "soon"}
                        ],
                        # As in the chart: without a probe a pod looks ready between crashes.
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9101}},
                    }
                ],
            },
        },
    },
}


def test_a_crash_looping_pod_fails_the_wait_with_its_log(tmp_path: Path) -> None:
    kubectl("create", "namespace", NAMESPACE)
    try:
        manifest = tmp_path / "crashing.yaml"
        manifest.write_text(yaml.safe_dump(CRASHING))
        kubectl("apply", "-f", str(manifest))
        with pytest.raises(BrokenPodError) as failure:
            wait_for(
                lambda: deployments_ready(NAMESPACE), 180, "the ranker", namespaces=[NAMESPACE]
            )
        report = str(failure.value)
        assert "crashing-ranker" in report
        # The settings error the pod logged.
        assert "LEADERBOARD_RANKER_DEDUP_WINDOW_SECONDS" in report
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=true")
