"""Dependency-free inline SVG charts: a labelled scatter (with a Pareto front and marked picks) and line charts.

Output is deterministic (fixed palette, fixed number formatting, no ids or timestamps) so reports rendered from
stored measurements can be compared with golden files. Every piece of text is escaped with `html.escape`, and
each chart is a standalone `<svg>` element with the SVG namespace, so it parses as XML and embeds in HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2",
    "#edc948", "#9c755f", "#ff9da7", "#bab0ac", "#e15759",
)
PICK_COLOUR = "#d62728"
FRONT_COLOUR = "#2ca02c"
AXIS_COLOUR = "#444444"
GRID_COLOUR = "#e6e6e6"
FONT = "font-family:sans-serif"
CHAR_WIDTH = 6.2  # estimated px per character at font-size 11, for label placement
LINE_HEIGHT = 13.0


@dataclass(frozen=True)
class Point:
    """A labelled point of a scatter chart."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Mark:
    """A highlighted point with a caption (a scenario's pick)."""

    x: float
    y: float
    caption: str


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a name for the legend and (x, y) points in drawing order."""

    name: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Frame:
    """Pixel geometry of a chart: the whole canvas and the plot area inside the margins."""

    width: float = 760.0
    height: float = 420.0
    left: float = 70.0
    right: float = 30.0
    top: float = 40.0
    bottom: float = 56.0

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top


SCATTER_FRAME = Frame(right=190.0)  # room on the right for point labels
LINE_FRAME = Frame(right=230.0)  # room on the right for the legend


@dataclass(frozen=True)
class Scale:
    """Maps a data interval [lo, hi] onto a pixel interval [start, end], linearly or in log10."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def _t(self, value: float) -> float:
        return math.log10(value) if self.log else value

    def __call__(self, value: float) -> float:
        lo, hi = self._t(self.lo), self._t(self.hi)
        return self.start + (self._t(value) - lo) / (hi - lo) * (self.end - self.start)


# --- numbers and ticks ------------------------------------------------------------------------------------


def fmt_number(value: float) -> str:
    """A short, stable tick label: integers without decimals, others with up to 4 significant digits."""
    value = round(value, 9)
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}"


def _px(value: float) -> str:
    return f"{value:.1f}"


def nice_step(span: float, count: int = 5) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten that cuts `span` into about `count` intervals."""
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def padded_range(values: Sequence[float], pad: float = 0.06) -> tuple[float, float]:
    """The data range widened by `pad` of its span each side (or by 1 / 10% when it is a single value); data that
    is never negative keeps a lower bound of at least 0."""
    lo, hi = min(values), max(values)
    if hi == lo:
        spread = abs(lo) * 0.1 or 1.0
        return lo - spread, hi + spread
    span = hi - lo
    low = lo - span * pad
    return (0.0 if lo >= 0 > low else low), hi + span * pad


def linear_ticks(lo: float, hi: float, count: int = 5) -> tuple[float, float, list[float]]:
    """Nice ticks covering [lo, hi]; returns the widened domain (first and last tick) and the ticks."""
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = [round(i * step, 10) for i in range(first, last + 1)]
    return ticks[0], ticks[-1], ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2 and 5 times powers of ten inside [lo, hi]; the bounds themselves when fewer than two fit."""
    ticks = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for m in (1, 2, 5)
        if lo <= m * 10.0**e <= hi
    ]
    return ticks if len(ticks) >= 2 else [lo, hi]


def log_range(values: Sequence[float], pad: float = 1.25) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    return lo / pad, hi * pad


# --- SVG elements -----------------------------------------------------------------------------------------


def _attrs(attrs: dict[str, str | float]) -> str:
    parts = []
    for key, value in attrs.items():
        text = _px(value) if isinstance(value, float) else str(value)
        parts.append(f'{key}="{html.escape(text, quote=True)}"')
    return " ".join(parts)


def element(tag: str, attrs: dict[str, str | float], text: str | None = None) -> str:
    """One SVG element; `text` (if any) is escaped."""
    if text is None:
        return f"<{tag} {_attrs(attrs)}/>"
    return f"<{tag} {_attrs(attrs)}>{html.escape(text, quote=False)}</{tag}>"


def text_el(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11, **extra: str | float) -> str:
    return element("text", {"x": x, "y": y, "text-anchor": anchor, "font-size": size, "style": FONT, **extra}, text)


def path_d(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{_px(x)},{_px(y)}" for i, (x, y) in enumerate(points))


def svg_document(frame: Frame, title: str, body: Sequence[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{fmt_number(frame.width)}" '
        f'height="{fmt_number(frame.height)}" viewBox="0 0 {fmt_number(frame.width)} {fmt_number(frame.height)}" '
        f'role="img" aria-label="{html.escape(title, quote=True)}">'
    )
    title_el = f"<title>{html.escape(title, quote=False)}</title>"
    background = element("rect", {"x": 0.0, "y": 0.0, "width": frame.width, "height": frame.height, "fill": "#ffffff"})
    heading = text_el(frame.x0, 22.0, title, size=14, **{"font-weight": "bold"})
    return "\n".join([head, title_el, background, heading, *body, "</svg>"])


def axes(frame: Frame, sx: Scale, sy: Scale, x_ticks: Sequence[float], y_ticks: Sequence[float],
         x_label: str, y_label: str) -> list[str]:
    """Grid lines, tick labels, the two axis lines and their labels."""
    out: list[str] = []
    for tick in x_ticks:
        x = sx(tick)
        out.append(element("line", {"x1": x, "y1": frame.y0, "x2": x, "y2": frame.y1, "stroke": GRID_COLOUR}))
        out.append(element("line", {"x1": x, "y1": frame.y0, "x2": x, "y2": frame.y0 + 5, "stroke": AXIS_COLOUR}))
        out.append(text_el(x, frame.y0 + 18, fmt_number(tick), anchor="middle"))
    for tick in y_ticks:
        y = sy(tick)
        out.append(element("line", {"x1": frame.x0, "y1": y, "x2": frame.x1, "y2": y, "stroke": GRID_COLOUR}))
        out.append(element("line", {"x1": frame.x0 - 5, "y1": y, "x2": frame.x0, "y2": y, "stroke": AXIS_COLOUR}))
        out.append(text_el(frame.x0 - 8, y + 4, fmt_number(tick), anchor="end"))
    axis = {"stroke": AXIS_COLOUR, "stroke-width": "1.2"}
    out.append(element("line", {"x1": frame.x0, "y1": frame.y0, "x2": frame.x1, "y2": frame.y0, **axis}))
    out.append(element("line", {"x1": frame.x0, "y1": frame.y0, "x2": frame.x0, "y2": frame.y1, **axis}))
    out.append(text_el((frame.x0 + frame.x1) / 2, frame.height - 14, x_label, anchor="middle", size=12))
    mid_y = (frame.y0 + frame.y1) / 2
    out.append(text_el(16.0, mid_y, y_label, anchor="middle", size=12, transform=f"rotate(-90 16 {_px(mid_y)})"))
    return out


def no_data(frame: Frame, title: str) -> str:
    message = text_el(frame.width / 2, frame.height / 2, "no data", anchor="middle", size=13, fill=AXIS_COLOUR)
    return svg_document(frame, title, [message])


# --- label placement --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


class LabelPlacer:
    """Places text labels beside anchors: right or left of the anchor, nudged up or down in whole lines, at the
    first spot that overlaps no obstacle (a drawn point) and no earlier label, and stays on the canvas."""

    GAP = 11.0

    def __init__(self, frame: Frame, obstacles: Sequence[Box] = ()) -> None:
        self.frame = frame
        self.placed: list[Box] = list(obstacles)

    def place(self, x: float, y: float, text: str, *, offsets: Sequence[int] = (0, 1, -1, 2, -2, 3, -3, 4, -4),
              size: int = 11, **extra: str | float) -> str:
        width = len(text) * CHAR_WIDTH * size / 11
        candidates = [box for k in offsets for box in self._boxes(x, y + k * LINE_HEIGHT, width)]
        box = next((b for b in candidates if self._free(b)), candidates[0])
        self.placed.append(box)
        anchor, text_x = ("start", box.x0) if box.x0 > x else ("end", box.x1)
        label = text_el(text_x, box.y1 - 3, text, anchor=anchor, size=size, **extra)
        return leader_line(x, y, box) + label


    def _boxes(self, x: float, y: float, width: float) -> tuple[Box, Box]:
        right = Box(x + self.GAP, y - 9, x + self.GAP + width, y + 4)
        left = Box(x - self.GAP - width, y - 9, x - self.GAP, y + 4)
        return right, left

    def _free(self, box: Box) -> bool:
        on_canvas = box.x0 >= 2 and box.x1 <= self.frame.width - 2 and box.y0 >= self.frame.y1 - 4
        on_canvas = on_canvas and box.y1 <= self.frame.y0
        return on_canvas and not any(box.overlaps(other) for other in self.placed)


def leader_line(x: float, y: float, box: Box) -> str:
    """A thin line from an anchor to its label when the label had to move off the anchor's line; else ''."""
    middle = (box.y0 + box.y1) / 2
    if abs(middle - (y - 2.5)) < LINE_HEIGHT / 2:
        return ""
    end_x = box.x0 - 2 if box.x0 > x else box.x1 + 2
    return element("line", {"x1": x, "y1": y, "x2": end_x, "y2": middle, "stroke": "#999999", "stroke-width": "0.8"})


def dot_box(x: float, y: float, radius: float) -> Box:
    return Box(x - radius, y - radius, x + radius, y + radius)


# --- charts -----------------------------------------------------------------------------------------------


def _x_axis(values: Sequence[float], frame: Frame, log: bool,
            ticks: Sequence[float] | None) -> tuple[Scale, list[float]]:
    if log and min(values) > 0:  # a log axis cannot show zero or less: those charts fall back to linear
        lo, hi = log_range(values)
        chosen = list(ticks) if ticks is not None else log_ticks(lo, hi)
        return Scale(lo, hi, frame.x0, frame.x1, log=True), chosen
    lo, hi, auto = linear_ticks(*padded_range(values))
    chosen = [t for t in ticks if lo <= t <= hi] if ticks is not None else auto
    return Scale(lo, hi, frame.x0, frame.x1), chosen


def _y_axis(values: Sequence[float], frame: Frame, y_range: tuple[float, float] | None) -> tuple[Scale, list[float]]:
    lo, hi, ticks = linear_ticks(*(y_range or padded_range(values)))
    return Scale(lo, hi, frame.y0, frame.y1), ticks


def scatter_chart(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    front: Sequence[tuple[float, float]] = (),
    marks: Sequence[Mark] = (),
    log_x: bool = False,
    frame: Frame = SCATTER_FRAME,
) -> str:
    """Labelled points; `front` is drawn as a highlighted polyline (in the given order); `marks` get a ring and a
    caption. Coordinates of `front` and `marks` are in data units, like the points'."""
    if not points:
        return no_data(frame, title)
    xs = [p.x for p in points] + [m.x for m in marks]
    ys = [p.y for p in points] + [m.y for m in marks]
    sx, x_ticks = _x_axis(xs, frame, log_x, None)
    sy, y_ticks = _y_axis(ys, frame, None)
    body = axes(frame, sx, sy, x_ticks, y_ticks, x_label, y_label)
    if len(front) > 1:
        pixels = [(sx(x), sy(y)) for x, y in front]
        line = " ".join(f"{_px(x)},{_px(y)}" for x, y in pixels)
        style = {"fill": "none", "stroke": FRONT_COLOUR, "stroke-width": "2", "stroke-dasharray": "6 3"}
        body.append(element("polyline", {"class": "pareto-front", "points": line, **style}))
    dots = [(sx(p.x), sy(p.y)) for p in points]
    rings = [(sx(m.x), sy(m.y)) for m in marks]
    for index, (x, y) in enumerate(dots):
        body.append(element("circle", {"cx": x, "cy": y, "r": "5", "fill": PALETTE[index % len(PALETTE)]}))
    for x, y in rings:
        body.append(element("circle", {"class": "pick", "cx": x, "cy": y, "r": "9", "fill": "none",
                                       "stroke": PICK_COLOUR, "stroke-width": "2"}))
    placer = LabelPlacer(frame, [dot_box(x, y, 6) for x, y in dots] + [dot_box(x, y, 10) for x, y in rings])
    above_first = (-1, 1, -2, 2, 0, -3, 3)
    for mark, (x, y) in zip(marks, rings, strict=True):
        body.append(placer.place(x, y, mark.caption, offsets=above_first, fill=PICK_COLOUR, **{"font-weight": "bold"}))
    for point, (x, y) in zip(points, dots, strict=True):
        body.append(placer.place(x, y, point.label))
    if len(front) > 1:
        body.append(_front_legend(frame))
    return svg_document(frame, title, body)


def _front_legend(frame: Frame) -> str:
    y = frame.y1 + 10
    x = frame.x1 + 16
    line = element("line", {"x1": x, "y1": y - 4, "x2": x + 24, "y2": y - 4, "stroke": FRONT_COLOUR,
                            "stroke-width": "2", "stroke-dasharray": "6 3"})
    return line + text_el(x + 30, y, "Pareto front")


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    log_x: bool = False,
    x_ticks: Sequence[float] | None = None,
    y_range: tuple[float, float] | None = None,
    markers: bool | None = None,
    frame: Frame = LINE_FRAME,
) -> str:
    """Several named lines with a legend on the right. `markers` (default: when every series has at most 20
    points) draws a dot at each point; `x_ticks` replaces the automatic ticks (e.g. the measured batch sizes)."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return no_data(frame, title)
    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points]
    sx, ticks = _x_axis(xs, frame, log_x, x_ticks)
    sy, y_ticks = _y_axis(ys, frame, y_range)
    body = axes(frame, sx, sy, ticks, y_ticks, x_label, y_label)
    dots = markers if markers is not None else all(len(s.points) <= 20 for s in drawn)
    for index, item in enumerate(series):
        if item.points:
            body.extend(_series_marks(item, PALETTE[index % len(PALETTE)], sx, sy, dots))
    body.extend(_legend(series, frame))
    return svg_document(frame, title, body)


def _series_marks(item: Series, colour: str, sx: Scale, sy: Scale, dots: bool) -> list[str]:
    pixels = [(sx(x), sy(y)) for x, y in item.points]
    out = [element("path", {"d": path_d(pixels), "fill": "none", "stroke": colour, "stroke-width": "2"})]
    if dots:
        out.extend(element("circle", {"cx": x, "cy": y, "r": "3.5", "fill": colour}) for x, y in pixels)
    return out


def _legend(series: Sequence[Series], frame: Frame) -> list[str]:
    out: list[str] = []
    x = frame.x1 + 16
    for index, item in enumerate(series):
        y = frame.y1 + 10 + index * 18
        colour = PALETTE[index % len(PALETTE)]
        swatch = {"x1": x, "y1": y - 4, "x2": x + 22, "y2": y - 4, "stroke": colour, "stroke-width": "3"}
        out.append(element("line", swatch))
        suffix = "" if item.points else " (no data)"
        out.append(text_el(x + 28, y, item.name + suffix))
    return out
