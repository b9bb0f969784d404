"""Keeps `deploy/kubernetes/base` in step with what `select` and `report` decided, so that a re-measured machine's
`make run` leaves a deployable (and testable) checkout: the mounted routing file `selection.json` (the service's
selection without its evidence) and the ScaledObject's numbers in `autoscaler.yaml` (a JSON patch, from the capacity
plan's autoscaler bounds). Each file is written only when its content changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from service.config import DEFAULT_SELECTION
from service.contracts.report import AutoscalerBounds, CapacityPlan

DEFAULT_DEPLOY_BASE = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes" / "base"
DEPLOYED_SELECTION = "selection.json"
AUTOSCALER_PATCH = "autoscaler.yaml"


def deploy_base_for(selection_path: Path, deploy_base: Path | None = DEFAULT_DEPLOY_BASE) -> Path | None:
    """The deploy base to keep in step with `selection_path`: only the service's own selection file is deployed
    (a selection written elsewhere, e.g. to compare, leaves the deployment alone)."""
    if deploy_base is None or not deploy_base.is_dir():
        return None
    return deploy_base if Path(selection_path).resolve() == DEFAULT_SELECTION.resolve() else None


def routing_only(selection: Mapping[str, Any]) -> dict[str, Any]:
    """The selection as the pods read it: every route's pick and fallbacks, without the evidence."""
    tasks = {
        task: {
            **entry,
            "scenarios": {
                name: {key: value for key, value in scenario.items() if key != "evidence"}
                for name, scenario in entry["scenarios"].items()
            },
        }
        for task, entry in selection["tasks"].items()
    }
    return {**selection, "tasks": tasks}


def deployed_selection_text(selection: Mapping[str, Any]) -> str:
    return json.dumps(routing_only(selection), indent=2) + "\n"


def autoscaler_patch_text(plan: CapacityPlan) -> str:
    """The ScaledObject's numbers as a JSON patch (kustomize `patches`), with where each comes from."""
    bounds = plan.autoscaler
    if bounds is None or bounds.max_replicas is None or plan.peak_rps is None:
        raise ValueError("the capacity plan has no autoscaler bounds: render the report with --peak-rps")
    header = autoscaler_comment(bounds, plan)
    operations = [
        {"op": "add", "path": "/spec/minReplicaCount", "value": bounds.min_replicas},
        {"op": "add", "path": "/spec/maxReplicaCount", "value": bounds.max_replicas},
        {"op": "add", "path": "/spec/fallback/replicas", "value": bounds.max_replicas},
        {"op": "add", "path": "/spec/triggers/0/metadata/threshold", "value": str(bounds.threshold_rps)},
    ]
    return header + yaml.safe_dump(operations, sort_keys=False)


def autoscaler_comment(bounds: AutoscalerBounds, plan: CapacityPlan) -> str:
    lines = [
        f"Written by `scenario-serve report --peak-rps {plan.peak_rps:g}` from its capacity plan (report.json's",
        f'"capacity.autoscaler", headroom {plan.headroom:g}); the next report rewrites it. The ScaledObject\'s:',
        f"- threshold: the lowest usable per-replica rate of a server scenario ({bounds.task} {bounds.scenario}), "
        f"{bounds.threshold_rps:g} rps per pod",
        "- minReplicaCount: the most replicas a server scenario needs at its target rate",
        f"- maxReplicaCount and fallback.replicas: the most a server scenario needs at the peak, {plan.peak_rps:g} rps",
    ]
    return "".join(f"# {line}\n" for line in lines)


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it holds it already; True when the file changed."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    path.write_text(text, encoding="utf-8")
    return True


def sync_deployed_selection(deploy_base: Path, selection: Mapping[str, Any]) -> bool:
    return write_if_changed(deploy_base / DEPLOYED_SELECTION, deployed_selection_text(selection))


def sync_autoscaler(deploy_base: Path, plan: CapacityPlan) -> bool:
    return write_if_changed(deploy_base / AUTOSCALER_PATCH, autoscaler_patch_text(plan))
