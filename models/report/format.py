"""Number formatting shared by the report's sentences and tables."""

from __future__ import annotations

from typing import Any

DASH = "—"
MINUS = "\u2212"


def fmt_num(value: float | None, digits: int) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def fmt_ms(value: float | None) -> str:
    return fmt_num(value, 1)


def fmt_p99_spread(p99_ms: float | None, spread: tuple[float, float] | None, pooled_ms: float | None) -> str:
    """`20.3 (19.9-32.5; pooled 27.5)`: a server scenario's median-repeat p99 with the repeats' lowest and highest
    p99 and the p99 of their latencies pooled; the p99 alone where there were no repeats."""
    if spread is None:
        return fmt_ms(p99_ms)
    pooled = "" if pooled_ms is None else f"; pooled {fmt_ms(pooled_ms)}"
    return f"{fmt_ms(p99_ms)} ({fmt_ms(spread[0])}-{fmt_ms(spread[1])}{pooled})"


def fmt_mb(value: float | None) -> str:
    return fmt_num(value, 1)


def fmt_rate(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def fmt_f1(value: float | None) -> str:
    return fmt_num(value, 4)


def fmt_plain(value: Any) -> str:
    """A constraint limit or a failure value: integers without decimals, others with up to 4 significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.1f}×"


def fmt_points(delta: float | None) -> str:
    """A macro-F1 difference in points with a typographic sign: +0.4 pt, −0.3 pt, ±0.0 pt."""
    if delta is None:
        return f"{DASH} pt"
    rounded = round(delta, 1)
    if rounded == 0:
        return "±0.0 pt"
    sign = "+" if rounded > 0 else MINUS
    return f"{sign}{abs(rounded):.1f} pt"


def round_or_none(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
