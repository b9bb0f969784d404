"""ServiceConfig: validated once from SCENARIO_SERVE_* variables; errors name the variable; the limits are
documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.config import DEFAULT_SELECTION, ConfigError, ServiceConfig
from service.routing import load_selection

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults():
    config = ServiceConfig.from_env({})
    assert config.selection_path == DEFAULT_SELECTION
    assert (config.threads, config.max_items, config.max_text_chars) == (1, 64, 2000)
    assert (config.max_image_bytes, config.max_image_pixels) == (5 * 1024 * 1024, 4096 * 4096)
    assert (config.max_batch_size, config.max_latency_ms, config.variants) == (32, 0.0, None)
    assert (config.max_queue_items, config.max_queue_wait_ms, config.max_batch_tokens) == (256, 50.0, 2048)
    assert (config.shedding_queue_wait_ms, config.shedding_hold_s) == (10.0, 1.0)


def test_values_from_environment():
    config = ServiceConfig.from_env(
        {
            "SCENARIO_SERVE_THREADS": "2",
            "SCENARIO_SERVE_MAX_LATENCY_MS": "0",
            "SCENARIO_SERVE_VARIANTS": " a-b , c-d ,",
            "SCENARIO_SERVE_SELECTION_PATH": "/tmp/x.json",
            "OTHER": "ignored",
        }
    )
    assert (config.threads, config.max_latency_ms, config.variants) == (2, 0.0, ("a-b", "c-d"))
    assert config.selection_path == Path("/tmp/x.json")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SCENARIO_SERVE_THREADS": "0"}, "SCENARIO_SERVE_THREADS"),
        ({"SCENARIO_SERVE_MAX_ITEMS": "many"}, "SCENARIO_SERVE_MAX_ITEMS"),
        ({"SCENARIO_SERVE_MAX_ITEM": "3"}, "SCENARIO_SERVE_MAX_ITEM"),
    ],
)
def test_errors_name_the_variable(environ, named):
    with pytest.raises(ConfigError, match=named):
        ServiceConfig.from_env(environ)


def test_checked_in_selection_file_is_valid_and_never_routes_across_tasks():
    selection = load_selection(DEFAULT_SELECTION)
    assert selection.generated_by == "scenario-serve select"  # generated from measurements, not hand-written
    assert set(selection.tasks) == {"sentiment", "digits"}
    for task_name, task in selection.tasks.items():
        assert set(task.scenarios) == {"realtime", "interactive", "batch", "edge", "accuracy"}
        assert task.default_scenario == "realtime"
        for scenario in task.scenarios.values():
            assert all(name.startswith(f"{task_name}-") for name in scenario.chain)
            evidence = scenario.select_evidence()
            assert evidence is not None and evidence.feasible is True, scenario.evidence


def test_bentofile_packs_every_routed_variant():
    import yaml

    bentofile = yaml.safe_load((Path(__file__).resolve().parents[2] / "bentofile.yaml").read_text(encoding="utf-8"))
    assert bentofile["service"] == "service.app:ScenarioService"
    packed = [tag.removesuffix(":latest") for tag in bentofile["models"]]
    assert sorted(packed) == sorted(load_selection(DEFAULT_SELECTION).routed_variants())


def test_admin_token_is_secret_and_empty_means_off():
    assert ServiceConfig.from_env({}).admin_token is None
    assert ServiceConfig.from_env({"SCENARIO_SERVE_ADMIN_TOKEN": ""}).admin_token is None
    config = ServiceConfig.from_env({"SCENARIO_SERVE_ADMIN_TOKEN": "s3cret-Token_42"})
    assert config.admin_token is not None and config.admin_token.get_secret_value() == "s3cret-Token_42"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())
    assert ServiceConfig.from_env({}).watch_selection_s == 0.0
    assert ServiceConfig.from_env({"SCENARIO_SERVE_WATCH_SELECTION_S": "2.5"}).watch_selection_s == 2.5


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SCENARIO_SERVE_ADMIN_TOKEN": "with space"}, "SCENARIO_SERVE_ADMIN_TOKEN"),
        ({"SCENARIO_SERVE_ADMIN_TOKEN": "tök"}, "SCENARIO_SERVE_ADMIN_TOKEN"),
        ({"SCENARIO_SERVE_WATCH_SELECTION_S": "-1"}, "SCENARIO_SERVE_WATCH_SELECTION_S"),
    ],
)
def test_reload_settings_errors_name_the_variable(environ, named):
    with pytest.raises(ConfigError, match=named) as raised:
        ServiceConfig.from_env(environ)
    assert "with space" not in str(raised.value) and "tök" not in str(raised.value)  # the value is not echoed


def test_the_deadline_answers_before_bentomls_traffic_timeout() -> None:
    from service.app import ScenarioService

    assert ServiceConfig().request_timeout_s < ScenarioService.config["traffic"]["timeout"]


def test_the_limit_settings_are_in_the_readme() -> None:
    documented = set(re.findall(r"`(SCENARIO_SERVE_[A-Z_]+)`", README.read_text(encoding="utf-8")))
    limits = (
        "max_items",
        "max_text_chars",
        "max_image_bytes",
        "max_image_pixels",
        "max_request_pixels",
        "max_inflight_pixels",
        "max_body_bytes",
        "request_timeout_s",
    )
    assert {ServiceConfig.env_name(name) for name in limits} <= documented
    assert "## Limits and failure behaviour" in README.read_text(encoding="utf-8")
