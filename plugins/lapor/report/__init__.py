"""The nightly HTML report (Bahasa Indonesia), written under `LAPOR_HOME/reports/`.

Self-contained (no network needed to open it). Reads the warehouse, never the files.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
from jinja2 import Environment, PackageLoader, select_autoescape

from lapor.alerts.compose import angka, tanggal
from lapor.settings import Settings

CHECK_LABELS = {
    "export_unreadable": "Ekspor tidak terbaca",
    "export_missing": "Ekspor tidak diterima",
    "followup_report_missing": "Laporan tindak lanjut belum ada",
    "followup_overdue": "Tindak lanjut melewati batas",
    "followup_report_late": "Laporan tindak lanjut terlambat",
    "sk_missing": "SK belum ada",
}


def report_path(settings: Settings, day: date) -> Path:
    return settings.reports_dir / f"laporan-{day.isoformat()}.html"


def _rows(conn: psycopg.Connection, sql: str, params: dict) -> list[dict]:
    cur = conn.execute(sql, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def write_report(conn: psycopg.Connection, settings: Settings, day: date) -> Path:
    params = {"d": day}
    scorecard = _rows(conn, """
        select s.*, a.agency_name, b.open_from_prior_years
        from marts.agency_scorecard s join marts.dim_agency a using (agency_code)
        left join marts.fct_backlog_daily b on b.agency_code = s.agency_code and b.as_of_date = s.as_of_date
        where s.as_of_date = %(d)s order by s.rank, s.agency_code""", params)
    periods = [r["period"] for r in _rows(conn, """
        select distinct period from marts.fct_followup_reports
        where period <= %(d)s order by period desc limit 6""", params)][::-1]
    grid_rows = _rows(conn, """
        select f.agency_code, a.agency_name, f.period, f.report_status
        from marts.fct_followup_reports f join marts.dim_agency a using (agency_code)
        where f.period = any(%(p)s) order by f.agency_code, f.period""", {"p": periods})
    grid: dict[str, dict] = {}
    for r in grid_rows:
        grid.setdefault(r["agency_code"], {"agency_name": r["agency_name"], "cells": {}})["cells"][r["period"]] = \
            r["report_status"]
    findings = _rows(conn, """
        select r.agency_code, a.agency_name, r.check_name, r.severity, r.details
        from quality.check_results r join ref.agencies a using (agency_code)
        where r.run_date = %(d)s and not r.passed order by r.agency_code, r.check_name""", params)
    totals = {
        "received": sum(r["received_ytd"] or 0 for r in scorecard),
        "completed": sum(r["completed_ytd"] or 0 for r in scorecard),
        "open": sum(r["open_complaints"] or 0 for r in scorecard),
        "prior": sum(r["open_from_prior_years"] or 0 for r in scorecard),
    }
    totals["rate"] = 100.0 * totals["completed"] / totals["received"] if totals["received"] else None
    env = Environment(loader=PackageLoader("lapor.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["tanggal"] = tanggal
    env.filters["angka"] = angka
    html = env.get_template("report.html.j2").render(
        day=day, scorecard=scorecard, periods=periods, grid=grid, findings=findings, totals=totals,
        labels=CHECK_LABELS, national_rate=69.78)
    path = report_path(settings, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    latest = settings.reports_dir / "index.html"
    latest.write_text(html, encoding="utf-8")
    return path
