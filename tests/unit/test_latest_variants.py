"""The one listing of stored variants (`service.model_store.latest_variants`): what the service loads from and
`measure` measures (through `models.store.list_variants`): the latest version of each, prepare's only."""

from __future__ import annotations

from collections.abc import Iterator

import bentoml
import pytest

from models.store import list_variants
from service.contracts import MetadataError
from service.model_store import VARIANT_MODULE, BentoModelStore, UnreadableVariant, latest_variants

TASK = "listing-probe"


def save(name: str, module: str, task: str = TASK) -> bentoml.Model:
    with bentoml.models.create(name, module=module, metadata={"task": task, "variant": "onnx-fp32"}) as model:
        pass
    return model


@pytest.fixture()
def saved() -> Iterator[dict[str, bentoml.Model]]:
    """Two versions of one variant, a variant of another task, and a foreign model with the same metadata."""
    models = {
        "older": save("listing-probe-a-onnx-fp32", VARIANT_MODULE),
        "newer": save("listing-probe-a-onnx-fp32", VARIANT_MODULE),
        "other task": save("listing-other-a-onnx-fp32", VARIANT_MODULE, task="listing-other"),
        "foreign": save("listing-probe-foreign", "someone_else"),
    }
    yield models
    for model in models.values():  # other tests share the store
        bentoml.models.delete(str(model.tag))


def test_the_latest_version_of_each_variant_and_only_prepares(saved: dict[str, bentoml.Model]) -> None:
    listed = {m.tag.name: str(m.tag.version) for m in latest_variants() if m.tag.name.startswith("listing-")}
    assert listed == {
        "listing-probe-a-onnx-fp32": str(saved["newer"].tag.version),
        "listing-other-a-onnx-fp32": str(saved["other task"].tag.version),
    }
    assert [m.tag.name for m in latest_variants(TASK)] == ["listing-probe-a-onnx-fp32"]
    assert [m.tag for m in list_variants(TASK)] == [m.tag for m in latest_variants(TASK)]
    served = {v.name: v for v in BentoModelStore().list() if v.name.startswith("listing-")}
    assert {name: variant.version for name, variant in served.items()} == listed


def test_metadata_off_the_contract_is_listed_with_the_reason_and_never_described(saved: dict) -> None:
    store = BentoModelStore()
    newer = f"listing-probe-a-onnx-fp32:{saved['newer'].tag.version}"
    listed = next(v for v in store.list() if v.name == "listing-probe-a-onnx-fp32")
    assert isinstance(listed, UnreadableVariant)
    assert listed.reason.startswith(f"MetadataError: {newer}: metadata does not match the contract: ")
    assert "task_kind: Field required" in listed.reason
    with pytest.raises(MetadataError, match=rf"^{newer}: .*labels: Field required"):
        store.describe("listing-probe-a-onnx-fp32")
