"""The steps of one nightly run, as plain functions of the run date.

The DAG's tasks call these (and nothing else), so every step runs in a plain test without a
scheduler. Each step is idempotent for its run date.
"""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from lapor.settings import Settings

log = logging.getLogger(__name__)


def _day(run_date: str | date) -> date:
    return run_date if isinstance(run_date, date) else date.fromisoformat(run_date)


def prepare(run_date: str | date, settings: Settings | None = None) -> dict:
    """Warehouse tables, calendar and registry in place; the run date recorded."""
    from lapor.calendar import write_calendar
    from lapor.registry import load_registry
    from lapor.warehouse import connect, ensure_schema, warehouse_url

    settings = settings or Settings.from_env()
    day = _day(run_date)
    agencies = load_registry(settings.registry_path)
    url = warehouse_url(settings)
    ensure_schema(url, settings)
    with connect(url) as conn:
        write_calendar(conn)
        current = conn.execute(
            "select agency_code, agency_name, agency_type, sk_number, sk_date, admin_email, source, source_url "
            "from ref.agencies order by agency_code").fetchall()
        wanted = sorted(a.as_row() for a in agencies)
        if current != wanted:
            with conn.transaction():
                conn.execute("delete from ref.agencies")
                with conn.cursor().copy("copy ref.agencies (agency_code, agency_name, agency_type, sk_number, "
                                        "sk_date, admin_email, source, source_url) from stdin") as copy:
                    for row in wanted:
                        copy.write_row(row)
        conn.execute("insert into raw.pipeline_runs (run_date) values (%s) on conflict do nothing", (day,))
        conn.commit()
    return {"run_date": day.isoformat(), "agencies": [a.agency_code for a in agencies]}


def ingest_agency(run_date: str | date, agency_code: str, exports_dir: str | Path | None = None,
                  settings: Settings | None = None) -> dict:
    """Land and load one agency's complaints export for the day and its new follow-up reports."""
    from lapor.landing import land
    from lapor.load import load_complaints, load_followup
    from lapor.registry import load_registry
    from lapor.sources import list_agency_files
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    day = _day(run_date)
    agency = next((a for a in load_registry(settings.registry_path) if a.agency_code == agency_code), None)
    if agency is not None and agency.source == "http":
        from lapor.sources.http import SourceError, fetch_agency_files, token_for

        if not agency.source_url:
            raise SourceError(agency_code, f"source is http but the registry ({settings.registry_path}) "
                                           "gives no source_url")
        try:
            complaints, followups = fetch_agency_files(agency.source_url, agency_code, day,
                                                       settings.http_cache_dir, token=token_for(agency_code) or "",
                                                       timeout=settings.http_timeout, retries=settings.http_retries,
                                                       backoff=settings.http_backoff)
        except SourceError as exc:
            _record_source_failure(settings, day, agency_code, "http", str(exc))
            raise
        _record_source_failure(settings, day, agency_code, "http", None)
    else:
        folder = Path(exports_dir) if exports_dir else settings.exports_dir
        complaints, followups = list_agency_files(folder, agency_code, day)
    results: list[dict] = []
    with connect(warehouse_url(settings), autocommit=True) as conn:
        for source in ([complaints] if complaints else []) + followups:
            landed = land(source, settings.landing_dir)
            loader = load_complaints if source.kind == "complaints" else load_followup
            results.append(loader(conn, landed, day).as_dict())
    outcome = {"run_date": day.isoformat(), "agency_code": agency_code,
               "complaints_export": "missing" if complaints is None else results[0]["outcome"],
               "files": [r for r in results if r["outcome"] != "unchanged"]}
    log.info("%s %s: export %s, %d new or changed file(s)", agency_code, day, outcome["complaints_export"],
             len(outcome["files"]))
    return outcome


def _record_source_failure(settings: Settings, day: date, agency_code: str, source: str, error: str | None) -> None:
    """Keep (or clear, on success) the reason an agency's source failed for the day."""
    from lapor.warehouse import connect, warehouse_url

    with connect(warehouse_url(settings), autocommit=True) as conn:
        conn.execute("delete from quality.source_failures where run_date = %s and agency_code = %s",
                     (day, agency_code))
        if error:
            conn.execute("insert into quality.source_failures (run_date, agency_code, source, error) "
                         "values (%s, %s, %s, %s)", (day, agency_code, source, error))


def transform(run_date: str | date, settings: Settings | None = None) -> dict:
    from lapor.transform import build, generate_docs
    from lapor.warehouse import warehouse_url

    settings = settings or Settings.from_env()
    url = warehouse_url(settings)
    result = build(url, settings, unit_tests=False)
    docs = generate_docs(url, settings)
    return {"run_date": _day(run_date).isoformat(), "dbt": result.command, "success": result.success,
            "docs": str(docs)}


def check(run_date: str | date, settings: Settings | None = None) -> dict:
    from lapor.quality.checks import run_checks
    from lapor.quality.suites import run_suites
    from lapor.warehouse import warehouse_url

    settings = settings or Settings.from_env()
    url = warehouse_url(settings)
    outcome = run_checks(url, settings, _day(run_date))
    outcome["suites"] = run_suites(url, settings, _day(run_date))
    return outcome


def alert(run_date: str | date, settings: Settings | None = None, smtp_url: str | None = None) -> dict:
    """E-mail the day's findings; `smtp_url` (from the Airflow connection `smtp_alerts`) wins
    over LAPOR_SMTP_URL."""
    import dataclasses

    from lapor.alerts import compose_messages, deliver
    from lapor.report import key_chart_png_or_svg, report_path
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    if smtp_url:
        settings = dataclasses.replace(settings, smtp_url=smtp_url)
    day = _day(run_date)
    report_url = (f"{settings.report_base_url.rstrip('/')}/{report_path(settings, day).name}"
                  if settings.report_base_url else report_path(settings, day).as_uri())
    with connect(warehouse_url(settings), autocommit=True) as conn:
        try:
            key_chart = key_chart_png_or_svg(conn, settings, day)
        except Exception:  # the digest goes out without its chart rather than not at all
            log.exception("the key chart for the digest could not be drawn")
            key_chart = None
        messages = compose_messages(conn, settings, day, report_url=report_url, key_chart=key_chart)
        return {"run_date": day.isoformat(), **deliver(conn, settings, messages)}


def report(run_date: str | date, settings: Settings | None = None) -> str:
    from lapor.report import write_report
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    with connect(warehouse_url(settings)) as conn:
        return str(write_report(conn, settings, _day(run_date)))
