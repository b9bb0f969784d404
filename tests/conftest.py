"""Test environment: a temporary BentoML store and offline Hugging Face, set before any import uses them."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# TEST_BENTOML_HOME lets a developer reuse a test store across runs; by default a fresh temp dir, removed at the end
# (with the prepared default variants it holds close to 1 GB).
_OWN_STORE = not os.environ.get("TEST_BENTOML_HOME")
_STORE = os.environ.get("TEST_BENTOML_HOME") or tempfile.mkdtemp(prefix="scenario-serve-test-bentoml-")
os.environ["BENTOML_HOME"] = _STORE  # the suite never touches the user's model store
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from tests.helpers import write_tiny_bert  # noqa: E402

# Small but real budgets for the embedded default tasks (slow and e2e tests share the prepared store).
SENTIMENT_BUDGET: dict[str, float] = {}  # the catalog default: smaller budgets leave MiniLM unsure of plain positives
DIGITS_BUDGET = {"epochs": 4.0}


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_STORE:
        shutil.rmtree(_STORE, ignore_errors=True)


@pytest.fixture(scope="session")
def bentoml_home() -> Path:
    return Path(_STORE)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with the MiniLM tokenizer, saved the way Hugging Face saves models."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def default_variants() -> dict[str, dict]:
    """The default tasks prepared for real in the test store; later calls find them current."""
    from models.catalog import load_catalog
    from models.prepare import Options, prepare

    catalog = load_catalog()
    rows = prepare(catalog, ["sentiment"], Options(latency_runs=5, **SENTIMENT_BUDGET), log=print)
    rows += prepare(catalog, ["digits"], Options(latency_runs=5, **DIGITS_BUDGET), log=print)
    return {row.name: row.metadata for row in rows}
