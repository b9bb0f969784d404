"""Content hashes of a variant's artifact files: recorded by `prepare`, verified before the service loads a variant.

A model file overwritten with noise of the same size still has a valid structure for the runtime that reads it
(an ONNX or safetensors header, then tensors): it loads, warms up and answers, wrongly, under the same version. Only
a comparison with what was built, evaluated and gated tells it apart, so prepare records the SHA-256 of every file
in the variant's store metadata (`artifact_sha256`, relative POSIX path -> hex digest) and the service refuses a
variant whose files differ, with the file named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

METADATA_KEY = "artifact_sha256"
# BentoML's own files in a model's directory (`bentoml.models.create` writes them; model.yaml holds the digests
# themselves, so it cannot be covered by them).
BOOKKEEPING_FILES = frozenset({"model.yaml", "custom_objects.pkl"})
SHOWN_HEX = 12  # digest prefix shown in messages


class IntegrityError(Exception):
    """A variant's files are not the ones prepare recorded (or no record exists); the message names the file."""


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks (model files are up to ~100 MB)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def artifact_files(directory: Path) -> list[str]:
    """Relative POSIX paths of the regular files under `directory`, sorted, BentoML's bookkeeping files left out."""
    paths = (path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file())
    return sorted(path for path in paths if path not in BOOKKEEPING_FILES)


def artifact_digests(directory: Path) -> dict[str, str]:
    """`{relative path: sha256 hex}` of every artifact file under `directory`."""
    return {name: file_sha256(directory / name) for name in artifact_files(directory)}


def verify_artifact(directory: Path, recorded: Mapping[str, str] | None) -> None:
    """Raise IntegrityError unless the files under `directory` are exactly the recorded ones, byte for byte.

    Missing and unexpected files are found before anything is hashed; every problem is listed in the message.
    """
    if not recorded:
        raise IntegrityError(
            f"no content hashes recorded ({METADATA_KEY}; prepared before integrity checks); "
            "run `scenario-serve prepare` to record them"
        )
    present = artifact_files(directory)
    problems = [f"{name}: missing" for name in sorted(set(recorded) - set(present))]
    problems += [f"{name}: not in the recorded files" for name in present if name not in recorded]
    for name in present:
        if name in recorded:
            actual = file_sha256(directory / name)
            if actual != recorded[name]:
                problems.append(
                    f"{name}: sha256 {actual[:SHOWN_HEX]}... on disk, {recorded[name][:SHOWN_HEX]}... recorded"
                )
    if problems:
        raise IntegrityError(f"artifact files differ from those prepare recorded: {'; '.join(problems)}")
