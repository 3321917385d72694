"""Policies on the rendered chart: hardened containers, monitors that reach a real
/metrics, an Ingress that reaches the gateway's page and WebSocket, topics that match the
services' configuration, no secret in plain sight, and the production topology."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.closer.settings import CloserSettings
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.metrics import Metrics
from leaderboard.devstack.topics import topic_specs
from leaderboard.gateway.app import create_app as create_gateway_app
from leaderboard.gateway.settings import GatewaySettings
from leaderboard.ingest.app import create_app as create_ingest_app
from leaderboard.ingest.settings import IngestSettings
from leaderboard.publisher.settings import PublisherSettings
from leaderboard.ranker.settings import RankerSettings
from leaderboard.simulator.settings import SimulatorSettings
from tests.k8s.harness import (
    CHART_DIR,
    K8S_DIR,
    Rendered,
    all_containers,
    config_maps,
    env_of,
    load_yaml,
    pod_spec,
)

SETTINGS = {
    "simulator": SimulatorSettings,
    "ingest": IngestSettings,
    "ranker": RankerSettings,
    "archiver": ArchiverSettings,
    "publisher": PublisherSettings,
    "closer": CloserSettings,
    "gateway": GatewaySettings,
}
#: Stand-ins for values that come from Secrets, valid for the settings' validators.
SECRET_STAND_INS = {
    "LEADERBOARD_INGEST_API_KEYS": "check:0123456789abcdef0123",
    "LEADERBOARD_INGEST_ADMIN_KEYS": "check-admin:fedcba9876543210fedc",
}


def _component(obj: dict[str, Any]) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def _settings(rendered: Rendered, deployment: dict[str, Any]) -> LeaderboardSettings:
    """The settings the service in this Deployment builds from its environment."""
    container = pod_spec(deployment)["containers"][0]
    env = env_of(container, config_maps(rendered))
    fields: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith("LEADERBOARD_"):
            continue
        if value.startswith("<secret:"):
            value = SECRET_STAND_INS.get(name, "stand-in-secret")
        fields[name.removeprefix("LEADERBOARD_").lower()] = value
    return SETTINGS[_component(deployment)](**fields)


def _secret_variables() -> set[str]:
    """Every LEADERBOARD_* variable that holds a secret (SecretStr fields)."""
    out = set()
    for settings_class in SETTINGS.values():
        for name, field in settings_class.model_fields.items():
            if "SecretStr" in repr(field.annotation) or field.annotation is SecretStr:
                out.add(f"LEADERBOARD_{name.upper()}")
    return out


def _pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def test_every_container_is_hardened_and_bounded(profile: Rendered) -> None:
    problems = []
    for workload in profile.workloads():
        spec = pod_spec(workload)
        pod_context = spec.get("securityContext", {})
        for container in all_containers(workload):
            where = f"{workload['kind']} {workload['metadata']['name']}/{container['name']}"
            context = container.get("securityContext", {})
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(kind, {}):
                        problems.append(f"{where}: no {resource} {kind}")
            if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot is not set")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation is allowed")
            if not _pinned(container["image"]):
                problems.append(f"{where}: image {container['image']!r} has no pinned tag")
    assert not problems, "\n".join(problems)


def test_every_long_running_container_has_liveness_and_readiness_probes(profile: Rendered) -> None:
    """Probes apply to the services (Deployments); a Job or test pod runs to completion and
    Kubernetes forbids probes on init containers."""
    for deployment in profile.of_kind("Deployment"):
        for container in pod_spec(deployment)["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                assert probe in container, f"{deployment['metadata']['name']} has no {probe}"
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_services_listen_on_all_interfaces_on_their_container_port(profile: Rendered) -> None:
    for deployment in profile.of_kind("Deployment"):
        component = _component(deployment)
        settings = _settings(profile, deployment)
        assert settings.http_host == "0.0.0.0", f"{component} binds loopback only"
        ports = pod_spec(deployment)["containers"][0]["ports"]
        assert [p["containerPort"] for p in ports] == [settings.http_port]


@pytest.mark.parametrize("component", sorted(SETTINGS))
def test_the_chart_s_default_port_is_the_service_s_own(component: str) -> None:
    # The chart passes its port as LEADERBOARD_HTTP_PORT, so a drift would still render
    # consistently; the two defaults (values.yaml and the settings class) must agree.
    values = load_yaml(CHART_DIR / "values.yaml")
    assert values[component]["port"] == SETTINGS[component].model_fields["http_port"].default


def _app(component: str, settings: LeaderboardSettings) -> FastAPI:
    factory = create_gateway_app if component == "gateway" else create_ingest_app
    return factory(settings, Metrics(component))  # type: ignore[arg-type]


def _routes(component: str, settings: LeaderboardSettings) -> set[str]:
    return {getattr(route, "path", "") for route in _app(component, settings).routes}


def _answered(component: str, settings: LeaderboardSettings, paths: set[str]) -> set[str]:
    """The ``paths`` the app answers (not 404), without starting it (no lifespan)."""
    client = TestClient(_app(component, settings))
    return {path for path in paths if client.get(path).status_code != 404}


def test_every_service_monitor_scrapes_a_port_that_serves_metrics(profile: Rendered) -> None:
    services = profile.of_kind("Service")
    deployments = profile.of_kind("Deployment")
    monitors = profile.of_kind("ServiceMonitor")
    assert {_component(m) for m in monitors} == {_component(d) for d in deployments}
    for monitor in monitors:
        wanted = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, f"{monitor['metadata']['name']} selects {len(matched)} Services"
        service = matched[0]
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["path"] == "/metrics"
            port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
            pods = [
                d
                for d in deployments
                if service["spec"]["selector"].items()
                <= d["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert len(pods) == 1, f"Service {service['metadata']['name']} selects no Deployment"
            deployment = pods[0]
            container_port = next(
                p
                for p in pod_spec(deployment)["containers"][0]["ports"]
                if p["name"] == port["targetPort"]
            )
            component = _component(deployment)
            settings = _settings(profile, deployment)
            assert container_port["containerPort"] == settings.http_port
            if component in ("gateway", "ingest"):
                # The web services mount the registry on their own app.
                probes = {"/metrics", "/livez", "/readyz"}
                assert _answered(component, settings, probes) == probes


def test_ingress_routes_the_page_and_the_websocket_to_the_gateway(profile: Rendered) -> None:
    ingresses = profile.of_kind("Ingress")
    assert len(ingresses) == 1
    ingress = ingresses[0]
    assert ingress["spec"]["ingressClassName"]
    gateway = profile.named("Service", "leaderboard-gateway")
    port_names = {p["name"] for p in gateway["spec"]["ports"]}
    paths = {
        path["path"]: path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]
    }
    deployment = profile.named("Deployment", "leaderboard-gateway")
    routes = _routes("gateway", _settings(profile, deployment))
    websocket_routes = [r for r in routes if r.startswith("/ws/")]
    assert websocket_routes, "the gateway app has no WebSocket route"
    for prefix in ("/", "/ws"):
        route = paths[prefix]
        assert route["pathType"] == "Prefix"
        assert route["backend"]["service"]["name"] == "leaderboard-gateway"
        assert route["backend"]["service"]["port"]["name"] in port_names
    assert all(r.startswith("/ws") for r in websocket_routes)


def test_optional_ingest_route_reaches_the_ingest_api(rendered: dict[str, Rendered]) -> None:
    options = rendered["all-options"]
    paths = [
        p
        for r in options.named("Ingress", "leaderboard")["spec"]["rules"]
        for p in r["http"]["paths"]
    ]
    ingest = next(p for p in paths if p["path"] == "/api/scores")
    assert ingest["backend"]["service"]["name"] == "leaderboard-ingest"
    assert "/api/scores" in _routes(
        "ingest", _settings(options, options.named("Deployment", "leaderboard-ingest"))
    )
    route = options.of_kind("HTTPRoute")[0]
    values = [m["path"]["value"] for rule in route["spec"]["rules"] for m in rule["matches"]]
    assert {"/", "/ws", "/api/scores"} <= set(values)


def test_kafka_topics_match_what_the_services_are_configured_to_use(profile: Rendered) -> None:
    topics = {t["spec"]["topicName"]: t for t in profile.of_kind("KafkaTopic")}
    if not any(o["kind"] == "Kafka" for o in profile.objects):
        assert not topics  # an external Kafka: topics are the operator's business
        return
    clusters = {k["metadata"]["name"] for k in profile.of_kind("Kafka")}
    specs_seen = set()
    for deployment in profile.of_kind("Deployment"):
        settings = _settings(profile, deployment)
        specs = topic_specs(settings)
        specs_seen.add(repr(specs))
        # The local stack's layout under the names the service reads; the score topic's
        # partitions and every topic's replicas are the chart's values.
        for spec in specs:
            assert spec.name in topics, (
                f"{_component(deployment)} uses {spec.name!r}: no KafkaTopic"
            )
            topic = topics[spec.name]
            if spec.name != settings.topic_game_score:
                assert topic["spec"]["partitions"] == spec.partitions, spec.name
            config = {k: str(v) for k, v in topic["spec"].get("config", {}).items()}
            assert dict(spec.config).items() <= config.items(), spec.name
            assert topic["metadata"]["labels"]["strimzi.io/cluster"] in clusters
        assert settings.kafka_bootstrap_servers == next(
            f"{name}-kafka-bootstrap.leaderboard.svc:9092" for name in clusters
        )
    assert len(specs_seen) == 1, "services disagree on the topic layout"
    assert len(topics) == len(specs)
    assert len({topic["spec"]["replicas"] for topic in topics.values()}) == 1


def test_secrets_never_appear_in_plain_values(profile: Rendered) -> None:
    secret_variables = _secret_variables()
    assert {
        "LEADERBOARD_REDIS_PASSWORD",
        "LEADERBOARD_POSTGRES_PASSWORD",
        "LEADERBOARD_INGEST_API_KEYS",
    } <= secret_variables
    for config_map in profile.of_kind("ConfigMap"):
        leaked = secret_variables & set(config_map.get("data", {}))
        assert not leaked, f"ConfigMap {config_map['metadata']['name']} holds {leaked}"
    for workload in profile.workloads():
        for container in all_containers(workload):
            for variable in container.get("env", []):
                if variable["name"] in secret_variables:
                    assert "secretKeyRef" in variable.get("valueFrom", {}), (
                        f"{workload['metadata']['name']}: {variable['name']} is not from a Secret"
                    )
                elif re.search(r"PASSWORD|API_KEY|TOKEN", variable["name"]):
                    raise AssertionError(f"unexpected secret-like variable {variable['name']}")


SECRET_KEY = re.compile(r"(password|passwd|token|apikey|api_key|secretvalue)$", re.IGNORECASE)


@pytest.mark.parametrize(
    "values_file",
    sorted(p.name for p in CHART_DIR.glob("values*.yaml")),
)
def test_values_files_hold_no_secret(values_file: str) -> None:
    def walk(node: Any, path: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}.{key}" if path else str(key)
                if SECRET_KEY.search(str(key)) and value not in (None, "", {}, []):
                    found.append(here)
                found += walk(value, here)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                found += walk(item, f"{path}[{index}]")
        return found

    assert not walk(load_yaml(CHART_DIR / values_file), ""), values_file


def test_pods_roll_when_configuration_or_secrets_change(profile: Rendered) -> None:
    for deployment in profile.of_kind("Deployment"):
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert re.fullmatch(r"[0-9a-f]{64}", annotations.get("checksum/config", ""))
        assert re.fullmatch(r"[0-9a-f]{64}", annotations.get("checksum/secrets", ""))


def test_disruption_budgets_and_autoscalers(profile: Rendered) -> None:
    budgets = {_component(p): p for p in profile.of_kind("PodDisruptionBudget")}
    scalers = {_component(h): h for h in profile.of_kind("HorizontalPodAutoscaler")}
    assert set(scalers) <= {"gateway", "ranker"}
    for deployment in profile.of_kind("Deployment"):
        component = _component(deployment)
        replicas = (
            scalers[component]["spec"]["minReplicas"]
            if component in scalers
            else deployment["spec"]["replicas"]
        )
        assert (component in budgets) == (replicas > 1), f"{component}: {replicas} replicas"
        if component in scalers:
            assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
            target = scalers[component]["spec"]["scaleTargetRef"]
            assert target["name"] == deployment["metadata"]["name"]


def test_network_policies_cover_every_pod(profile: Rendered) -> None:
    policies = profile.of_kind("NetworkPolicy")

    def selected(labels: dict[str, str]) -> bool:
        for policy in policies:
            selector = policy["spec"]["podSelector"]
            if not selector.get("matchLabels", {}).items() <= labels.items():
                continue
            if all(
                labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])
            ):
                return True
        return False

    for workload in profile.workloads():
        labels = (
            workload["metadata"]["labels"]
            if workload["kind"] == "Pod"
            else workload["spec"]["template"]["metadata"]["labels"]
        )
        assert selected(labels), (
            f"{workload['kind']} {workload['metadata']['name']} is unrestricted"
        )


def test_the_ingest_api_reaches_postgresql_with_the_archivers_password_and_its_admin_keys(
    profile: Rendered,
) -> None:
    # Board definitions live in the archive database: same Secret, same egress rule.
    def secret_refs(name: str) -> dict[str, dict[str, str]]:
        container = pod_spec(profile.named("Deployment", name))["containers"][0]
        return {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }

    ingest, archiver = secret_refs("leaderboard-ingest"), secret_refs("leaderboard-archiver")
    password = "LEADERBOARD_POSTGRES_PASSWORD"
    assert ingest[password] == archiver[password]
    admin = ingest["LEADERBOARD_INGEST_ADMIN_KEYS"]
    assert admin["name"] != ingest["LEADERBOARD_INGEST_API_KEYS"]["name"]
    secrets = {s["metadata"]["name"]: s for s in profile.of_kind("Secret")}
    if admin["name"] in secrets:  # generated by the chart (else the profile names its own)
        assert admin["key"] in secrets[admin["name"]]["data"]
    settings = _settings(profile, profile.named("Deployment", "leaderboard-ingest"))
    config = _settings(profile, profile.named("Deployment", "leaderboard-archiver"))
    assert (settings.postgres_host, settings.postgres_port) == (  # type: ignore[attr-defined]
        config.postgres_host,  # type: ignore[attr-defined]
        config.postgres_port,  # type: ignore[attr-defined]
    )
    egress = [
        policy["spec"].get("egress")
        for policy in profile.of_kind("NetworkPolicy")
        if policy["metadata"]["name"] in ("leaderboard-ingest", "leaderboard-archiver")
    ]
    assert len(egress) == 2
    assert egress[0] == egress[1]


@pytest.mark.parametrize("component", ["closer", "gateway"])
def test_the_closer_and_the_gateway_reach_postgresql_as_the_archiver_does(
    profile: Rendered, component: str
) -> None:
    # Closed periods' final standings live in the archive database: the closer writes
    # them, the gateway serves them. Same Secret, same database, same egress.
    def postgres_view(name: str) -> tuple[object, ...]:
        deployment = profile.named("Deployment", name)
        env = {e["name"]: e for e in pod_spec(deployment)["containers"][0].get("env", [])}
        config = env_of(pod_spec(deployment)["containers"][0], config_maps(profile))
        return (
            env.get("LEADERBOARD_POSTGRES_PASSWORD"),
            *(
                config.get(f"LEADERBOARD_POSTGRES_{key}")
                for key in ("HOST", "PORT", "USER", "DATABASE")
            ),
        )

    archiver = postgres_view("leaderboard-archiver")
    assert archiver[0] is not None
    assert all(archiver[1:]), archiver
    assert postgres_view(f"leaderboard-{component}") == archiver
    egress = {
        policy["metadata"]["name"]: policy["spec"].get("egress")
        for policy in profile.of_kind("NetworkPolicy")
    }
    assert egress.get(f"leaderboard-{component}") == egress.get("leaderboard-archiver")


def test_the_closer_reads_the_rankers_group_and_redis(profile: Rendered) -> None:
    # It waits for the rankers' stored offsets: their group, their Redis, their prefix.
    closer = _settings(profile, profile.named("Deployment", "leaderboard-closer"))
    ranker = _settings(profile, profile.named("Deployment", "leaderboard-ranker"))
    assert closer.closer_ranker_group_id == ranker.ranker_group_id  # type: ignore[attr-defined]
    for field in ("redis_host", "redis_port", "redis_key_prefix"):
        assert getattr(closer, field) == getattr(ranker, field), field
    env = pod_spec(profile.named("Deployment", "leaderboard-closer"))["containers"][0]["env"]
    ranker_env = pod_spec(profile.named("Deployment", "leaderboard-ranker"))["containers"][0]
    password = "LEADERBOARD_REDIS_PASSWORD"
    assert [e for e in env if e["name"] == password] == [
        e for e in ranker_env["env"] if e["name"] == password
    ]
    # One transactional id per deployment, so a new closer fences off an old one.
    assert closer.transactional_id == f"leaderboard-closer-{ranker.redis_key_prefix}"  # type: ignore[attr-defined]


def test_the_ingest_api_reaches_redis_as_the_ranker_does(profile: Rendered) -> None:
    # The admin API resets and moderates standings: the ranker's Redis, password and egress.
    def redis_view(name: str) -> tuple[object, ...]:
        deployment = profile.named("Deployment", name)
        env = {e["name"]: e for e in pod_spec(deployment)["containers"][0].get("env", [])}
        settings = _settings(profile, deployment)
        return (
            env.get("LEADERBOARD_REDIS_PASSWORD"),
            settings.redis_host,  # type: ignore[attr-defined]
            settings.redis_port,  # type: ignore[attr-defined]
            settings.redis_key_prefix,  # type: ignore[attr-defined]
        )

    assert redis_view("leaderboard-ingest") == redis_view("leaderboard-ranker")
    egress = {
        policy["metadata"]["name"]: policy["spec"].get("egress")
        for policy in profile.of_kind("NetworkPolicy")
    }
    assert egress.get("leaderboard-ingest") == egress.get("leaderboard-ranker")


def test_production_runs_three_kafka_nodes_with_replication_three_and_min_isr_two(
    rendered: dict[str, Rendered],
) -> None:
    production = rendered["production"]
    (pool,) = production.of_kind("KafkaNodePool")
    assert pool["spec"]["replicas"] == 3
    assert pool["spec"]["storage"]["type"] in ("persistent-claim", "jbod")
    (kafka,) = production.of_kind("Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    # The closer's transactions: their state log is replicated like every topic.
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    for topic in production.of_kind("KafkaTopic"):
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
    (pool,) = rendered["default"].of_kind("KafkaNodePool")
    assert pool["spec"]["replicas"] == 1
    assert pool["spec"]["roles"] == ["controller", "broker"]


def test_migration_runs_as_a_hook_before_the_archiver_needs_the_schema(
    rendered: dict[str, Rendered],
) -> None:
    for profile_name, phases in (
        ("default", "post-install,pre-upgrade"),
        ("external-datastores", "pre-install,pre-upgrade"),
    ):
        job = rendered[profile_name].named("Job", "leaderboard-migration")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == phases
        container = pod_spec(job)["containers"][0]
        assert container["image"].split(":")[0].endswith("leaderboard/archiver")
        assert container["command"][-2:] == ["-m", "leaderboard.archiver.migrate"]
    archiver = rendered["default"].named("Deployment", "leaderboard-archiver")
    assert _settings(rendered["default"], archiver).archiver_migrate_on_start is True
    archiver = rendered["external-datastores"].named("Deployment", "leaderboard-archiver")
    assert _settings(rendered["external-datastores"], archiver).archiver_migrate_on_start is False


def test_helm_test_pod_checks_the_gateway(profile: Rendered) -> None:
    (pod,) = profile.of_kind("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod_spec(pod)["containers"][0]["args"][0]
    assert "leaderboard-gateway.leaderboard.svc" in script
    assert "/ws/leaderboards/" in script
    compile(script, "helm-test", "exec")
    expects = "expect_snapshot = True" in script
    assert expects == any(_component(d) == "simulator" for d in profile.of_kind("Deployment"))


def test_bitnami_images_come_from_bitnamilegacy_with_insecure_images_allowed() -> None:
    values = load_yaml(CHART_DIR / "values.yaml")
    assert values["global"]["security"]["allowInsecureImages"] is True
    images = [
        values["redis"]["image"],
        values["redis"]["metrics"]["image"],
        values["redis"]["volumePermissions"]["image"],
        values["redis"]["sysctl"]["image"],
        values["postgresql"]["image"],
        values["postgresql"]["metrics"]["image"],
        values["postgresql"]["volumePermissions"]["image"],
    ]
    for image in images:
        assert image["repository"].startswith("bitnamilegacy/"), image
        assert image["tag"] not in ("", None, "latest"), image
    text = (CHART_DIR / "values.yaml").read_text()
    assert "August 2025" in text
    assert "bitnamilegacy" in text


def test_monitors_and_rules_carry_the_label_prometheus_selects(profile: Rendered) -> None:
    values = load_yaml(CHART_DIR / "values.yaml")
    labels = values["monitoring"]["labels"]
    releases = {r["name"]: r for r in load_yaml(K8S_DIR / "prerequisites.yaml")["releases"]}
    assert labels == {"release": "kube-prometheus-stack"}
    assert "kube-prometheus-stack" in releases
    assert values["redis"]["metrics"]["serviceMonitor"]["additionalLabels"] == labels
    assert values["postgresql"]["metrics"]["serviceMonitor"]["labels"] == labels
    for obj in profile.objects:
        if obj["kind"] in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
            assert labels.items() <= obj["metadata"]["labels"].items(), obj["metadata"]["name"]
