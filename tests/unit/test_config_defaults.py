"""Every configuration default has one definition: ServiceConfig's, for serving; PREPARE_THREADS, for prepare.

Library defaults refer to `service.config.DEFAULTS` instead of repeating numbers, and README's configuration table
states ServiceConfig's defaults.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from models.cli import build_parser
from models.prepare import PREPARE_THREADS, Options
from service.batching import BatchLimits
from service.classifier import build_preparer, load_classifier
from service.config import DEFAULTS, ServiceConfig
from service.registry import batch_limits

README = Path(__file__).resolve().parents[2] / "README.md"
CONFIG_ROW = re.compile(r"^\| `SCENARIO_SERVE_(\w+)` \| ([^|]+) \|", re.MULTILINE)


def test_defaults_are_the_environment_free_config() -> None:
    assert DEFAULTS == ServiceConfig.from_env({})


def test_a_batcher_without_settings_batches_as_the_service_does() -> None:
    assert BatchLimits() == batch_limits(DEFAULTS)


def test_a_classifier_loaded_without_settings_runs_as_the_service_does() -> None:
    loading = inspect.signature(load_classifier).parameters
    assert (loading["threads"].default, loading["max_batch_tokens"].default) == (
        DEFAULTS.threads,
        DEFAULTS.max_batch_tokens,
    )
    assert inspect.signature(build_preparer).parameters["max_batch_tokens"].default == DEFAULTS.max_batch_tokens


def readme_defaults() -> dict[str, str]:
    return {name.lower(): default.strip() for name, default in CONFIG_ROW.findall(README.read_text(encoding="utf-8"))}


def test_readme_documents_every_setting() -> None:
    documented = set(readme_defaults())
    missing = [ServiceConfig.env_name(field) for field in ServiceConfig.model_fields if field not in documented]
    unknown = [ServiceConfig.env_name(field) for field in documented - set(ServiceConfig.model_fields)]
    assert (missing, unknown) == ([], []), "README's configuration table lacks the first, documents unknown second"


@pytest.mark.parametrize("field", sorted(ServiceConfig.model_fields))
def test_readme_states_the_default(field: str) -> None:
    stated = readme_defaults().get(field)
    assert stated is not None, f"README's configuration table has no row for {ServiceConfig.env_name(field)}"
    default = getattr(DEFAULTS, field)
    if isinstance(default, Path):
        assert default.as_posix().endswith("/" + stated.strip("`")), f"README: {stated}; ServiceConfig: {default}"
    elif isinstance(default, bool):
        assert stated.strip("`").lower() == str(default).lower(), f"README: {stated!r}; ServiceConfig: {default}"
    elif default is None:
        assert not re.match(r"\d", stated), f"README states {stated}; ServiceConfig has no default"
    else:
        number = re.match(r"[\d.]+", stated)
        assert number and float(number.group()) == default, f"README: {stated!r}; ServiceConfig: {default}"


def test_prepare_threads_default_is_named_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert Options().threads == PREPARE_THREADS
    assert build_parser().parse_args(["prepare"]).threads is None  # not given: Options' default applies
    with pytest.raises(SystemExit):
        build_parser().parse_args(["prepare", "--help"])
    assert f"PREPARE_THREADS, {PREPARE_THREADS}:" in " ".join(capsys.readouterr().out.split())


def test_prepare_refuses_zero_threads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["prepare", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "--threads: must be a whole number of at least 1, not 0" in capsys.readouterr().err
