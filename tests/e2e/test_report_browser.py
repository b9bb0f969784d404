"""The report in a real browser: headless Chromium renders `report.html` into a PNG that is valid and not blank.

Needs `chromium` on PATH; `.ci/run` installs it (`apt-get install -y chromium`). Without it this test fails and
says so, rather than skipping silently.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from models.plots import FRONT_COLOUR, PALETTE, PICK_COLOUR
from models.report import render_report, write_report

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[1] / "data" / "report"
WIDTH, HEIGHT = 1200, 2400


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "chromium is not on PATH; `.ci/run` installs it (apt-get install -y chromium): install it to run this test"
    )


def screenshot(page: Path, out: Path, profile: Path) -> None:
    command = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--screenshot={out}",
        f"--window-size={WIDTH},{HEIGHT}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0 and out.exists(), f"chromium failed ({done.returncode}):\n{done.stderr[-3000:]}"


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    names = ("measurements", "selection", "live")
    inputs = [json.loads((DATA / f"{name}.json").read_text(encoding="utf-8")) for name in names]
    paths = write_report(render_report(*inputs), tmp_path / "report")
    shot = tmp_path / "report.png"
    screenshot(paths["html"], shot, tmp_path / "chromium-profile")

    with Image.open(shot) as image:
        image.verify()  # a valid PNG
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
        pixels = image.convert("RGB")
    colours = {rgb for _, rgb in pixels.getcolors(maxcolors=WIDTH * HEIGHT) or []}
    assert len(colours) > 50, "the page looks blank"
    white = sum(count for count, rgb in pixels.getcolors(maxcolors=WIDTH * HEIGHT) if rgb == (255, 255, 255))
    assert white < 0.97 * WIDTH * HEIGHT, "the page is (almost) all white"
    chart_colours = {hex_rgb(c) for c in (*PALETTE, PICK_COLOUR, FRONT_COLOUR)}
    assert len(chart_colours & colours) >= 5, "the inline SVG charts were not drawn"
