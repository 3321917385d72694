"""kind-config.yaml, the ingress path and the pinned prerequisites agree with the chart and
with docs/kubernetes.md, so `tilt up` on that cluster serves the page at http://localhost/."""

from __future__ import annotations

import re

from tests.k8s.harness import CHART_DIR, K8S_DIR, REPO_ROOT, Rendered, load_yaml


def test_kind_maps_port_80_of_the_host_to_the_ingress_controller() -> None:
    kind = load_yaml(REPO_ROOT / "kind-config.yaml")
    assert kind["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert kind["kind"] == "Cluster"
    traefik = load_yaml(K8S_DIR / "traefik-values.yaml")
    assert traefik["service"]["type"] == "NodePort"
    mappings = {
        m["hostPort"]: m["containerPort"]
        for node in kind["nodes"]
        for m in node.get("extraPortMappings", [])
    }
    assert mappings[80] == traefik["ports"]["web"]["nodePort"]
    assert mappings[443] == traefik["ports"]["websecure"]["nodePort"]


def test_the_ingress_class_is_the_one_the_controller_serves(rendered: dict[str, Rendered]) -> None:
    traefik = load_yaml(K8S_DIR / "traefik-values.yaml")
    assert traefik["ingressClass"]["enabled"] is True
    assert traefik["providers"]["kubernetesIngress"]["enabled"] is True
    (ingress,) = rendered["default"].of_kind("Ingress")
    assert ingress["spec"]["ingressClassName"] == traefik["ingressClass"]["name"]
    # The chart's NetworkPolicy lets that controller's namespace reach the gateway.
    release = next(
        r for r in load_yaml(K8S_DIR / "prerequisites.yaml")["releases"] if r["name"] == "traefik"
    )
    selector = load_yaml(CHART_DIR / "values.yaml")["networkPolicy"][
        "ingressControllerNamespaceSelector"
    ]
    assert selector["matchLabels"]["kubernetes.io/metadata.name"] == release["namespace"]


def test_the_controller_keeps_websockets_open() -> None:
    """The gateway pings every 20 s; the controller must neither time out reading an
    upgraded connection nor drop it as idle in between."""
    web = load_yaml(K8S_DIR / "traefik-values.yaml")["ports"]["web"]
    timeouts = web["transport"]["respondingTimeouts"]
    assert timeouts["readTimeout"] in ("0", "0s", 0)
    assert timeouts["writeTimeout"] in ("0", "0s", 0)
    idle = re.fullmatch(r"(\d+)s", timeouts["idleTimeout"])
    assert idle
    assert int(idle.group(1)) > 20


def test_the_http_route_alternative_attaches_to_the_controller_gateway() -> None:
    traefik = load_yaml(K8S_DIR / "traefik-values.yaml")
    (parent,) = load_yaml(CHART_DIR / "values.yaml")["httpRoute"]["parentRefs"]
    assert parent == {"name": "traefik-gateway", "namespace": "traefik"}
    assert traefik["gateway"]["listeners"]["web"]["namespacePolicy"] == {"from": "All"}


def test_prerequisites_are_pinned_and_documented() -> None:
    releases = load_yaml(K8S_DIR / "prerequisites.yaml")["releases"]
    assert {r["name"] for r in releases} == {"strimzi", "traefik", "kube-prometheus-stack"}
    docs = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
    for release in releases:
        assert re.fullmatch(r"\d+\.\d+\.\d+", release["version"]), release
        assert release["chart"].startswith("oci://"), release
        assert (REPO_ROOT / release["values"]).is_file()
        # The manual install in the docs uses the same chart, version and values.
        command = re.search(
            rf"helm upgrade --install {re.escape(release['name'])} {re.escape(release['chart'])}"
            r"(?:[^\n\\]|\\\n)*",
            docs,
        )
        assert command, f"docs/kubernetes.md does not show how to install {release['name']}"
        assert f"--version {release['version']}" in command.group(0)
        assert release["values"] in command.group(0)
        assert f"-n {release['namespace']}" in command.group(0)


def test_strimzi_watches_the_namespace_the_chart_deploys_kafka_into() -> None:
    values = load_yaml(K8S_DIR / "strimzi-values.yaml")
    assert values.get("watchAnyNamespace") is True


def test_docs_cover_the_quickstart_production_and_grafana() -> None:
    docs = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
    for needle in (
        "kind create cluster --config kind-config.yaml",
        "tilt up",
        "helm install leaderboard charts/leaderboard -f charts/leaderboard/values-production.yaml",
        "http://localhost/",
        "Grafana",
        "cloud-provider-kind",
        "bitnamilegacy",
    ):
        assert needle in docs, f"docs/kubernetes.md lacks {needle!r}"
    assert "charts/leaderboard/README.md" in docs
