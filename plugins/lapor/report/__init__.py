"""The nightly HTML report (Bahasa Indonesia), written under `LAPOR_HOME/reports/`.

    reports/laporan-<D>.html           the province overview (`report_path`)
    reports/<D>/agency-<35_05>.html    one page per agency, linked from the overview
    reports/index.html                 a copy of the latest day's overview

Self-contained: charts are inline SVG, styles inline, no script and no network needed to
open, forward or print it. Reads the warehouse, never the files.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from lapor import vocabulary
from lapor.report import charts
from lapor.report.data import ReportData, load
from lapor.report.findings import Findings, load_findings
from lapor.formatting import (angka, bulan, bulan_singkat, persen, selisih, tanggal,
                                     tanggal_singkat)
from lapor.settings import Settings

# Completion rate of regional governments in 2020 (SE Mendagri 490/1921/SJ, 18 March 2021; docs/domain.md).
NATIONAL_COMPLETION_RATE_2020 = 69.78

__all__ = ["write_report", "report_path", "agency_page_path", "render"]


def report_path(settings: Settings, day: date) -> Path:
    return settings.reports_dir / f"laporan-{day.isoformat()}.html"


def agency_page_path(settings: Settings, day: date, agency_code: str) -> Path:
    return settings.reports_dir / day.isoformat() / f"agency-{agency_code.replace('.', '_')}.html"


def _environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([PackageLoader("lapor.report", "templates"), PackageLoader("lapor.alerts", "templates")]),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "svg")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(tanggal=tanggal, tanggal_singkat=tanggal_singkat, angka=angka, persen=persen,
                       selisih=selisih, bulan=bulan, bulan_singkat=bulan_singkat,
                       age_row=lambda agency: (agency.code, agency.name, agency.ages))
    env.globals.update(geom=charts, OKABE_ITO=charts.OKABE_ITO, AGE_BUCKETS=charts.AGE_BUCKETS,
                       national_rate=NATIONAL_COMPLETION_RATE_2020,
                       check_label=vocabulary.check_label,  # _labels.j2's check names (coordinator_checks.csv)
                       severity_label=vocabulary.severity_label)  # ... and severity names (severities.csv)
    return env


def _incomplete_banner(incomplete) -> dict | None:
    """What the banner of an incomplete night says (`incomplete`: lapor.run_status.RunStatus)."""
    if incomplete is None:
        return None
    from lapor.alerts.incomplete import STEP_LABELS

    return {"step": incomplete.step, "step_label": STEP_LABELS.get(incomplete.step, incomplete.step),
            "reason": incomplete.error, "rerun": f"lapor run --date {incomplete.run_date.isoformat()}"}


def render(data: ReportData, settings: Settings, incomplete=None, findings: Findings | None = None) -> dict[str, str]:
    """The report's pages: {"overview": html, "<agency_code>": html, ...}. With `incomplete`
    (the RunStatus of a night whose marts were not completely built) every page opens with a
    banner saying so."""
    env = _environment()
    common = {"data": data, "day": data.day, "p": data.province, "sla_days": settings.followup_sla_working_days,
              "due_day": settings.followup_due_working_day, "incomplete": _incomplete_banner(incomplete),
              "overview_name": f"laporan-{data.day.isoformat()}.html", "pages_dir": data.day.isoformat(),
              "findings": findings or Findings([], [], {}),
              "agency_by_code": {a.code: a for a in data.agencies}}
    pages = {"overview": env.get_template("report.html.j2").render(common)}
    by_code = sorted(data.agencies, key=lambda a: a.code)
    for i, agency in enumerate(by_code):
        pages[agency.code] = env.get_template("agency.html.j2").render(
            common, a=agency, previous=by_code[i - 1] if i else None,
            next=by_code[i + 1] if i + 1 < len(by_code) else None)
    return pages


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _latest_reported_day(settings: Settings) -> date | None:
    days = []
    for path in settings.reports_dir.glob("laporan-*.html"):
        try:
            days.append(date.fromisoformat(path.stem.removeprefix("laporan-")))
        except ValueError:
            continue
    return max(days, default=None)


def _render_incomplete_only(settings: Settings, day: date, incomplete) -> dict[str, str]:
    """The overview of a night whose marts cannot even be read: the banner and nothing else."""
    return {"overview": _environment().get_template("report_incomplete.html.j2").render(
        day=day, incomplete=_incomplete_banner(incomplete), sla_days=settings.followup_sla_working_days,
        due_day=settings.followup_due_working_day)}


def write_report(conn: psycopg.Connection, settings: Settings, day: date, incomplete=None) -> Path:
    """Write the day's overview and agency pages; `reports/index.html` follows the latest day.
    `incomplete`: D's RunStatus when its marts were not completely built (a banner on every page)."""
    if incomplete is None:
        pages = render(load(conn, day), settings, findings=load_findings(conn, day))
    else:
        try:
            pages = render(load(conn, day), settings, incomplete, findings=load_findings(conn, day))
        except psycopg.Error:  # the marts are not there at all (the first build failed)
            conn.rollback()
            pages = _render_incomplete_only(settings, day, incomplete)
    for code, html in pages.items():
        if code != "overview":
            _write(agency_page_path(settings, day, code), html)
    path = report_path(settings, day)
    _write(path, pages["overview"])
    latest = _latest_reported_day(settings)
    if latest is None or day >= latest:
        _write(settings.reports_dir / "index.html", pages["overview"])
    return path
