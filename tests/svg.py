"""Reading the charts' SVG (`models.plots`) in tests: the data groups and what they draw."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(chunk) for chunk in re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)]


def group(svg: ET.Element, name: str) -> ET.Element | None:
    """The data group whose id ends in `-name` (plots.py prefixes every id per chart)."""
    return next((g for g in svg.iter(f"{SVG_NS}g") if (g.get("id") or "").endswith(f"-{name}")), None)


def drawn(element: ET.Element) -> list[ET.Element]:
    """The marks drawn inside a group: paths, and uses of a marker shape (whose own path, in <defs>, is not)."""
    defined = {id(e) for defs in element.iter(f"{SVG_NS}defs") for e in defs.iter()}
    return [e for e in element.iter() if e.tag in {f"{SVG_NS}path", f"{SVG_NS}use"} and id(e) not in defined]


def texts(svg: ET.Element) -> str:
    return " ".join(t.text or "" for t in svg.iter(f"{SVG_NS}text"))
