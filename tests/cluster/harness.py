"""kubectl and helm against the cluster of k8s/cluster/cluster.sh, and waits that fail loudly.

A wait never just times out: when a pod of the release crash-loops or fails meanwhile, the
test fails at once with that pod's state and log, so a broken image or probe shows its cause.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.k8s.harness import REPO_ROOT, TOOLS_DIR
from tests.support import services

STATE = REPO_ROOT / ".devstack" / "cluster"
KUBECONFIG = STATE / "kubeconfig"
CLUSTER_SCRIPT = REPO_ROOT / "k8s" / "cluster" / "cluster.sh"
#: Where the ingress controller's NodePort answers (cluster.sh: NODE_IP and INGRESS_PORT).
INGRESS_URL = "http://10.77.0.1:30080"
NAMESPACE = "leaderboard"
RELEASE = "leaderboard"
#: Container states that mean a pod will not come up by waiting longer.
BROKEN = {
    "CrashLoopBackOff",
    "ErrImageNeverPull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
}


class BrokenPodError(AssertionError):
    """A pod crash-loops or cannot start; the message carries its state and log."""


def run(
    args: Sequence[str], timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            "PATH": f"{TOOLS_DIR / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(STATE),
            "KUBECONFIG": str(KUBECONFIG),
        },
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def kubectl(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run([str(TOOLS_DIR / "bin" / "kubectl"), *args], timeout=timeout, check=check)


def helm(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([str(TOOLS_DIR / "bin" / "helm"), *args], timeout=timeout, check=check)


def get_json(*args: str, namespace: str = NAMESPACE) -> Any:
    return json.loads(kubectl("get", *args, "-n", namespace, "-o", "json").stdout)


def secret_value(name: str, key: str, namespace: str = NAMESPACE) -> str:
    data = get_json("secret", name, namespace=namespace)["data"]
    return base64.b64decode(data[key]).decode()


#: Seconds (one attempt each) that ``pod_log`` asks for a restarted container's log.
LOG_ATTEMPTS = 30
#: What the kubelet sends, as a successful log, for a run it no longer has.
NO_LOG = "unable to retrieve container logs"


def pod_log(namespace: str, pod: str, container: str, restarted: bool) -> str:
    """The container's log: the crashed run's when it restarted, else the current one's.

    Just after a restart the pod's status may still name a run the kubelet has already
    removed (it keeps one dead run per container). For that run it answers successfully
    with the text "unable to retrieve container logs for ...": both logs are asked for
    again until one is a real log (the new run crashes the same way, so either tells
    what went wrong).
    """
    args = ["logs", "-n", namespace, pod, "-c", container, "--tail=60"]
    result = kubectl(*args, check=False)
    for _ in range(LOG_ATTEMPTS):
        for extra in ([["--previous"]] if restarted else []) + [[]]:
            result = kubectl(*args, *extra, check=False)
            if result.returncode == 0 and result.stdout and not result.stdout.startswith(NO_LOG):
                return result.stdout
        time.sleep(1)
    return result.stdout or result.stderr


def broken_pods(namespace: str = NAMESPACE) -> list[str]:
    """A report of every pod that crash-loops, restarted, or cannot start its containers."""
    reports = []
    for pod in get_json("pods", namespace=namespace)["items"]:
        name = pod["metadata"]["name"]
        if pod["status"].get("phase") == "Failed":
            reports.append(f"pod {name} failed: {pod['status'].get('message', '')}")
        for status in pod["status"].get("containerStatuses", []) + pod["status"].get(
            "initContainerStatuses", []
        ):
            waiting = status.get("state", {}).get("waiting", {})
            reason = waiting.get("reason", "")
            if reason in BROKEN or status.get("restartCount", 0) > 0:
                container = status["name"]
                log = pod_log(
                    namespace, name, container, restarted=status.get("restartCount", 0) > 0
                )
                reports.append(
                    f"pod {name}, container {container}: {reason or 'restarted'} "
                    f"{waiting.get('message', '')} (restarts: {status.get('restartCount', 0)})\n"
                    f"--- its log ---\n{log}"
                )
    return reports


def wait_for(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    namespaces: Sequence[str] = (NAMESPACE,),
    every: float = 1.0,
) -> Any:
    """Poll ``condition`` until truthy; fail at once if a pod of ``namespaces`` is broken."""

    def no_broken_pod_and_condition() -> object:
        # Broken pods first: a pod without a readiness probe looks ready between crashes.
        for namespace in namespaces:
            reports = broken_pods(namespace)
            if reports:
                raise BrokenPodError(f"while waiting for {what}:\n" + "\n".join(reports))
        return condition()

    def pods() -> str:
        return kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout

    return services.wait_for(no_broken_pod_and_condition, timeout, what, every, details=pods)


def live_pods(component: str) -> list[dict[str, Any]]:
    """The release's pods of ``component``, leaving out those already terminating."""
    pods = get_json("pods", "-l", f"app.kubernetes.io/component={component}")["items"]
    return [p for p in pods if "deletionTimestamp" not in p["metadata"]]


def deployments_ready(namespace: str = NAMESPACE) -> bool:
    """Every Deployment has its desired replicas updated, ready and available."""
    items = get_json("deployments", namespace=namespace)["items"]
    return bool(items) and all(
        d["status"].get("observedGeneration", 0) >= d["metadata"]["generation"]
        and d["status"].get("updatedReplicas", 0) == d["spec"]["replicas"]
        and d["status"].get("readyReplicas", 0) == d["spec"]["replicas"]
        and d["status"].get("replicas", 0) == d["spec"]["replicas"]
        for d in items
    )


def cluster(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """k8s/cluster/cluster.sh with ``args`` (its output is kept for a failure message)."""
    return run(["bash", str(CLUSTER_SCRIPT), *args], timeout=timeout)


def repo_path(*parts: str) -> Path:
    return REPO_ROOT.joinpath(*parts)
