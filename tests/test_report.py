"""The coordinator's morning report (issue 8), rendered from the seed scenario and opened in
headless Chromium: every chart draws, nothing errs, Kabupaten Blitar's missing April 2021
follow-up report stands out, and the files open, link and print without a network.

The seed day runs through the pipeline functions directly (no Airflow) to stay quick.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from report_browser import chromium, inspect_page, read_png, screenshot  # noqa: F401  (chromium: fixture)

SEED_DATE = date(2021, 5, 27)
BLITAR = "35.05"
OKABE_BLUE, OKABE_VERMILLION = "#0072B2", "#D55E00"
OVERVIEW_CHARTS = {"completion-rate", "backlog-trend", "sparkline", "ageing-province", "ageing", "followup-overdue"}
AGENCY_CHARTS = {"completion-rate", "backlog-trend", "ageing"}

# Everything the tests ask of a rendered page, under the current CSS media type.
PROBE = r"""(() => {
  const marks = 'path, rect, line, polyline, polygon, circle, ellipse';
  const charts = [...document.querySelectorAll('[data-chart]')].map(el => {
    const box = el.getBoundingClientRect();
    const drawn = [...el.querySelectorAll(marks)].filter(m => {
      if (m.closest('defs')) return false;
      const b = m.getBBox();
      return b.width > 0 || b.height > 0;
    });
    return {name: el.dataset.chart, tag: el.tagName.toLowerCase(), role: el.getAttribute('role'),
            label: el.getAttribute('aria-label') || '', agency: el.dataset.agency || null,
            width: box.width, height: box.height, drawn: drawn.length,
            visible: getComputedStyle(el).display !== 'none' && getComputedStyle(el).visibility !== 'hidden'};
  });
  const cell = (code, period) => {
    const td = document.querySelector(`td[data-agency="${code}"][data-period="${period}"]`);
    return td && {status: td.dataset.status, text: td.textContent.replace(/\s+/g, ' ').trim(),
                  background: getComputedStyle(td).backgroundColor};
  };
  const nav = document.querySelector('nav');
  return {
    title: document.title, lang: document.documentElement.lang, charts,
    blitarApril: cell('35.05', '2021-04'),
    missingCells: [...document.querySelectorAll('td[data-status="missing"]')].map(td => `${td.dataset.agency} ${td.dataset.period}`),
    trackingIds: [...document.querySelectorAll('td.tracking-id')].map(td => td.textContent.trim()),
    navDisplay: nav ? getComputedStyle(nav).display : null,
    text: document.body.innerText,
  };
})()"""


# --- formatting and geometry (no warehouse) ----------------------------------------------------

def test_numbers_and_dates_are_formatted_the_indonesian_way():
    from lapor.alerts.compose import _environment
    from lapor.formatting import angka, bulan, bulan_singkat, persen, selisih, tanggal, tanggal_singkat

    assert angka(1234) == "1.234"
    assert angka(1234567) == "1.234.567"
    assert angka(1234.5) == "1.234,5"
    assert angka(0.05) == "0,1"                     # half up, not banker's rounding
    assert angka(Decimal("69.78"), 2) == "69,78"
    assert angka(-1234.5) == "-1.234,5"
    assert angka(-0.01) == "0,0"                    # never "-0,0"
    assert angka(None) == "–"
    assert persen(69.78, 2) == "69,78%"
    assert persen(Decimal("94.44")) == "94,4%"
    assert persen(None) == "–"
    assert (selisih(3), selisih(-3), selisih(0)) == ("+3", "-3", "0")
    assert tanggal(date(2021, 5, 27)) == "27 Mei 2021"
    assert tanggal_singkat(date(2021, 8, 1)) == "1 Agu"
    assert (bulan(date(2021, 4, 1)), bulan_singkat(date(2021, 4, 1))) == ("April 2021", "Apr 2021")
    for kind in ("html", "text"):  # the e-mails write numbers and dates with the same functions
        assert _environment(kind).filters["angka"] is angka
        assert _environment(kind).filters["tanggal"] is tanggal


def test_chart_geometry_keeps_labels_apart_and_scales_from_zero():
    from lapor.report.charts import bars, line_chart, nice_ticks, sparkline, stacked_bars

    assert nice_ticks(731) == [0, 200, 400, 600, 800]
    assert nice_ticks(0) == [0, 1]
    days = [date(2021, 5, 1 + i) for i in range(20)]
    layout = line_chart(days, [("open", [100] * 20), ("prior", [99] * 20)])
    first, second = sorted(line.label_y for line in layout.lines)
    assert second - first >= 30 and second <= layout.bottom + 12
    assert layout.yticks[0] == (0, layout.bottom)
    assert [d for d, _ in layout.xticks] == [date(2021, 5, 1), date(2021, 5, 20)]
    assert sparkline([0, 0, 0]).path.startswith("M3.0 27.0")    # a flat line still draws
    assert sparkline([5]).end_x > 0
    assert sparkline([None, None]).path == ""                    # nothing known: no line
    gap = line_chart(days[:3], [("open", [1, None, 2])])         # after the warehouse's last day: a gap
    assert gap.lines[0].path.count("M") == 2 and gap.lines[0].last == 2
    stack = stacked_bars([("a", "A", [1, 1, 2, 0])], normalize=True)
    assert [s.w for s in stack.rows[0].segments] == [121.5, 121.5, 243.0]    # a 0 leaves no segment
    assert bars([{"key": "x", "label": "X", "value": 150}], maximum=100).bars[0].w == 760 - 170 - 230


# --- the seed day's report -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed_report(settings, warehouse, sample_exports) -> Path:
    """The seed day through the pipeline's own steps (as the DAG runs them), then the report."""
    from lapor import pipeline
    from lapor.report import write_report
    from lapor.warehouse import connect

    prepared = pipeline.prepare(SEED_DATE, settings)
    for code in prepared["agencies"]:
        pipeline.ingest_agency(SEED_DATE, code, sample_exports, settings)
    assert pipeline.transform(SEED_DATE, settings)["success"]
    pipeline.check(SEED_DATE, settings)
    with connect(warehouse) as conn:
        return write_report(conn, settings, SEED_DATE)


def test_province_completion_rate_is_the_scorecards_and_the_metrics(seed_report, warehouse):
    """One definition of the completion rate (macros/completion_rate.sql): the report's province
    rate is marts.agg_province_daily's, which is the metric's formula (_metrics.yml) over the
    scorecard's summed counts; per agency, the metric's formula gives agency_scorecard's rate."""
    import yaml

    from lapor.report.data import load
    from lapor.settings import DBT_PROJECT_DIR
    from lapor.warehouse import connect

    metrics = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "_metrics.yml").read_text())["metrics"]
    expr = " ".join(next(m for m in metrics if m["name"] == "completion_rate")["type_params"]["expr"].split())
    with connect(warehouse) as conn:
        province = load(conn, SEED_DATE).province
        summed, by_metric = conn.execute(
            f"""select p.completion_rate, round(m.rate, 2) from marts.agg_province_daily p,
                      lateral (select {expr} as rate from (select sum(completed_ytd) as completed_ytd,
                               sum(received_ytd) as received_ytd from marts.agency_scorecard
                               where as_of_date = p.as_of_date) s) m
               where p.as_of_date = %s""", (SEED_DATE,)).fetchone()
        differing = conn.execute(
            f"""select count(*) from marts.agency_scorecard
               where completion_rate is distinct from round({expr}, 2)""").fetchone()[0]
    assert province["rate"] is not None and province["received"] > 0
    assert province["rate"] == float(summed) == float(by_metric)
    assert differing == 0


def _pages(overview: Path) -> list[Path]:
    return [overview, *sorted((overview.parent / SEED_DATE.isoformat()).glob("agency-*.html"))]


def test_report_is_an_overview_with_one_linked_page_per_agency(seed_report, settings, warehouse):
    from lapor.report import agency_page_path, report_path

    assert seed_report == report_path(settings, SEED_DATE)
    assert (settings.reports_dir / "index.html").read_text(encoding="utf-8") == seed_report.read_text(encoding="utf-8")
    with psycopg.connect(warehouse) as conn:
        codes = [r[0] for r in conn.execute("select agency_code from marts.dim_agency order by 1")]
    assert len(codes) == 38
    blitar_page = agency_page_path(settings, SEED_DATE, BLITAR)
    assert blitar_page == settings.reports_dir / "2021-05-27" / "agency-35_05.html"
    overview_links = set(re.findall(r'href="([^"#]+\.html)(?:#[^"]*)?"', seed_report.read_text(encoding="utf-8")))
    assert {f"2021-05-27/agency-{c.replace('.', '_')}.html" for c in codes} <= overview_links
    for page in _pages(seed_report):
        for link in re.findall(r'href="([^"#]+)(?:#[^"]*)?"', page.read_text(encoding="utf-8")):
            if link.startswith("data:"):
                continue
            assert (page.parent / link).resolve().is_file(), f"{page.name} links to {link}, which does not exist"
    assert "Kabupaten Blitar" in blitar_page.read_text(encoding="utf-8")


def test_report_is_self_contained(seed_report):
    for page in _pages(seed_report):
        html = page.read_text(encoding="utf-8")
        assert "http://" not in html and "https://" not in html, f"{page.name} references the network"
        assert not re.search(r"<script|<iframe|<object|<embed|@import|<link(?![^>]*rel=\"icon\" href=\"data:)", html), page.name
        assert not re.search(r'\bsrc="(?!data:)', html), f"{page.name} loads an external resource"
        assert set(re.findall(r"url\(([^)]*)\)", html)) <= {f"#{n}-{p}" for n in OVERVIEW_CHARTS | AGENCY_CHARTS
                                                            for p in ("hatch", "dots", "grey")}, page.name
        assert html.count("<svg") == html.count('role="img"') == html.count("data-chart=") > 0, page.name


def test_overview_draws_every_chart_without_errors_and_shows_blitar_missing(seed_report, chromium, tmp_path):
    page = inspect_page(chromium, seed_report.as_uri(), PROBE, media=("screen", "print"))
    assert page.console_errors == [] and page.failed_requests == []
    screen, printed = page.value["screen"], page.value["print"]
    assert screen["lang"] == "id" and "27 Mei 2021" in screen["title"]
    charts = screen["charts"]
    assert {c["name"] for c in charts} == OVERVIEW_CHARTS
    assert sum(c["name"] == "sparkline" for c in charts) == 38
    for chart in charts + printed["charts"]:
        assert chart["tag"] == "svg" and chart["role"] == "img" and chart["label"], chart
        assert chart["visible"] and chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["drawn"] > 0, f"chart {chart['name']} {chart['agency'] or ''} drew nothing"
    assert screen["blitarApril"]["status"] == "missing"
    assert "BELUM ADA" in screen["blitarApril"]["text"]
    assert screen["blitarApril"]["background"] == "rgb(213, 94, 0)"          # Okabe-Ito vermillion
    assert screen["missingCells"] == [f"{BLITAR} 2021-04"]                 # the seed scenario's only one
    assert "69,78%" in screen["text"] and "Kabupaten Blitar" in screen["text"]
    assert printed["navDisplay"] == "none" and screen["navDisplay"] != "none"

    png = screenshot(chromium, seed_report.as_uri(), tmp_path / "overview.png")
    image = read_png(png, want=(OKABE_BLUE, OKABE_VERMILLION))
    assert (image.width, image.height) == (1280, 4000)
    assert image.size_bytes > 50_000
    assert image.distinct_colours >= 24 and image.found == [OKABE_BLUE, OKABE_VERMILLION]


def test_agency_page_shows_its_figures_and_overdue_tracking_ids(seed_report, settings, chromium, warehouse):
    from lapor.report import agency_page_path

    with psycopg.connect(warehouse) as conn:
        row = conn.execute(
            "select facts from quality.check_results where run_date = %s and check_name = 'followup_overdue' "
            "and agency_code = %s and not passed", (SEED_DATE, BLITAR)).fetchone()
    expected = [case["tracking_id"] for case in row[0]["cases"]] if row else []
    page = inspect_page(chromium, agency_page_path(settings, SEED_DATE, BLITAR).as_uri(), PROBE)
    assert page.console_errors == [] and page.failed_requests == []
    screen = page.value["screen"]
    assert {c["name"] for c in screen["charts"]} == AGENCY_CHARTS
    for chart in screen["charts"]:
        assert chart["role"] == "img" and chart["label"] and chart["width"] > 0 and chart["drawn"] > 0, chart
    assert "Kabupaten Blitar (35.05)" in screen["title"]
    assert screen["blitarApril"]["status"] == "missing" and "BELUM ADA" in screen["blitarApril"]["text"]
    assert screen["trackingIds"] == expected
    if not expected:
        assert "Tidak ada pengaduan yang melewati batas" in screen["text"]


def test_browser_check_catches_console_errors_and_missing_files(chromium, tmp_path):
    """The harness the tests above rely on does see errors (so their empty lists mean something)."""
    broken = tmp_path / "broken.html"
    broken.write_text('<!doctype html><html><body><script>console.error("rusak")</script>'
                      '<img src="tidak-ada.png"></body></html>', encoding="utf-8")
    page = inspect_page(chromium, broken.as_uri(), "document.images.length")
    assert any("rusak" in e for e in page.console_errors)
    assert page.failed_requests and page.value["screen"] == 1
