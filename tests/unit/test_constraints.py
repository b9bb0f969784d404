"""constraints.txt pins the library versions the checked-in measurements were taken with."""

from __future__ import annotations

from pathlib import Path

from models.records import load_measurements

REPO = Path(__file__).resolve().parents[2]
PINNED_IN_PYPROJECT = {"python", "torch"}


def pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split("==", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_constraints_pin_every_library_version_the_measurements_record() -> None:
    recorded = load_measurements(REPO / "reports" / "measurements.json").versions
    assert pins() == {name: version for name, version in recorded.items() if name not in PINNED_IN_PYPROJECT}


def test_make_installs_with_the_constraints() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "-c constraints.txt" in makefile
    assert "constraints.txt" in makefile.split("$(VENV)/.installed:", 1)[1].splitlines()[0]
