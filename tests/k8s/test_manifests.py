"""Every rendered object against its schema, unknown fields rejected: built-in kinds
against the Kubernetes JSON schemas of a current release (kubernetes-validate), Strimzi
and Prometheus Operator resources against the OpenAPI schemas of their upstream CRDs."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.k8s.harness import Rendered, strict_schema

#: The newest Kubernetes release whose schemas kubernetes-validate bundles.
KUBERNETES_VERSION = kubernetes_validate.latest_version()
#: Kinds validated against the shared CRDs.
CUSTOM_KINDS = {
    ("kafka.strimzi.io/v1", "Kafka"),
    ("kafka.strimzi.io/v1", "KafkaNodePool"),
    ("kafka.strimzi.io/v1", "KafkaTopic"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
#: Gateway API: no schema is available offline; checked structurally below.
GATEWAY_API = ("gateway.networking.k8s.io/v1", "HTTPRoute")


def _describe(error: Exception) -> str:
    path = "/".join(str(p) for p in getattr(error, "absolute_path", []))
    return f"at {path or '/'}: {getattr(error, 'message', error)}"


def test_builtin_objects_match_the_kubernetes_schemas(profile: Rendered) -> None:
    problems = []
    for obj in profile.objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in CUSTOM_KINDS or key == GATEWAY_API:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{obj['kind']} {obj['metadata']['name']} {_describe(error)}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(
                f"{obj['kind']} {obj['apiVersion']}: not a Kubernetes {KUBERNETES_VERSION} kind"
            )
    assert not problems, "\n".join(problems)


def test_custom_resources_match_their_crds(profile: Rendered, crd_schemas: dict) -> None:
    problems = []
    checked = 0
    for obj in profile.objects:
        key = (obj["apiVersion"], obj["kind"])
        if key not in CUSTOM_KINDS:
            continue
        schema = crd_schemas.get(key)
        assert schema is not None, f"no served CRD version for {key}"
        validator = jsonschema.Draft7Validator(strict_schema(schema))
        for error in validator.iter_errors(obj):
            problems.append(f"{obj['kind']} {obj['metadata']['name']} {_describe(error)}")
        checked += 1
    assert not problems, "\n".join(problems)
    if profile.profile != "all-options":  # the only profile without the Strimzi resources
        assert checked >= 6


def test_strict_crd_validation_rejects_an_unknown_field(crd_schemas: dict) -> None:
    topic: dict[str, Any] = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": "t"},
        "spec": {"partitions": 1, "replica": 1},
    }
    schema = strict_schema(crd_schemas[("kafka.strimzi.io/v1", "KafkaTopic")])
    with pytest.raises(jsonschema.ValidationError, match="replica"):
        jsonschema.validate(topic, schema)


def test_strimzi_resources_use_only_the_v1_api(profile: Rendered, crd_schemas: dict) -> None:
    served = {api for api, _ in crd_schemas if api.startswith("kafka.strimzi.io/")}
    assert served == {"kafka.strimzi.io/v1"}
    for obj in profile.objects:
        if obj["apiVersion"].startswith("kafka.strimzi.io/"):
            assert obj["apiVersion"] == "kafka.strimzi.io/v1"


def test_strimzi_cel_rules_hold(profile: Rendered) -> None:
    """The CRDs' x-kubernetes-validations (CEL, not checked by jsonschema) that apply."""
    for kafka in profile.of_kind("Kafka"):
        metrics = kafka["spec"]["kafka"].get("metricsConfig")
        if metrics and metrics["type"] == "jmxPrometheusExporter":
            assert "valueFrom" in metrics
    for pool in profile.of_kind("KafkaNodePool"):
        assert "strimzi.io/cluster" in pool["metadata"]["labels"]
        storage = pool["spec"]["storage"]
        if storage["type"] == "jbod":
            assert all("id" in volume for volume in storage["volumes"])


def test_http_route_is_well_formed(rendered: dict[str, Rendered]) -> None:
    """No Gateway API schema exists offline: the route's shape is checked by hand."""
    routes = rendered["all-options"].of_kind("HTTPRoute")
    assert len(routes) == 1
    route = routes[0]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert set(route["spec"]) <= {"parentRefs", "hostnames", "rules"}
    assert all("name" in ref for ref in route["spec"]["parentRefs"])
    for rule in route["spec"]["rules"]:
        assert set(rule) <= {"matches", "backendRefs", "timeouts", "filters"}
        for match in rule["matches"]:
            assert match["path"]["type"] in ("Exact", "PathPrefix")
        for backend in rule["backendRefs"]:
            assert set(backend) == {"name", "port"}
        if "timeouts" in rule:
            assert set(rule["timeouts"]) <= {"request", "backendRequest"}
    for profile_name in ("default", "production"):
        assert not rendered[profile_name].of_kind("HTTPRoute")
