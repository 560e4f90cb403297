"""Geometry of the report's charts: scales, ticks and SVG path data, as plain data.

No markup here: `templates/_charts.html.j2` draws these layouts as inline SVG (and holds the
words). Colours are the Okabe–Ito palette, safe for colour-blind readers; every series also
differs by line pattern, marker or fill pattern, and carries a direct label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Sequence

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
# Age buckets, young to old: cool to warm, the two oldest also hatched/dotted.
AGE_BUCKETS = [
    {"key": "age_0_5", "colour": OKABE_ITO["sky_blue"], "pattern": None},
    {"key": "age_6_14", "colour": OKABE_ITO["bluish_green"], "pattern": None},
    {"key": "age_15_60", "colour": OKABE_ITO["orange"], "pattern": "dots"},
    {"key": "age_61_plus", "colour": OKABE_ITO["vermillion"], "pattern": "hatch"},
]
LINE_STYLES = {
    "open": {"colour": OKABE_ITO["blue"], "dash": None, "marker": "circle", "width": 2.5},
    "prior": {"colour": OKABE_ITO["vermillion"], "dash": "7 4", "marker": "square", "width": 2.5},
}


def _r(value: float) -> float:
    return round(value, 1)


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Ticks from 0 to a round number ≥ maximum, about `count` steps (whole steps for counts ≥ 1)."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if maximum >= 1:
        step = max(1, round(step)) if step >= 1 else 1
    top = math.ceil(maximum / step - 1e-9) * step
    ticks, value = [], 0.0
    while value <= top + 1e-9:
        ticks.append(int(value) if float(value).is_integer() else round(value, 6))
        value += step
    return ticks


@dataclass
class Line:
    key: str
    values: list[float]
    path: str
    colour: str
    dash: str | None
    marker: str
    width: float
    end_x: float
    end_y: float
    label_y: float
    first: float
    last: float


@dataclass
class LineLayout:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    lines: list[Line]
    yticks: list[tuple[float, float]]
    xticks: list[tuple[date, float]]
    year_marks: list[tuple[date, float]] = field(default_factory=list)


def line_chart(dates: Sequence[date], series: Sequence[tuple[str, Sequence[float]]], width: int = 760,
               height: int = 280, label_width: int = 190) -> LineLayout:
    """Lines over days, y from 0; direct labels at the right end, pushed apart when close."""
    left, top, right, bottom = 52.0, 16.0, float(width - label_width), float(height - 34)
    n = max(len(dates), 1)
    maximum = max((v for _, values in series for v in values), default=0)
    yticks = nice_ticks(maximum)
    y_top = yticks[-1] or 1

    def x(i: int) -> float:
        return left + (right - left) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v / y_top)

    lines = []
    for key, values in series:
        style = LINE_STYLES[key]
        points = [(x(i), y(v)) for i, v in enumerate(values)] or [(left, bottom)]
        if len(points) == 1:
            points = [(left, points[0][1]), (right, points[0][1])]
        path = "M" + " L".join(f"{_r(px)} {_r(py)}" for px, py in points)
        lines.append(Line(key, list(values), path, style["colour"], style["dash"], style["marker"], style["width"],
                          _r(points[-1][0]), _r(points[-1][1]), _r(points[-1][1]),
                          values[0] if values else 0, values[-1] if values else 0))
    # keep the end labels at least 30 px apart (two text lines each)
    ordered = sorted(lines, key=lambda line: line.label_y)
    for above, below in zip(ordered, ordered[1:]):
        if below.label_y - above.label_y < 30:
            below.label_y = _r(above.label_y + 30)
    for line in reversed(ordered):
        line.label_y = min(line.label_y, bottom + 12)
    for upper, lower in zip(ordered[-2::-1], ordered[:0:-1]):
        if lower.label_y - upper.label_y < 30:
            upper.label_y = _r(lower.label_y - 30)

    xticks = [(d, _r(x(i))) for i, d in enumerate(dates) if d.day == 1]
    if len(xticks) < 2 and dates:
        xticks = [(dates[0], _r(x(0))), (dates[-1], _r(x(n - 1)))]
    year_marks = [(d, _r(x(i))) for i, d in enumerate(dates) if d.month == 1 and d.day == 1 and i > 0]
    return LineLayout(width, height, left, top, right, bottom, lines,
                      [(t, _r(y(t))) for t in yticks], xticks, year_marks)


@dataclass
class Spark:
    width: int
    height: int
    path: str
    end_x: float
    end_y: float
    first: float
    last: float
    peak: float


def sparkline(values: Sequence[float], width: int = 130, height: int = 30) -> Spark:
    """A small line from 0 to the series' own maximum, with room for the end dot."""
    pad = 3.0
    values = list(values) or [0]
    if len(values) == 1:
        values = values * 2
    peak = max(values)
    top = peak or 1

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * i / (len(values) - 1)

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    path = "M" + " L".join(f"{_r(x(i))} {_r(y(v))}" for i, v in enumerate(values))
    return Spark(width, height, path, _r(x(len(values) - 1)), _r(y(values[-1])), values[0], values[-1], peak)


@dataclass
class Segment:
    bucket: int
    value: float
    x: float
    w: float
    labelled: bool


@dataclass
class StackRow:
    key: str
    label: str
    y: float
    total: float
    segments: list[Segment]


@dataclass
class StackLayout:
    width: int
    height: int
    left: float
    right: float
    top: float
    bar_height: float
    rows: list[StackRow]
    ticks: list[tuple[float, float]]
    normalized: bool


def stacked_bars(rows: Sequence[tuple[str, str, Sequence[float]]], width: int = 760, label_width: int = 210,
                 bar_height: float = 16, gap: float = 7, normalize: bool = False,
                 min_label_width: float = 24) -> StackLayout:
    """Horizontal stacked bars on a shared scale (or each as 100% when `normalize`)."""
    left, right, top = float(label_width), float(width - 64), 8.0
    maximum = max((sum(values) for _, _, values in rows), default=0)
    ticks = [0, 25, 50, 75, 100] if normalize else nice_ticks(maximum)
    scale_top = 100 if normalize else (ticks[-1] or 1)
    out = []
    for i, (key, label, values) in enumerate(rows):
        total = sum(values)
        factor = (100 / total if total else 0) if normalize else 1
        x, segments = left, []
        for bucket, value in enumerate(values):
            w = (right - left) * value * factor / scale_top
            segments.append(Segment(bucket, value, _r(x), _r(w), w >= min_label_width))
            x += w
        out.append(StackRow(key, label, _r(top + i * (bar_height + gap)), total,
                            [s for s in segments if s.value]))
    height = int(top + len(rows) * (bar_height + gap) + 28)
    return StackLayout(width, height, left, right, top, bar_height, out,
                       [(t, _r(left + (right - left) * t / scale_top)) for t in ticks], normalize)


@dataclass
class Bar:
    key: str
    label: str
    value: float
    y: float
    w: float
    note: str = ""
    style: str = "plain"


@dataclass
class BarLayout:
    width: int
    height: int
    left: float
    right: float
    top: float
    bar_height: float
    bars: list[Bar]
    ticks: list[tuple[float, float]]
    reference: tuple[float, float] | None = None


def bars(rows: Sequence[dict], width: int = 760, label_width: int = 230, bar_height: float = 18,
         gap: float = 8, maximum: float | None = None, reference: float | None = None,
         value_width: int = 170) -> BarLayout:
    """Horizontal bars; rows are dicts with key, label, value and optional note and style."""
    left, right, top = float(label_width), float(width - value_width), 8.0
    top_value = maximum if maximum is not None else (nice_ticks(max((r["value"] for r in rows), default=0))[-1] or 1)
    ticks = [0, 25, 50, 75, 100] if maximum == 100 else nice_ticks(top_value)
    out = [Bar(r["key"], r["label"], r["value"], _r(top + i * (bar_height + gap)),
               _r((right - left) * min(r["value"], top_value) / top_value), r.get("note", ""), r.get("style", "plain"))
           for i, r in enumerate(rows)]
    height = int(top + len(rows) * (bar_height + gap) + 28)
    ref = (reference, _r(left + (right - left) * reference / top_value)) if reference is not None else None
    return BarLayout(width, height, left, right, top, bar_height, out,
                     [(t, _r(left + (right - left) * t / top_value)) for t in ticks], ref)
