"""Content hashes of artifact files: what prepare records and what the service checks before loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.integrity import IntegrityError, artifact_digests, verify_artifact


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    """A variant directory as the store holds it: model files, a subfolder, and BentoML's model.yaml."""
    (tmp_path / "model.onnx").write_bytes(bytes(range(256)) * 4096)  # 1 MiB: several chunks
    (tmp_path / "tokenizer.json").write_text('{"vocab": {}}', encoding="utf-8")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "labels.txt").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "model.yaml").write_text("name: x\n", encoding="utf-8")
    return tmp_path


def test_digests_cover_every_file_but_bentoml_bookkeeping(artifact: Path) -> None:
    digests = artifact_digests(artifact)
    assert list(digests) == ["extra/labels.txt", "model.onnx", "tokenizer.json"]
    assert digests["model.onnx"] == hashlib.sha256((artifact / "model.onnx").read_bytes()).hexdigest()
    assert digests["extra/labels.txt"] == hashlib.sha256(b"a\nb\n").hexdigest()


def test_unchanged_files_pass_and_model_yaml_may_change(artifact: Path) -> None:
    recorded = artifact_digests(artifact)
    (artifact / "model.yaml").write_text("name: x\nmetadata: {}\n", encoding="utf-8")  # the backfill rewrites it
    verify_artifact(artifact, recorded)


def test_same_size_noise_is_a_mismatch_naming_the_file_and_both_digests(artifact: Path) -> None:
    recorded = artifact_digests(artifact)
    size = (artifact / "model.onnx").stat().st_size
    (artifact / "model.onnx").write_bytes(bytes(reversed(range(256))) * (size // 256))
    actual = hashlib.sha256((artifact / "model.onnx").read_bytes()).hexdigest()
    with pytest.raises(IntegrityError) as raised:
        verify_artifact(artifact, recorded)
    message = str(raised.value)
    assert f"model.onnx: sha256 {actual[:12]}... on disk, {recorded['model.onnx'][:12]}... recorded" in message
    assert "tokenizer.json" not in message


def test_missing_and_unexpected_files_are_refused(artifact: Path) -> None:
    recorded = artifact_digests(artifact)
    (artifact / "tokenizer.json").unlink()
    (artifact / "model.onnx.bak").write_bytes(b"x")
    with pytest.raises(IntegrityError) as raised:
        verify_artifact(artifact, recorded)
    assert "tokenizer.json: missing" in str(raised.value)
    assert "model.onnx.bak: not in the recorded files" in str(raised.value)


def test_truncated_file_is_a_mismatch(artifact: Path) -> None:
    recorded = artifact_digests(artifact)
    with (artifact / "model.onnx").open("r+b") as file:
        file.truncate(1000)
    with pytest.raises(IntegrityError, match="model.onnx: sha256 "):
        verify_artifact(artifact, recorded)


@pytest.mark.parametrize("recorded", [None, {}])
def test_no_record_says_to_run_prepare(artifact: Path, recorded: dict[str, str] | None) -> None:
    with pytest.raises(IntegrityError, match=r"no content hashes recorded .*run `scenario-serve prepare`"):
        verify_artifact(artifact, recorded)
