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


class StepSkipped(RuntimeError):
    """A step with nothing to do for the run date (the DAG shows its task as skipped)."""


def _day(run_date: str | date) -> date:
    return run_date if isinstance(run_date, date) else date.fromisoformat(run_date)


def _run_day(run_date: str | date) -> date:
    """The run date of a step that writes or reads D's marts; a date after today (WIB) or
    outside the calendar raises `lapor.calendar.RunDateError` before anything is written."""
    from lapor.calendar import check_run_date

    return check_run_date(_day(run_date))


def _record_step_failure(url: str, day: date, step: str, exc: BaseException) -> None:
    """Keep why a step of D's night failed, for the "run incomplete" notice and the report."""
    from lapor import run_status
    from lapor.warehouse import connect

    try:
        with connect(url, autocommit=True) as conn:
            run_status.record_failure(conn, day, step, f"{type(exc).__name__}: {exc}")
    except Exception:  # the warehouse itself is gone: the marks already say the step did not finish
        log.exception("why %s failed for %s could not be recorded", step, day)


def prepare(run_date: str | date, settings: Settings | None = None) -> dict:
    """Warehouse tables, calendar and registry in place; the run date recorded.

    The date is checked first (RunDateError: after today in WIB, or outside the calendar),
    before anything is written. Starts D's attempt in `quality.run_status` and marks it
    prepared at the end; a failure on the way is recorded there too.
    """
    from lapor import run_status
    from lapor.calendar import write_calendar
    from lapor.registry import load_registry
    from lapor.warehouse import connect, ensure_schema, warehouse_url

    settings = settings or Settings.from_env()
    day = _run_day(run_date)
    url = warehouse_url(settings)
    ensure_schema(url, settings)
    with connect(url) as conn:
        run_status.begin_attempt(conn, day)
        conn.commit()
        try:
            agencies = load_registry(settings.registry_path)
            write_calendar(conn)
            current = conn.execute(
                "select agency_code, agency_name, agency_type, sk_number, sk_date, admin_email, source, source_url, "
                "head_email from ref.agencies order by agency_code").fetchall()
            wanted = sorted(a.as_row() for a in agencies)
            if current != wanted:
                with conn.transaction():
                    conn.execute("delete from ref.agencies")
                    with conn.cursor().copy("copy ref.agencies (agency_code, agency_name, agency_type, sk_number, "
                                            "sk_date, admin_email, source, source_url, head_email) from stdin") as copy:
                        for row in wanted:
                            copy.write_row(row)
            conn.execute("insert into raw.pipeline_runs (run_date) values (%s) on conflict do nothing", (day,))
            conn.commit()
            expect_ingestion(conn, day, [a.agency_code for a in agencies])
            run_status.mark_prepared(conn, day)
            conn.commit()
        except Exception as exc:
            _record_step_failure(url, day, "prepare", exc)
            raise
    return {"run_date": day.isoformat(), "agencies": [a.agency_code for a in agencies]}


def ingest_agency(run_date: str | date, agency_code: str, exports_dir: str | Path | None = None,
                  settings: Settings | None = None) -> dict:
    """Land and load one agency's complaints export for the day and its new follow-up reports.

    Whatever goes wrong with one file (it is a link, over a limit, or the loader raised) ends
    as that file's recorded rejection, and the next file goes on. The agency's ingestion is
    recorded in `quality.ingest_runs`: `done` only when every file was landed and loaded or
    recorded as rejected; anything that escapes that (the warehouse went away, the HTTP
    source failed) leaves it `failed` with the error, and the check `ingest_failed` flags the
    agency. A check is never recorded as passed for an agency whose ingestion raised.
    """
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    day = _day(run_date)
    url = warehouse_url(settings)
    # One connection for the agency's whole ingestion (its status, its files, its outcome):
    # a connection costs a few milliseconds, three per agency were seconds of a national night.
    with connect(url, autocommit=True) as conn:
        _ingest_status(conn, day, agency_code, "running")
        try:
            outcome = _ingest(conn, settings, day, agency_code, exports_dir)
        except BaseException as exc:
            _record_ingest_failure(conn, url, day, agency_code, exc)
            raise
        _ingest_status(conn, day, agency_code, "done")
    return outcome


def _record_ingest_failure(conn, url: str, day: date, agency_code: str, exc: BaseException) -> None:
    """Record the agency's ingestion of `day` as `failed`: on the ingestion's connection while it
    is still usable, else (the warehouse closed it, a statement was cut off) on a new one."""
    import psycopg

    from lapor.warehouse import connect

    error = _error_text(exc)
    if not (conn.closed or conn.broken) and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        try:
            _ingest_status(conn, day, agency_code, "failed", error)
            return
        except Exception:  # the connection went while recording: try a new one
            pass
    try:
        with connect(url, autocommit=True) as fresh:
            _ingest_status(fresh, day, agency_code, "failed", error)
    except Exception:  # the warehouse itself is gone: the status stays `running`, which is not `done`
        log.exception("%s %s: the failed ingestion could not be recorded", agency_code, day)


def _error_text(exc: BaseException) -> str:
    """An exception in one line for a record: its type and the first line of its message,
    without control characters, at most 300 characters."""
    from lapor.readers.limits import visible

    first = (str(exc).strip().splitlines() or [""])[0]
    return visible(f"{type(exc).__name__}: {first}" if first else type(exc).__name__, 300)


def _ingest_status(conn, day: date, agency_code: str, status: str, error: str | None = None) -> None:
    conn.execute(
        """insert into quality.ingest_runs (run_date, agency_code, status, started_at, finished_at, error)
           values (%(d)s, %(a)s, %(s)s, case when %(s)s = 'running' then now() end,
                   case when %(s)s in ('done', 'failed') then now() end, %(e)s)
           on conflict (run_date, agency_code) do update
           set status = excluded.status, error = excluded.error, finished_at = excluded.finished_at,
               started_at = coalesce(excluded.started_at, quality.ingest_runs.started_at)""",
        {"d": day, "a": agency_code, "s": status, "e": error})


def expect_ingestion(conn, day: date, agency_codes: list[str]) -> None:
    """Every registered agency's ingestion of `day` is `pending` until its task says otherwise."""
    with conn.transaction():
        conn.execute("delete from quality.ingest_runs where run_date = %s", (day,))
        with conn.cursor().copy("copy quality.ingest_runs (run_date, agency_code, status) from stdin") as copy:
            for code in agency_codes:
                copy.write_row((day, code, "pending"))


def _ingest(conn, settings: Settings, day: date, agency_code: str, exports_dir: str | Path | None) -> dict:
    from lapor.registry import load_registry
    from lapor.sources.folder import scan_agency

    agency = next((a for a in load_registry(settings.registry_path) if a.agency_code == agency_code), None)
    warnings = []
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
            _record_source_failure(conn, day, agency_code, "http", str(exc))
            raise
        _record_source_failure(conn, day, agency_code, "http", None)
    else:
        folder = Path(exports_dir) if exports_dir else settings.exports_dir
        scan = scan_agency(folder, agency_code, day)
        complaints, followups, warnings = scan.complaints, scan.followups, scan.warnings
    results: list[dict] = []
    record_warnings(conn, day, warnings, agency_code=agency_code)
    for source in ([complaints] if complaints else []) + followups:
        results.append(_ingest_file(conn, settings, source, day))
    outcome = {"run_date": day.isoformat(), "agency_code": agency_code,
               "complaints_export": "missing" if complaints is None else results[0]["outcome"],
               "files": [r for r in results if r["outcome"] != "unchanged"],
               "warnings": [w.reason for w in warnings]}
    log.info("%s %s: export %s, %d new or changed file(s), %d warning(s)", agency_code, day,
             outcome["complaints_export"], len(outcome["files"]), len(warnings))
    return outcome


def _ingest_file(conn, settings: Settings, source, day: date) -> dict:
    """Land and load one file; any failure becomes the file's recorded rejection."""
    from lapor.landing import land
    from lapor.load import BatchResult, already_refused, load_complaints, load_followup, reject_source
    from lapor.readers import FileRejected

    landed = None
    try:
        try:
            landed = land(source, settings.landing_dir)
        except FileRejected as refused:  # never read: a link, not a regular file, over a limit
            if already_refused(conn, source, refused.reason_code):
                return BatchResult(source.relpath, source.kind, "unchanged").as_dict()
            return reject_source(conn, source, None, day, refused).as_dict()
        loader = load_complaints if source.kind == "complaints" else load_followup
        return loader(conn, landed, day).as_dict()
    except Exception as exc:  # a loader bug or a file nobody foresaw: recorded, never "ok"
        log.exception("%s could not be loaded", source.relpath)
        if conn.closed or conn.broken:
            raise
        failure = FileRejected("load_failed", f"The file could not be loaded ({type(exc).__name__}); the "
                                              "rows of the day's earlier delivery, if any, stay. The error is "
                                              "in the task log; the file is kept in the landing zone.")
        return reject_source(conn, source, landed.sha256 if landed else None, day, failure).as_dict()


def record_warnings(conn, day: date, warnings: list, agency_code: str | None = None) -> None:
    """Replace the drop folder's warnings of `day` for one agency's folder (or, with no agency,
    for the top of the drop folder) with `warnings`."""
    codes = ("misnamed_file", "unexpected_entry") if agency_code else ("unregistered_folder", "unexpected_entry")
    with conn.transaction():
        conn.execute("delete from quality.input_warnings where run_date = %s and kind is null "
                     "and agency_code is not distinct from %s and reason_code = any(%s)",
                     (day, agency_code, list(codes)))
        for w in warnings:
            conn.execute("insert into quality.input_warnings (run_date, agency_code, file, reason_code, reason) "
                         "values (%s, %s, %s, %s, %s)", (day, w.agency_code, w.path, w.reason_code, w.reason))


def survey_drop_folder(run_date: str | date, exports_dir: str | Path | None = None,
                       settings: Settings | None = None) -> list[str]:
    """Record what sits at the top of the drop folder and is no registered agency's folder."""
    from lapor.registry import load_registry
    from lapor.sources.folder import scan_drop_folder
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    day = _day(run_date)
    folder = Path(exports_dir) if exports_dir else settings.exports_dir
    codes = [a.agency_code for a in load_registry(settings.registry_path)]
    warnings = scan_drop_folder(folder, codes) if folder.is_dir() else []
    with connect(warehouse_url(settings), autocommit=True) as conn:
        record_warnings(conn, day, warnings)
    for w in warnings:
        log.warning("%s", w.reason)
    return [w.reason for w in warnings]


def _record_source_failure(conn, day: date, agency_code: str, source: str, error: str | None) -> None:
    """Keep (or clear, on success) the reason an agency's source failed for the day."""
    with conn.transaction():
        conn.execute("delete from quality.source_failures where run_date = %s and agency_code = %s",
                     (day, agency_code))
        if error:
            conn.execute("insert into quality.source_failures (run_date, agency_code, source, error) "
                         "values (%s, %s, %s, %s)", (day, agency_code, source, error))


def transform(run_date: str | date, settings: Settings | None = None) -> dict:
    """`dbt build` of the warehouse, recorded in `quality.run_status` for D: started, then built,
    or why it failed (then it raises). Skipped (StepSkipped) when D's prepare did not finish:
    nothing of D was loaded, and the marts stay as the last build left them."""
    from lapor import run_status
    from lapor.transform import build, generate_docs
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    day = _run_day(run_date)
    url = warehouse_url(settings)
    with connect(url, autocommit=True) as conn:
        status = run_status.read(conn, day)
        if status is not None and status.prepared_at is None:
            raise StepSkipped(f"prepare did not finish for {day}: nothing to build")
        run_status.mark_build_started(conn, day)
    try:
        result = build(url, settings, unit_tests=False)
    except Exception as exc:
        _record_step_failure(url, day, "transform", exc)
        raise
    with connect(url, autocommit=True) as conn:
        run_status.mark_built(conn, day)
    # The docs are not the marts: if they fail, the task fails but D's marts are complete. They
    # are generated again only when the project or the warehouse's schema changed.
    docs = generate_docs(url, settings)
    return {"run_date": day.isoformat(), "dbt": result.command, "success": result.success,
            "docs": str(docs)}


def _incomplete(url: str, day: date):
    """D's RunStatus when its marts are incomplete (see lapor.run_status), else None."""
    from lapor import run_status
    from lapor.warehouse import connect

    with connect(url, autocommit=True) as conn:
        status = run_status.read(conn, day)
    return status if status is not None and status.incomplete else None


def check(run_date: str | date, settings: Settings | None = None) -> dict:
    """The coordinator's checks and the warehouse suites for D; skipped (StepSkipped) when D's
    marts are incomplete: figures of a half-built warehouse are not findings."""
    from lapor.quality.checks import run_checks
    from lapor.quality.gx_night import Night
    from lapor.quality.suites import run_suites
    from lapor.warehouse import warehouse_url

    settings = settings or Settings.from_env()
    url = warehouse_url(settings)
    day = _run_day(run_date)
    incomplete = _incomplete(url, day)
    if incomplete is not None:
        raise StepSkipped(f"the marts of {day} are incomplete ({incomplete.step} did not finish): "
                          "no checks run; the coordinator gets the run-incomplete notice")
    # One GX context for both checkpoints; the Data Docs built once, for the night's results
    # (lapor.quality.gx_night). The rows are written before: a site that cannot be built
    # fails the step, it does not change what the checks found.
    night = Night(settings)
    outcome = run_checks(url, settings, day, night)
    outcome["suites"] = run_suites(url, settings, day, night)
    night.publish()
    return outcome


def _report_url(settings: Settings, day: date) -> str:
    from lapor.report import report_path

    return (f"{settings.report_base_url.rstrip('/')}/{report_path(settings, day).name}"
            if settings.report_base_url else report_path(settings, day).as_uri())


def alert(run_date: str | date, settings: Settings | None = None, smtp_url: str | None = None) -> dict:
    """E-mail the day's findings; `smtp_url` (from the Airflow connection `smtp_alerts`) wins
    over LAPOR_SMTP_URL. When D's marts are incomplete, only the coordinator's "run incomplete"
    notice goes out (once per attempt of the night), and no agency hears anything."""
    import dataclasses

    from lapor.alerts import compose_messages, deliver
    from lapor.alerts.chart import key_chart
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    if smtp_url:
        settings = dataclasses.replace(settings, smtp_url=smtp_url)
    day = _run_day(run_date)
    url = warehouse_url(settings)
    report_url = _report_url(settings, day)
    incomplete = _incomplete(url, day)
    with connect(url, autocommit=True) as conn:
        if incomplete is not None:
            from lapor.alerts.incomplete import compose_incomplete_notice

            notice = compose_incomplete_notice(settings, incomplete, report_url=report_url)
            return {"run_date": day.isoformat(), "incomplete": True, **deliver(conn, settings, [notice])}
        try:
            chart = key_chart(conn, day)
        except Exception:  # the digest goes out without its chart rather than not at all
            log.exception("the key chart for the digest could not be drawn")
            chart = None
        messages = compose_messages(conn, settings, day, report_url=report_url, key_chart=chart)
        return {"run_date": day.isoformat(), **deliver(conn, settings, messages)}


def report(run_date: str | date, settings: Settings | None = None) -> str:
    """The HTML report of D; marked incomplete (a banner) when D's marts are."""
    from lapor.report import write_report
    from lapor.warehouse import connect, warehouse_url

    settings = settings or Settings.from_env()
    day = _run_day(run_date)
    url = warehouse_url(settings)
    incomplete = _incomplete(url, day)
    with connect(url) as conn:
        return str(write_report(conn, settings, day, incomplete=incomplete))
