"""At tracing sample rate 0 the classify endpoints get no spans (service.telemetry); traced when it is above 0."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from service.paths import CLASSIFY_PATHS
from service.telemetry import skip_unexported_spans
from tests.fake_bentoml_config import Setting


@dataclass
class Built:
    resets: int = 0
    builds: int = 0

    def reset(self) -> None:
        self.resets += 1

    def get(self) -> None:
        self.builds += 1


@dataclass
class Tracing:
    sample_rate: Setting
    excluded_urls: Setting


@dataclass
class Container:
    config: Any
    tracing_excluded_urls: Built = field(default_factory=Built)


def container(rate: float | None, excluded: Any) -> Container:
    @dataclass
    class Config:
        tracing: Tracing

    return Container(Config(Tracing(Setting(rate), Setting(excluded))))


@pytest.mark.parametrize("rate", [None, 0, 0.0])
def test_classify_paths_are_excluded_when_nothing_is_sampled(rate: float | None) -> None:
    bento = container(rate, "/healthz, /v1/models")
    assert skip_unexported_spans(bento) is True
    assert bento.config.tracing.excluded_urls.get() == ["/healthz", "/v1/models", *CLASSIFY_PATHS]  # kept
    assert (bento.tracing_excluded_urls.resets, bento.tracing_excluded_urls.builds) == (1, 1)  # rebuilt now
    skip_unexported_spans(bento)
    assert bento.config.tracing.excluded_urls.get() == ["/healthz", "/v1/models", *CLASSIFY_PATHS]  # once


def test_nothing_changes_when_tracing_is_on() -> None:
    bento = container(0.1, None)
    assert skip_unexported_spans(bento) is False
    assert bento.config.tracing.excluded_urls.get() is None
    assert bento.tracing_excluded_urls.resets == 0


def test_the_service_excludes_them_from_bentoml_tracing_by_default() -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer

    from service.app import ScenarioService

    ScenarioService.to_asgi()  # BentoML reloads its configuration here: the exclusion must outlive it
    excluded = BentoMLContainer.tracing_excluded_urls.get()
    assert excluded.url_disabled("http://127.0.0.1:3000/v1/text/classify")
    assert excluded.url_disabled("http://127.0.0.1:3000/v1/image/classify")
    assert not excluded.url_disabled("http://127.0.0.1:3000/v1/models")
