"""Report charts drawn by matplotlib as inline SVG: a labelled scatter (Pareto front, marked picks) and line charts.

The output is the same bytes for the same input, so reports of stored measurements compare with golden files:
every chart is drawn under one fixed style (matplotlib's defaults plus `STYLE`, whatever the caller's rcParams),
with a fixed `svg.hashsalt` for the ids matplotlib derives and no date or other metadata. Text stays text
(`svg.fonttype: none`): small files, searchable, and matplotlib escapes it; math text is off, so a `$` in a name
is a dollar sign. For embedding in HTML each chart is one `<svg>` element without the XML prolog, with
`role="img"`, an `aria-label` and a `<title>`, and every id prefixed per chart so that charts on one page never
share one. The data groups carry ids ending in `-points`, `-pareto-front`, `-picks` and `-series-N`.

Drawing changes matplotlib's global rcParams for its duration: render charts from one thread at a time.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from html import escape
from typing import Any, ParamSpec

from matplotlib import style
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import Bbox

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#bab0ac",
    "#e15759",
)
PICK_COLOUR = "#d62728"
FRONT_COLOUR = "#2ca02c"
AXIS_COLOUR = "#444444"
GRID_COLOUR = "#e6e6e6"
LEADER_COLOUR = "#999999"
PX_PER_INCH = 96  # CSS pixels: a Frame's pixel sizes are the chart's size in the browser
TITLE_PT = 10.5
STYLE: dict[str, Any] = {
    "svg.hashsalt": "scenario-serve",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: the same text metrics on every machine
    "font.size": 8.25,
    "axes.labelsize": 9.0,
    "axes.edgecolor": AXIS_COLOUR,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID_COLOUR,
    "grid.linewidth": 0.75,
    "xtick.color": AXIS_COLOUR,
    "ytick.color": AXIS_COLOUR,
    "legend.frameon": False,
}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


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
    """Pixel geometry of a chart: the whole canvas and the margins around the plot area."""

    width: float = 760.0
    height: float = 420.0
    left: float = 70.0
    right: float = 30.0
    top: float = 40.0
    bottom: float = 56.0

    @property
    def figsize(self) -> tuple[float, float]:
        return self.width / PX_PER_INCH, self.height / PX_PER_INCH

    @property
    def plot_area(self) -> tuple[float, float, float, float]:
        """(left, bottom, width, height) as fractions of the canvas, as `Figure.add_axes` takes them."""
        return (
            self.left / self.width,
            self.bottom / self.height,
            (self.width - self.left - self.right) / self.width,
            (self.height - self.top - self.bottom) / self.height,
        )


SCATTER_FRAME = Frame(right=190.0)  # room on the right for point labels and the legend
LINE_FRAME = Frame(right=230.0)  # room on the right for the legend


# --- numbers and ticks ------------------------------------------------------------------------------------


def fmt_number(value: float) -> str:
    """A short, stable tick label: integers without decimals, others with up to 4 significant digits."""
    value = round(value, 9)
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}"


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


def _set_ticks(axis: Axis, ticks: Sequence[float]) -> None:
    axis.set_major_locator(FixedLocator(list(ticks)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: fmt_number(value)))
    axis.set_minor_locator(NullLocator())


def x_axis(ax: Axes, values: Sequence[float], log: bool, ticks: Sequence[float] | None) -> None:
    """Limits and ticks of the x axis; a log axis cannot show zero or less: those charts fall back to linear."""
    if log and min(values) > 0:
        lo, hi = log_range(values)
        chosen = list(ticks) if ticks is not None else log_ticks(lo, hi)
        ax.set_xscale("log")
    else:
        lo, hi, auto = linear_ticks(*padded_range(values))
        chosen = [t for t in ticks if lo <= t <= hi] if ticks is not None else auto
    ax.set_xlim(lo, hi)
    _set_ticks(ax.xaxis, chosen)


def y_axis(ax: Axes, values: Sequence[float], y_range: tuple[float, float] | None) -> None:
    lo, hi, ticks = linear_ticks(*(y_range or padded_range(values)))
    ax.set_ylim(lo, hi)
    _set_ticks(ax.yaxis, ticks)


# --- figures and their SVG --------------------------------------------------------------------------------

P = ParamSpec("P")


def styled(draw: Callable[P, str]) -> Callable[P, str]:
    """Run `draw` under matplotlib's defaults plus `STYLE`, so the caller's rcParams never change a chart."""

    @wraps(draw)
    def render(*args: P.args, **kwargs: P.kwargs) -> str:
        with style.context(["default", STYLE]):
            return draw(*args, **kwargs)

    return render


def canvas(frame: Frame, title: str) -> Figure:
    """A blank figure of the frame's size with the title top left; its Agg canvas measures text for layout."""
    figure = Figure(figsize=frame.figsize, dpi=PX_PER_INCH)
    FigureCanvasAgg(figure)
    figure.text(frame.left / frame.width, 1 - 22 / frame.height, title, fontsize=TITLE_PT, fontweight="bold")
    return figure


def text_renderer(figure: Figure) -> RendererAgg:
    """The renderer of the Agg canvas that `canvas` attached: it measures text in display pixels."""
    agg = figure.canvas
    if not isinstance(agg, FigureCanvasAgg):
        raise TypeError("the figure has no Agg canvas; make it with canvas()")
    return agg.get_renderer()


def plot_area(figure: Figure, frame: Frame, x_label: str, y_label: str) -> Axes:
    ax = figure.add_axes(frame.plot_area)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    return ax


def to_svg(figure: Figure, title: str) -> str:
    """The figure as one `<svg>` element to inline in HTML: no prolog, ids unique per chart, labelled for a11y."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=SVG_METADATA)
    document = buffer.getvalue()
    svg = document[document.index("<svg") :]
    prefix = "c" + hashlib.sha256(title.encode("utf-8")).hexdigest()[:8] + "-"
    # Inside tags only: text content never holds a raw `<` or `>` (matplotlib escapes it)
    svg = re.sub(r"<[^<>]+>", lambda tag: _prefix_ids(tag.group(0), prefix), svg)
    end = svg.index(">") + 1
    root = svg[:end].replace("<svg ", f'<svg role="img" aria-label="{escape(title, quote=True)}" ', 1)
    return f"{root}\n <title>{escape(title, quote=False)}</title>{svg[end:].rstrip()}"


def _prefix_ids(tag: str, prefix: str) -> str:
    tag = re.sub(r'(\sid=")', rf"\g<1>{prefix}", tag)
    return re.sub(r'(href="#|url\(#)', rf"\g<1>{prefix}", tag)


@styled
def no_data(frame: Frame, title: str) -> str:
    figure = canvas(frame, title)
    figure.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=10, color=AXIS_COLOUR)
    return to_svg(figure, title)


# --- label placement --------------------------------------------------------------------------------------

BELOW_FIRST = (0, -1, 1, -2, 2, -3, 3, -4, 4)  # lines up (+) or down (-) from the anchor, in order of preference
ABOVE_FIRST = (1, -1, 2, -2, 0, 3, -3)


class LabelPlacer:
    """Places text labels beside anchors: right or left of the anchor, moved up or down in whole lines, at the
    first spot that overlaps no obstacle (a drawn point, the legend) and no earlier label and stays inside the
    canvas and the plot area's height; a label that had to leave its anchor's line gets a thin leader line.
    Positions are in display pixels, measured by the figure's renderer."""

    GAP = 9.0
    LINE = 13.0

    def __init__(self, figure: Figure, ax: Axes, obstacles: Sequence[Bbox] = ()) -> None:
        self.ax = ax
        self.renderer = text_renderer(figure)
        self.placed = list(obstacles)
        page, plot = figure.bbox, ax.bbox
        self.area = Bbox.from_extents(page.x0 + 2, plot.y0, page.x1 - 2, plot.y1 + 4)

    def place(self, x: float, y: float, text: str, *, lines: Sequence[int] = BELOW_FIRST, **style: Any) -> None:
        """Label the data point (x, y)."""
        spots = [(side, line) for line in lines for side in (1, -1)]
        side, line = next((spot for spot in spots if self._fits(x, y, text, spot, style)), spots[0])
        box = self._label(x, y, text, (side, line), style).get_window_extent(self.renderer)
        self.placed.append(box)
        if line:
            self._leader(x, y, box, side)

    def _label(self, x: float, y: float, text: str, spot: tuple[int, int], style: dict[str, Any]) -> Annotation:
        side, line = spot
        return self.ax.annotate(
            text,
            (x, y),
            xytext=(side * self.GAP, line * self.LINE),
            textcoords="offset pixels",
            ha="left" if side > 0 else "right",
            va="center",
            **style,
        )

    def _fits(self, x: float, y: float, text: str, spot: tuple[int, int], style: dict[str, Any]) -> bool:
        label = self._label(x, y, text, spot, style)
        box = label.get_window_extent(self.renderer)
        label.remove()
        inside = self.area.x0 <= box.x0 and box.x1 <= self.area.x1 and self.area.y0 <= box.y0
        return inside and box.y1 <= self.area.y1 and not any(box.overlaps(other) for other in self.placed)

    def _leader(self, x: float, y: float, box: Bbox, side: int) -> None:
        end = (box.x0 - 2 if side > 0 else box.x1 + 2, (box.y0 + box.y1) / 2)
        end_x, end_y = self.ax.transData.inverted().transform(end)
        self.ax.add_line(Line2D([x, end_x], [y, end_y], color=LEADER_COLOUR, linewidth=0.6, zorder=1))


def dot_boxes(ax: Axes, xs: Sequence[float], ys: Sequence[float], size_pt2: float) -> list[Bbox]:
    """Display boxes of scatter markers of area `size_pt2` (points squared, as `Axes.scatter` takes it)."""
    radius = math.sqrt(size_pt2) / 2 * PX_PER_INCH / 72
    centres = ax.transData.transform(list(zip(xs, ys, strict=True)))
    return [Bbox.from_extents(cx - radius, cy - radius, cx + radius, cy + radius) for cx, cy in centres]


# --- charts -----------------------------------------------------------------------------------------------

DOT_SIZE = 55.0  # marker areas in points squared
RING_SIZE = 230.0


@styled
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
    """Labelled points; `front` is drawn as a dashed line (in the given order); `marks` get a ring and a caption.
    Coordinates of `front` and `marks` are in data units, like the points'."""
    if not points:
        return no_data(frame, title)
    figure = canvas(frame, title)
    ax = plot_area(figure, frame, x_label, y_label)
    x_axis(ax, [p.x for p in points] + [m.x for m in marks], log_x, None)
    y_axis(ax, [p.y for p in points] + [m.y for m in marks], None)
    xs, ys = [p.x for p in points], [p.y for p in points]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(points))]
    ax.scatter(xs, ys, s=DOT_SIZE, c=colours, zorder=3, gid="points")
    if len(front) > 1:
        ax.plot(
            *zip(*front, strict=True),
            color=FRONT_COLOUR,
            linewidth=1.8,
            linestyle=(0, (6, 3)),
            zorder=2,
            label="Pareto front",
            gid="pareto-front",
        )
    mark_xs, mark_ys = [m.x for m in marks], [m.y for m in marks]
    if marks:
        ax.scatter(
            mark_xs,
            mark_ys,
            s=RING_SIZE,
            facecolors="none",
            edgecolors=PICK_COLOUR,
            linewidths=1.8,
            zorder=4,
            label="scenario pick",
            gid="picks",
        )
    obstacles = dot_boxes(ax, xs, ys, DOT_SIZE) + dot_boxes(ax, mark_xs, mark_ys, RING_SIZE)
    if len(front) > 1 or marks:
        legend = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        obstacles.append(legend.get_window_extent(text_renderer(figure)))
    placer = LabelPlacer(figure, ax, obstacles)
    for mark in marks:
        placer.place(mark.x, mark.y, mark.caption, lines=ABOVE_FIRST, color=PICK_COLOUR, fontweight="bold")
    for point in points:
        placer.place(point.x, point.y, point.label)
    return to_svg(figure, title)


@styled
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
    figure = canvas(frame, title)
    ax = plot_area(figure, frame, x_label, y_label)
    x_axis(ax, [x for s in drawn for x, _ in s.points], log_x, x_ticks)
    y_axis(ax, [y for s in drawn for _, y in s.points], y_range)
    dots = markers if markers is not None else all(len(s.points) <= 20 for s in drawn)
    for index, item in enumerate(series):
        xs, ys = [x for x, _ in item.points], [y for _, y in item.points]
        name = item.name if item.points else f"{item.name} (no data)"
        ax.plot(
            xs,
            ys,
            color=PALETTE[index % len(PALETTE)],
            linewidth=1.8,
            marker="o" if dots else None,
            markersize=4.5,
            label=name,
            gid=f"series-{index}",
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return to_svg(figure, title)
