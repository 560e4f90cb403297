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
    values: list[float | None]
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


def _path(points: Sequence[tuple[float, float] | None]) -> str:
    """SVG path data through the points; a None breaks the line."""
    parts, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{_r(point[0])} {_r(point[1])}")
        pen_down = True
    return " ".join(parts)


def line_chart(dates: Sequence[date], series: Sequence[tuple[str, Sequence[float | None]]], width: int = 760,
               height: int = 280, label_width: int = 190) -> LineLayout:
    """Lines over days, y from 0, gaps where a value is None; direct labels at each line's last
    value, pushed apart when close."""
    left, top, right, bottom = 52.0, 26.0, float(width - label_width), float(height - 34)
    n = max(len(dates), 1)
    maximum = max((v for _, values in series for v in values if v is not None), default=0)
    yticks = nice_ticks(maximum)
    y_top = yticks[-1] or 1

    def x(i: int) -> float:
        return left + (right - left) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v / y_top)

    lines = []
    for key, values in series:
        style = LINE_STYLES[key]
        known = [(i, v) for i, v in enumerate(values) if v is not None]
        if not known:
            continue
        points = [None if v is None else (x(i), y(v)) for i, v in enumerate(values)]
        if len(known) == 1:  # one day: a short level stroke, so it shows
            i, v = known[0]
            points = [(x(i) - 4, y(v)), (x(i), y(v))]
        (first_i, first), (last_i, last) = known[0], known[-1]
        lines.append(Line(key, list(values), _path(points), style["colour"], style["dash"], style["marker"],
                          style["width"], _r(x(last_i)), _r(y(last)), _r(y(last)), first, last))
    # keep the end labels at least 30 px apart (two text lines each), inside the plot's height
    ordered = sorted(lines, key=lambda line: line.label_y)
    for above, below in zip(ordered, ordered[1:]):
        if below.label_y - above.label_y < 30:
            below.label_y = _r(above.label_y + 30)
    if ordered and ordered[-1].label_y > bottom + 12:
        ordered[-1].label_y = bottom + 12
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
    first: float | None
    last: float | None
    peak: float | None


def sparkline(values: Sequence[float | None], width: int = 130, height: int = 30) -> Spark:
    """A small line from 0 to the series' own maximum (gaps at None), with room for the end dot."""
    pad = 3.0
    values = list(values) or [None]
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    peak = max((v for _, v in known), default=0)
    top = peak or 1
    steps = max(len(values) - 1, 1)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * i / steps

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    points = [None if v is None else (x(i), y(v)) for i, v in enumerate(values)]
    if len(known) == 1:
        i, v = known[0]
        points = [(x(i) - 3, y(v)), (x(i), y(v))]
    if not known:
        return Spark(width, height, "", 0, 0, None, None, None)
    (_, first), (last_i, last) = known[0], known[-1]
    return Spark(width, height, _path(points), _r(x(last_i)), _r(y(last)), first, last, peak)


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
    """Horizontal stacked bars on a shared scale (or each as 100% when `normalize`); a legend row on top."""
    left, right, top = float(label_width), float(width - 64), 32.0
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
