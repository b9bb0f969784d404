"""`select` and `report` keep deploy/kubernetes/base in step: the routes the pods mount and the autoscaler's numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from models.cli import main
from models.deploy_sync import (
    AUTOSCALER_PATCH,
    DEFAULT_DEPLOY_BASE,
    DEPLOYED_SELECTION,
    autoscaler_patch_text,
    deploy_base_for,
    routing_only,
    write_if_changed,
)
from service.config import DEFAULT_SELECTION
from service.contracts.report import AutoscalerBounds, CapacityPlan

DATA = Path(__file__).resolve().parents[1] / "data" / "report"


def plan(peak_rps: float | None = 200.0, max_replicas: int | None = 4) -> CapacityPlan:
    bounds = AutoscalerBounds(
        task="sentiment", scenario="realtime", threshold_rps=50.5, min_replicas=1, max_replicas=max_replicas
    )
    return CapacityPlan(headroom=0.3, peak_rps=peak_rps, rows=[], autoscaler=bounds)


def test_the_pods_routes_are_the_selection_without_evidence() -> None:
    selection = {
        "generated_at": "t",
        "tasks": {"a": {"default_scenario": "x", "scenarios": {"x": {"variant": "v", "evidence": {"big": 1}}}}},
    }
    assert routing_only(selection) == {
        "generated_at": "t",
        "tasks": {"a": {"default_scenario": "x", "scenarios": {"x": {"variant": "v"}}}},
    }
    assert selection["tasks"]["a"]["scenarios"]["x"]["evidence"] == {"big": 1}  # the input is left as it was


def test_the_autoscaler_patch_sets_every_number_from_the_plan() -> None:
    text = autoscaler_patch_text(plan())
    assert text.startswith("# Written by `scenario-serve report --peak-rps 200`")
    assert {op["path"]: op["value"] for op in yaml.safe_load(text)} == {
        "/spec/minReplicaCount": 1,
        "/spec/maxReplicaCount": 4,
        "/spec/fallback/replicas": 4,
        "/spec/triggers/0/metadata/threshold": "50.5",  # KEDA reads the threshold as a string
    }
    for partial in (plan(peak_rps=None, max_replicas=None), plan(max_replicas=None)):
        with pytest.raises(ValueError, match="--peak-rps"):
            autoscaler_patch_text(partial)


def test_files_are_written_only_when_their_content_changes(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    assert write_if_changed(path, "a") and path.read_text() == "a"
    mtime = path.stat().st_mtime_ns
    assert not write_if_changed(path, "a") and path.stat().st_mtime_ns == mtime
    assert write_if_changed(path, "b") and path.read_text() == "b"


def test_only_the_service_selection_is_deployed(tmp_path: Path) -> None:
    assert deploy_base_for(DEFAULT_SELECTION) == DEFAULT_DEPLOY_BASE
    assert deploy_base_for(tmp_path / "selection.json") is None  # a comparison written elsewhere
    assert deploy_base_for(DEFAULT_SELECTION, tmp_path / "missing") is None
    assert deploy_base_for(DEFAULT_SELECTION, None) is None


@pytest.fixture
def deploy_base(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    base.mkdir()
    return base


def select_args(out: Path, *extra: str) -> list[str]:
    data = ["--measurements", str(DATA / "measurements.json"), "--scenarios", str(DATA / "scenarios.yaml")]
    return ["select", *data, "--out", str(out), "--no-bentofile", *extra]


def test_select_and_report_write_the_deploy_base(
    tmp_path: Path, deploy_base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "selection.json"
    assert main(select_args(out, "--deploy-base", str(deploy_base))) == 0
    mounted = json.loads((deploy_base / DEPLOYED_SELECTION).read_text())
    assert mounted == routing_only(json.loads(out.read_text()))
    assert "the routes the pods mount updated" in capsys.readouterr().out
    assert main(select_args(out, "--deploy-base", str(deploy_base))) == 0
    assert "the routes the pods mount" not in capsys.readouterr().out  # unchanged: not rewritten

    report = ["report", "--measurements", str(DATA / "measurements.json"), "--selection", str(out)]
    report += ["--out", str(tmp_path / "reports"), "--deploy-base", str(deploy_base)]
    assert main(report) == 0
    assert "autoscaler.yaml: left as it is (the autoscaler's maximum needs --peak-rps)" in capsys.readouterr().out
    assert not (deploy_base / AUTOSCALER_PATCH).exists()
    assert main([*report, "--peak-rps", "400"]) == 0
    assert "autoscaler's threshold and replica bounds updated" in capsys.readouterr().out
    written = json.loads((tmp_path / "reports" / "report.json").read_text())["capacity"]
    expected = autoscaler_patch_text(CapacityPlan.model_validate(written))
    assert (deploy_base / AUTOSCALER_PATCH).read_text() == expected


def test_a_selection_written_elsewhere_leaves_the_deployment_alone(tmp_path: Path) -> None:
    before = {path.name: path.read_bytes() for path in DEFAULT_DEPLOY_BASE.iterdir()}
    out = tmp_path / "selection.json"
    assert main(select_args(out)) == 0  # the default deploy base, but not the service's selection file
    report = ["report", "--measurements", str(DATA / "measurements.json"), "--selection", str(out)]
    assert main([*report, "--out", str(tmp_path / "reports"), "--peak-rps", "400"]) == 0
    assert {path.name: path.read_bytes() for path in DEFAULT_DEPLOY_BASE.iterdir()} == before


def test_no_deploy_leaves_even_an_explicit_base_alone(tmp_path: Path, deploy_base: Path) -> None:
    shutil.copy(DEFAULT_DEPLOY_BASE / DEPLOYED_SELECTION, deploy_base / DEPLOYED_SELECTION)
    before = (deploy_base / DEPLOYED_SELECTION).read_bytes()
    args = select_args(tmp_path / "selection.json", "--deploy-base", str(deploy_base), "--no-deploy")
    assert main(args) == 0
    assert (deploy_base / DEPLOYED_SELECTION).read_bytes() == before


def test_a_deploy_base_that_is_not_a_directory_fails_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "selection.json"
    assert main(select_args(out, "--deploy-base", str(tmp_path / "nowhere"))) == 1
    assert f"--deploy-base {tmp_path / 'nowhere'}: not a directory" in capsys.readouterr().err
    assert not out.exists()
