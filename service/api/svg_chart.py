"""The hourly O3 forecast against the ozone critical value, as a self-contained SVG.

Server-rendered so that the page needs no script and prints as drawn. Pure functions:
numbers in, SVG text out. Concentrations in [ug/m3], hours are local hours 0-23.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr


@dataclass(frozen=True)
class ChartLabels:
    title: str
    x_axis: str
    y_axis: str
    median: str
    band: str
    critical: str
    likely: str
    observed: str = "observed"


@dataclass(frozen=True)
class Frame:
    width: float = 760.0
    height: float = 320.0
    left: float = 56.0
    right: float = 190.0  # room for the legend's longest label
    top: float = 28.0
    bottom: float = 44.0

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom


def nice_ceiling(value_ugm3: float, step_ugm3: float = 50.0) -> float:
    """The smallest multiple of ``step_ugm3`` at or above ``value_ugm3`` (at least one step)."""
    return max(step_ugm3, math.ceil(value_ugm3 / step_ugm3) * step_ugm3)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points with values: a gap in the data is a gap in the line."""
    runs: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    for x, y in points:
        if _finite(y):
            cur.append((x, float(y)))  # type: ignore[arg-type]
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def o3_chart_svg(
    hours: Sequence[int],
    q50_ugm3: Sequence[float | None],
    *,
    q10_ugm3: Sequence[float | None] | None = None,
    q90_ugm3: Sequence[float | None] | None = None,
    critical_value_ugm3: float | None = None,
    likely_hours: Sequence[int] = (),
    labels: ChartLabels,
    frame: Frame | None = None,
    observed_ugm3: Sequence[float | None] | None = None,
    probability_text: str | None = None,
) -> str:
    """SVG of the hourly O3 median (line), its 10-90 % band, the critical value (dashed),
    the hours the critical value is most likely reached (shaded), and, during the day,
    the hours observed so far (dots, hour 0 first) and the current probability text."""
    f = frame or Frame()
    hours = [int(h) for h in hours]
    observed = [(h, v) for h, v in enumerate(observed_ugm3 or []) if _finite(v)]
    highs = [v for v in [*q50_ugm3, *(q90_ugm3 or [])] if _finite(v)]
    highs += [float(v) for _h, v in observed]  # type: ignore[arg-type]
    if _finite(critical_value_ugm3):
        highs.append(float(critical_value_ugm3))  # type: ignore[arg-type]
    y_max = nice_ceiling(max(highs, default=0.0) * 1.08)

    def x(h: float) -> float:
        return f.left + f.plot_w * h / 23.0

    def y(v: float) -> float:
        return f.top + f.plot_h * (1.0 - v / y_max)

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="o3-chart" role="img" '
        f'viewBox="0 0 {f.width:.0f} {f.height:.0f}" width="100%" '
        f"aria-label={quoteattr(labels.title)}>",
        f"<title>{escape(labels.title)}</title>",
    ]
    # likely hours of reaching the critical value
    for h in sorted(set(likely_hours)):
        if 0 <= h <= 23:
            x0, x1 = x(max(h - 0.5, 0)), x(min(h + 0.5, 23))
            out.append(
                f'<rect class="likely" x="{x0:.1f}" y="{f.top:.1f}" width="{x1 - x0:.1f}" '
                f'height="{f.plot_h:.1f}" fill="#fde2c8"/>'
            )
    # grid and y axis
    step = 50.0 if y_max <= 400 else 100.0
    v = 0.0
    while v <= y_max + 1e-9:
        out.append(
            f'<line class="grid" x1="{f.left:.1f}" x2="{f.left + f.plot_w:.1f}" '
            f'y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{f.left - 6:.1f}" y="{y(v) + 4:.1f}" text-anchor="end" '
            f'font-size="12">{v:.0f}</text>'
        )
        v += step
    for h in range(0, 24, 3):
        out.append(
            f'<text x="{x(h):.1f}" y="{f.top + f.plot_h + 16:.1f}" text-anchor="middle" '
            f'font-size="12">{h:02d}</text>'
        )
    out.append(
        f'<text x="{f.left + f.plot_w / 2:.1f}" y="{f.height - 8:.1f}" text-anchor="middle" '
        f'font-size="12">{escape(labels.x_axis)}</text>'
    )
    out.append(
        f'<text x="14" y="{f.top + f.plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {f.top + f.plot_h / 2:.1f})">{escape(labels.y_axis)}</text>'
    )
    # 10-90 % band
    if q10_ugm3 is not None and q90_ugm3 is not None:
        pts = [(h, lo, hi) for h, lo, hi in zip(hours, q10_ugm3, q90_ugm3, strict=True)]
        for run in _band_runs(pts):
            upper = " ".join(f"{x(h):.1f},{y(hi):.1f}" for h, _lo, hi in run)
            lower = " ".join(f"{x(h):.1f},{y(lo):.1f}" for h, lo, _hi in reversed(run))
            out.append(
                f'<polygon class="band" points="{upper} {lower}" fill="#9ecae1" '
                f'fill-opacity="0.55" stroke="none"/>'
            )
    # median
    for run in _segments(list(zip(hours, q50_ugm3, strict=True))):
        pts = " ".join(f"{x(h):.1f},{y(v):.1f}" for h, v in run)
        out.append(
            f'<polyline class="median" points="{pts}" fill="none" stroke="#08519c" '
            f'stroke-width="2.5"/>'
        )
    # critical value
    if _finite(critical_value_ugm3):
        cy = y(float(critical_value_ugm3))  # type: ignore[arg-type]
        out.append(
            f'<line class="critical" x1="{f.left:.1f}" x2="{f.left + f.plot_w:.1f}" '
            f'y1="{cy:.1f}" y2="{cy:.1f}" stroke="#cb181d" stroke-width="2" '
            f'stroke-dasharray="7 5"/>'
        )
        out.append(
            f'<text class="critical-label" x="{f.left + f.plot_w + 6:.1f}" y="{cy + 4:.1f}" '
            f'font-size="13" fill="#cb181d">{escape(labels.critical)} '
            f"{float(critical_value_ugm3):.0f}</text>"  # type: ignore[arg-type]
        )
    # observed hours so far
    for h, v in observed:
        out.append(
            f'<circle class="observed" cx="{x(h):.1f}" cy="{y(float(v)):.1f}" r="3.5" '  # type: ignore[arg-type]
            f'fill="#252525"/>'
        )
    if probability_text:
        out.append(
            f'<text class="probability" x="{f.left + 8:.1f}" y="{f.top + 16:.1f}" '
            f'font-size="13" fill="#252525">{escape(probability_text)}</text>'
        )
    out.append(_legend(f, labels, with_observed=bool(observed)))
    out.append(
        f'<rect x="{f.left:.1f}" y="{f.top:.1f}" width="{f.plot_w:.1f}" height="{f.plot_h:.1f}" '
        f'fill="none" stroke="#888" stroke-width="1"/>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _band_runs(
    pts: Sequence[tuple[int, float | None, float | None]],
) -> list[list[tuple[int, float, float]]]:
    runs: list[list[tuple[int, float, float]]] = []
    cur: list[tuple[int, float, float]] = []
    for h, lo, hi in pts:
        if _finite(lo) and _finite(hi):
            cur.append((h, float(lo), float(hi)))  # type: ignore[arg-type]
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return [r for r in runs if len(r) > 1]


def _legend(f: Frame, labels: ChartLabels, with_observed: bool = False) -> str:
    lx = f.left + f.plot_w + 12
    ly = f.top + f.plot_h - (70 if with_observed else 50)  # low: the critical label sits high
    extra = (
        [
            f'<circle cx="{lx + 11:.1f}" cy="{ly + 59:.1f}" r="3.5" fill="#252525"/>',
            f'<text x="{lx + 28:.1f}" y="{ly + 63:.1f}">{escape(labels.observed)}</text>',
        ]
        if with_observed
        else []
    )
    return "\n".join(
        [
            '<g class="legend" font-size="12">',
            f'<line x1="{lx:.1f}" x2="{lx + 22:.1f}" y1="{ly:.1f}" y2="{ly:.1f}" '
            f'stroke="#08519c" stroke-width="2.5"/>',
            f'<text x="{lx + 28:.1f}" y="{ly + 4:.1f}">{escape(labels.median)}</text>',
            f'<rect x="{lx:.1f}" y="{ly + 14:.1f}" width="22" height="10" fill="#9ecae1"/>',
            f'<text x="{lx + 28:.1f}" y="{ly + 23:.1f}">{escape(labels.band)}</text>',
            f'<rect x="{lx:.1f}" y="{ly + 34:.1f}" width="22" height="10" fill="#fde2c8"/>',
            f'<text x="{lx + 28:.1f}" y="{ly + 43:.1f}">{escape(labels.likely)}</text>',
            *extra,
            "</g>",
        ]
    )
