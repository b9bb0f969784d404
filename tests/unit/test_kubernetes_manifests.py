"""deploy/kubernetes: the base and the example overlay render with `kubectl kustomize`, every object validates
offline (Kubernetes' own JSON schemas for built-in kinds, models generated from the KEDA and Prometheus Operator
CRDs for theirs), and the objects agree with each other, with the image's routing file and with the capacity plan.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from models.deploy_sync import AUTOSCALER_PATCH, DEPLOYED_SELECTION, autoscaler_patch_text, deployed_selection_text
from models.report.capacity import CapacityPlan, capacity_plan
from service.routing import load_selection, parse_selection
from tests.manifests import BASE, OVERLAY, REPO, Manifest, autoscaler_query, one, prometheus_trigger, render

KUBERNETES_VERSIONS = ("1.30", "1.37")  # the oldest and newest minor versions the manifests are checked against
CUSTOM_KINDS = ("ScaledObject", "ServiceMonitor")
SELECTION_DIR = "/etc/scenario-serve"

Roundtrip = Callable[[Manifest], Manifest]


@pytest.fixture(scope="module")
def overlay() -> list[Manifest]:
    return render(OVERLAY)


@pytest.fixture(scope="module", params=["base", "overlay"])
def rendered(request: pytest.FixtureRequest, overlay: list[Manifest]) -> list[Manifest]:
    return render(BASE) if request.param == "base" else overlay


@pytest.fixture(scope="module")
def crd_roundtrip() -> Roundtrip:
    """Parse a custom resource with the model generated from its CRD and dump it back: a field the CRD does not
    know is dropped (so the dump differs), a wrong type fails. Imported here: the models take seconds to load."""
    from cloudcoil.models.keda.v1alpha1 import ScaledObject
    from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor

    models = {"ScaledObject": ScaledObject, "ServiceMonitor": ServiceMonitor}

    def roundtrip(manifest: Manifest) -> Manifest:
        parsed = models[manifest["kind"]].model_validate(manifest)
        return parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")

    return roundtrip


def container(objects: list[Manifest]) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def label_matchers(query: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', query))


# --- render and validate ----------------------------------------------------------------------------------------


def test_overlay_renders_every_object(overlay: list[Manifest]) -> None:
    kinds = sorted(item["kind"] for item in overlay)
    assert kinds == sorted(
        ["Namespace", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "ServiceMonitor", "ScaledObject"]
    )
    namespaced = [item for item in overlay if item["kind"] != "Namespace"]
    assert {item["metadata"]["namespace"] for item in namespaced} == {one(overlay, "Namespace")["metadata"]["name"]}
    assert container(overlay)["image"] == "registry.example.com/ml/scenario-serve:0.1.0"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_in_objects_validate_against_the_kubernetes_schemas(rendered: list[Manifest], version: str) -> None:
    for manifest in rendered:
        if manifest["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(manifest, version, strict=True)  # strict: unknown fields are errors


def test_custom_resources_validate_against_their_crds(rendered: list[Manifest], crd_roundtrip: Roundtrip) -> None:
    for kind in CUSTOM_KINDS:
        manifest = one(rendered, kind)
        assert crd_roundtrip(manifest) == manifest, f"{kind} has fields its CRD does not define"


def test_validation_catches_misspelt_fields(overlay: list[Manifest], crd_roundtrip: Roundtrip) -> None:
    deployment = copy.deepcopy(one(overlay, "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)
    scaled = copy.deepcopy(one(overlay, "ScaledObject"))
    scaled["spec"]["maxReplicas"] = 3  # KEDA's field is maxReplicaCount
    assert crd_roundtrip(scaled) != scaled


# --- the objects agree with each other and with the service ------------------------------------------------------


def test_probes_resources_and_the_mounted_selection(overlay: list[Manifest]) -> None:
    main = container(overlay)
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert main["resources"]["requests"] == main["resources"]["limits"]  # Guaranteed QoS, as measured
    env = {item["name"]: item["value"] for item in main["env"]}
    assert env["SCENARIO_SERVE_SELECTION_PATH"] == f"{SELECTION_DIR}/selection.json"
    assert float(env["SCENARIO_SERVE_WATCH_SELECTION_S"]) > 0
    mount = next(m for m in main["volumeMounts"] if m["mountPath"] == SELECTION_DIR)
    assert "subPath" not in mount  # a subPath mount never sees the ConfigMap's updates
    volumes = one(overlay, "Deployment")["spec"]["template"]["spec"]["volumes"]
    source = next(v for v in volumes if v["name"] == mount["name"])["configMap"]["name"]
    assert source == one(overlay, "ConfigMap")["metadata"]["name"]  # no hash suffix: updated in place


def test_mounted_selection_is_the_service_routing_without_evidence(overlay: list[Manifest]) -> None:
    text = one(overlay, "ConfigMap")["data"]["selection.json"]
    mounted = parse_selection(json.loads(text), source="the ConfigMap's selection.json")
    expected = load_selection(REPO / "service" / "selection.json").model_dump(mode="json")
    for task in expected["tasks"].values():
        for scenario in task["scenarios"].values():
            scenario["evidence"] = {}
    assert mounted.model_dump(mode="json") == expected, (
        "deploy/kubernetes/base/selection.json differs from service/selection.json; `scenario-serve select` writes it"
    )
    packed = yaml.safe_load((REPO / "bentofile.yaml").read_text(encoding="utf-8"))["models"]
    assert set(mounted.routed_variants()) <= {tag.removesuffix(":latest") for tag in packed}  # all in the image


def test_selectors_tie_the_objects_together(overlay: list[Manifest]) -> None:
    deployment, service = one(overlay, "Deployment"), one(overlay, "Service")
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    selected = deployment["spec"]["selector"]["matchLabels"]
    assert selected.items() <= pods.items()
    assert service["spec"]["selector"].items() <= pods.items()
    assert one(overlay, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selected
    monitor = one(overlay, "ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert one(overlay, "ScaledObject")["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_autoscaler_query_selects_the_deployed_namespace_and_job(rendered: list[Manifest]) -> None:
    """Prometheus Operator labels the series with the namespace and, by `jobLabel`, the Service's label value."""
    matchers = label_matchers(autoscaler_query(rendered))
    service, monitor = one(rendered, "Service"), one(rendered, "ServiceMonitor")
    assert matchers["namespace"] == service["metadata"]["namespace"]
    assert matchers["job"] == service["metadata"]["labels"][monitor["spec"]["jobLabel"]]


def test_autoscaler_bounds_come_from_the_capacity_plan(overlay: list[Manifest]) -> None:
    reported = CapacityPlan.model_validate(load_json(REPO / "reports" / "report.json")["capacity"])
    selection = load_selection(REPO / "service" / "selection.json").model_dump(mode="json")
    current = capacity_plan(selection, peak_rps=reported.peak_rps, headroom=reported.headroom)
    assert reported == current, (
        "reports/report.json is not the capacity plan of service/selection.json: "
        f"run `scenario-serve report --peak-rps {reported.peak_rps}`"
    )
    bounds = current.autoscaler
    assert bounds is not None and bounds.max_replicas is not None, "report rendered without --peak-rps"
    spec = one(overlay, "ScaledObject")["spec"]
    assert float(prometheus_trigger(overlay)["threshold"]) == bounds.threshold_rps
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (bounds.min_replicas, bounds.max_replicas)
    assert spec["fallback"]["replicas"] == bounds.max_replicas


def test_the_base_holds_what_select_and_report_write() -> None:
    """The generated files, byte for byte: a hand edit would be lost at the next `make run`."""
    plan = CapacityPlan.model_validate(load_json(REPO / "reports" / "report.json")["capacity"])
    assert (BASE / AUTOSCALER_PATCH).read_text(encoding="utf-8") == autoscaler_patch_text(plan), (
        f"deploy/kubernetes/base/autoscaler.yaml: run `scenario-serve report --peak-rps {plan.peak_rps:g}`"
    )
    selection = load_json(REPO / "service" / "selection.json")
    assert (BASE / DEPLOYED_SELECTION).read_text(encoding="utf-8") == deployed_selection_text(selection), (
        "deploy/kubernetes/base/selection.json: run `scenario-serve select`"
    )


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
