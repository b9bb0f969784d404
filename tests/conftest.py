"""Test environment: a temporary BentoML store and offline Hugging Face, set before any import uses them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_STORE = tempfile.mkdtemp(prefix="scenario-serve-test-bentoml-")
os.environ["BENTOML_HOME"] = _STORE  # the suite never touches the user's model store
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from tests.helpers import write_tiny_bert  # noqa: E402


@pytest.fixture(scope="session")
def bentoml_home() -> Path:
    return Path(_STORE)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with the MiniLM tokenizer, saved the way Hugging Face saves models."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
