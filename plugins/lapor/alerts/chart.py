"""The digest's backlog chart as a PNG image carried in the e-mail itself.

Mail clients do not show what the report shows: Gmail and Outlook drop inline SVG, and
none runs scripts. A PNG attached to the HTML part and referenced by its Content-ID
(`<img src="cid:...">`) is what every client displays. It is drawn with matplotlib (its
Agg renderer: no browser, no display, no network, fonts shipped with the wheel), the
plotting library most Python maintainers already know; the same sentence the report uses
as the SVG's title is the image's text alternative and goes into the plain-text part.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date

from lapor.formatting import angka, tanggal, tanggal_singkat

WIDTH_PX, HEIGHT_PX, DPI = 640, 240, 100
CONTENT_ID = "grafik-tunggakan@lapor-jatim"
OPEN_COLOUR, PRIOR_COLOUR = "#1f5f99", "#c0392b"


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows with `<img src="cid:{content_id}">`."""
    content_id: str
    png: bytes
    alt: str
    width: int = WIDTH_PX
    height: int = HEIGHT_PX


def _known(series: list[int | None]) -> list[float]:
    return [math.nan if v is None else float(v) for v in series]


def describe(dates: list[date], open_series: list[int | None], prior_series: list[int | None], year: int) -> str:
    """The chart in one sentence (its text alternative)."""
    def first_last(series):
        known = [v for v in series if v is not None]
        return (known[0], known[-1]) if known else (None, None)

    (open_first, open_last), (prior_first, prior_last) = first_last(open_series), first_last(prior_series)
    if open_first is None:
        return (f"Laporan SP4N-LAPOR! belum selesai di Jawa Timur, {tanggal(dates[0])} sampai {tanggal(dates[-1])}: "
                "belum ada data.")
    return (f"Laporan SP4N-LAPOR! belum selesai di Jawa Timur, {tanggal(dates[0])} sampai {tanggal(dates[-1])}: "
            f"dari {angka(open_first)} menjadi {angka(open_last)}; tunggakan dari sebelum {year} dari "
            f"{angka(prior_first)} menjadi {angka(prior_last)}.")


def backlog_chart(dates: list[date], open_series: list[int | None], prior_series: list[int | None],
                  year: int) -> InlineImage:
    """Two lines over the days: complaints still open, and those of them submitted before
    1 January of `year`. Days the warehouse does not know yet (None) are gaps."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    axes = figure.add_subplot()
    xs = list(range(len(dates)))
    axes.plot(xs, _known(open_series), color=OPEN_COLOUR, linewidth=2, label="belum selesai (semua)")
    axes.plot(xs, _known(prior_series), color=PRIOR_COLOUR, linewidth=2, label=f"tunggakan sebelum {year}")
    ticks = sorted({0, len(dates) - 1, *range(0, len(dates), max(1, len(dates) // 4))})
    if len(ticks) > 1 and ticks[-1] - ticks[-2] < max(1, len(dates) // 8):
        ticks.pop(-2)            # no two labels on top of each other at the right edge
    axes.set_xticks(ticks, [tanggal_singkat(dates[i]) for i in ticks])
    labels = axes.get_xticklabels()
    labels[0].set_horizontalalignment("left")
    labels[-1].set_horizontalalignment("right")   # inside the image, not cut at its edge
    axes.set_xlim(0, max(1, len(dates) - 1))
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_formatter(lambda value, _: angka(int(value)) if value == int(value) else "")
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=8)
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, frameon=False, ncols=2, borderaxespad=0)
    figure.tight_layout(pad=0.4)
    out = io.BytesIO()
    # no creation time or version in the file: the same figures give the same bytes
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return InlineImage(CONTENT_ID, out.getvalue(), describe(dates, open_series, prior_series, year))


def key_chart(conn, day: date) -> InlineImage:
    """The report's key chart of D (the province's backlog over the 90 days up to D) as a PNG."""
    from lapor.report.data import load

    data = load(conn, day)
    return backlog_chart(data.dates, data.province["open_series"], data.province["prior_series"], day.year)
