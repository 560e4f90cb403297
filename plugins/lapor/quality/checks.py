"""The coordinator's checks (docs/checks.md), validated with Great Expectations.

Each check is a query that gives, for every agency of the registry, whether it is flagged
on the run date D and the figures behind it. The expectation suite
(`expectations/coordinator_checks.json`) holds one expectation per check of the seed
`dbt_project/seeds/coordinator_checks.csv` (names, severity, order); GX validates each
check's table and names the unexpected agencies. The outcome is one row per check and
agency in `quality.check_results`, replaced whole for D. A check that cannot run is
recorded with severity `error` for every agency, never passed silently.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import psycopg
from psycopg.types.json import Jsonb

from lapor import vocabulary
from lapor.formatting import month_label
from lapor.quality.gx_night import Night, import_gx
from lapor.settings import EXPECTATIONS_DIR, Settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
SUITE_FILE = EXPECTATIONS_DIR / "coordinator_checks.json"


@dataclass(frozen=True)
class Finding:
    flagged: bool
    details: str
    facts: dict


Query = Callable[[psycopg.Connection, date, Settings], dict[str, Finding]]


def _agencies(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("select agency_code from ref.agencies order by agency_code")]


def _as_of(alias: str) -> str:
    """The rows of an interval model (valid_from, valid_to exclusive) that hold on %(d)s."""
    return f"{alias}.valid_from <= %(d)s and ({alias}.valid_to is null or {alias}.valid_to > %(d)s)"


def followup_report_missing(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """The months whose report is `missing` on D (marts.fct_followup_report_status)."""
    rows = conn.execute(
        f"""select s.agency_code, s.period, s.due_date
            from marts.fct_followup_report_status s
            where s.report_status = 'missing' and {_as_of('s')}
            order by s.agency_code, s.period""",
        {"d": day},
    ).fetchall()
    missing: dict[str, list[tuple[date, date]]] = {}
    for agency, period, due in rows:
        missing.setdefault(agency, []).append((period, due))
    out = {}
    for agency, months in missing.items():
        labels = ", ".join(f"{p:%Y-%m} (due {d})" for p, d in months)
        out[agency] = Finding(True, f"{len(months)} follow-up report(s) missing: {labels}", {
            "months": [{"period": p.isoformat(), "label": month_label(p), "due_date": d.isoformat()}
                       for p, d in months]})
    return out


def followup_report_late(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """The months whose report became `late` on D: the first report arrived on D, after the due date."""
    rows = conn.execute(
        """select s.agency_code, s.period, s.due_date, s.submitted_on, s.working_days_late
           from marts.fct_followup_report_status s
           where s.report_status = 'late' and s.valid_from = %(d)s
           order by 1, 2""",
        {"d": day},
    ).fetchall()
    out: dict[str, Finding] = {}
    for agency, period, due, submitted, late in rows:
        previous = out.get(agency)
        months = (previous.facts["months"] if previous else []) + [{
            "period": period.isoformat(), "label": month_label(period), "due_date": due.isoformat(),
            "submitted_on": submitted.isoformat(), "working_days_late": late}]
        text = ", ".join(f"{m['period'][:7]} (due {m['due_date']}, {m['working_days_late']} working day(s) late)"
                         for m in months)
        out[agency] = Finding(True, f"late follow-up report(s) received today: {text}", {"months": months})
    return out


def followup_overdue(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """The complaints overdue on D (marts.fct_complaint_followup_due: the follow-up limit is
    defined there, once); the working days since disposition are dim_date's index of D minus
    the disposition day's."""
    rows = conn.execute(
        """select c.agency_code, c.tracking_id, c.dispositioned_on, c.followup_limit_working_days,
                  d.working_day_index - c.dispositioned_working_day_index as working_days,
                  (select r.title from raw.complaints r where r.tracking_id = c.tracking_id
                   order by r.export_day desc limit 1) as title
           from marts.fct_complaint_followup_due c
           join marts.dim_date d on d.date_day = %(d)s
           where c.overdue_from <= %(d)s and (c.overdue_until is null or c.overdue_until > %(d)s)
           order by c.agency_code, working_days desc, c.tracking_id""",
        {"d": day},
    ).fetchall()
    grouped: dict[str, list[tuple]] = {}
    for agency, tracking_id, disp, limit, wd, title in rows:
        grouped.setdefault(agency, []).append((tracking_id, disp, wd, title, limit))
    out = {}
    for agency, cases in grouped.items():
        oldest = cases[0]
        limit = oldest[4]
        out[agency] = Finding(
            True,
            f"{len(cases)} complaint(s) without follow-up more than {limit} working days after disposition; "
            f"oldest {oldest[0]}, dispositioned {oldest[1]:%Y-%m-%d}, {oldest[2]} working days ago",
            {"count": len(cases), "limit": limit,
             "oldest": {"tracking_id": oldest[0], "working_days": oldest[2]},
             "cases": [{"tracking_id": t, "dispositioned_on": f"{d:%Y-%m-%d}", "working_days": w,
                        "working_days_late": w - lim, "title": title} for t, d, w, title, lim in cases]},
        )
    return out


DELIVERIES = "intermediate.int_agency_deliveries_daily"


def _deliveries(conn: psycopg.Connection, day: date, flag: str, columns: str) -> list[tuple]:
    """D's rows of int_agency_deliveries_daily flagged by `flag` (the rule is written there)."""
    return conn.execute(
        f"select agency_code, {columns} from {DELIVERIES} where date_day = %s and {flag} order by agency_code",
        (day,),
    ).fetchall()


def export_missing(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """D is a working day and no complaints export for D arrived (int_agency_deliveries_daily)."""
    rows = _deliveries(conn, day, "is_export_missing", "source_error")
    return {agency: Finding(True, f"no complaints export for {day} arrived"
                            + (f"; the source failed: {error}" if error else ""),
                            {"export_day": day.isoformat(), "source_error": error})
            for agency, error in rows}


def export_unreadable(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """The complaints export of D arrived and was rejected whole (int_agency_deliveries_daily)."""
    rows = _deliveries(conn, day, "is_export_unreadable",
                       "rejected_export_file, rejected_export_reason_code, rejected_export_reason")
    return {agency: Finding(True, f"the export {file} was rejected: {reason} ({code})",
                            {"file": file, "reason_code": code, "reason": reason})
            for agency, file, code, reason in rows}


def followup_unreadable(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """A follow-up report file first seen on D was rejected whole (it counts as not received)."""
    rows = _deliveries(conn, day, "is_followup_unreadable", "rejected_followup_files")
    out = {}
    for agency, rejected in rows:
        files = [{"file": f["file"], "reason_code": f["reason_code"], "reason": f["reason"]} for f in rejected]
        out[agency] = Finding(True, "; ".join(f"the follow-up report {f['file']} was rejected: {f['reason']} "
                                              f"({f['reason_code']})" for f in files), {"files": files})
    return out


def ingest_failed(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """The agency's ingestion of D did not end `done` (its task raised, or never ran): what
    it holds for D is unknown, so it is flagged rather than passed. An HTTP source that
    failed is named by `export_missing` already (int_agency_deliveries_daily)."""
    rows = _deliveries(conn, day, "is_ingest_failed", "ingest_status, ingest_error")
    what = {"pending": "never started", "running": "did not finish", "failed": "failed"}
    return {agency: Finding(True, f"loading the agency's files for {day} {what[status]}"
                            + (f": {error}" if error else "") + "; run the date again once the cause is fixed",
                            {"status": status, "error": error, "run_date": day.isoformat()})
            for agency, status, error in rows}


def sk_missing(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """No SK in force on D (int_agency_deliveries_daily.has_sk_in_force)."""
    rows = _deliveries(conn, day, "is_sk_missing", "sk_number, sk_date")
    return {agency: Finding(True, "no SK (decree) naming the complaint managers is registered"
                            if not (number or "").strip() or not sk_date
                            else f"the SK {number} takes effect only on {sk_date}",
                            {"sk_number": number, "sk_date": sk_date.isoformat() if sk_date else None})
            for agency, number, sk_date in rows}


def volume_anomaly(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """The agencies gone silent on D (marts.fct_agency_volume_daily: the norm and the
    threshold are defined there). A weekend or holiday is no row there: on such a D the latest
    working day before it is judged, so a silence stays one finding over a weekend."""
    rows = conn.execute(
        """select v.agency_code, v.window_new_complaints, v.window_expected, v.window_expected_min,
                  v.history_working_days, v.window_working_days,
                  (select min(w.date_day) from marts.fct_agency_volume_daily w
                   where w.agency_code = v.agency_code and w.date_day <= v.date_day
                     and w.date_day > (select max(x.date_day) from marts.fct_agency_volume_daily x
                                       where x.agency_code = v.agency_code and x.date_day <= v.date_day
                                         and x.new_complaints > 0)) as silent_since
           from marts.fct_agency_volume_daily v
           where v.date_day = (select max(d.date_day) from marts.dim_date d
                               where d.is_working_day and d.date_day <= %(d)s)
             and v.is_volume_anomaly
           order by v.agency_code""",
        {"d": day},
    ).fetchall()
    out = {}
    for agency, seen, expected, low, history, k, silent_since in rows:
        out[agency] = Finding(
            True,
            f"{seen} new complaint(s) over the last {k} working days; expected about {float(expected):.1f} "
            f"(at least {float(low):.1f}) from the agency's own last {history} working days"
            + (f"; none since {silent_since}" if silent_since else ""),
            {"window_working_days": k, "seen": seen, "expected": float(expected), "expected_min": float(low),
             "history_working_days": history,
             "silent_since": silent_since.isoformat() if silent_since else None})
    return out


def stale_export(conn: psycopg.Connection, day: date, settings: Settings) -> dict[str, Finding]:
    """The agencies whose export of D is the same as the earlier ones for N working days
    (marts.fct_export_changes). On a weekend or holiday D (no export due) the agency's latest
    export on or before D is judged, so a stale stream stays one finding over a weekend."""
    rows = conn.execute(
        """select agency_code, unchanged_since, unchanged_working_days from (
               select distinct on (c.agency_code) c.agency_code, c.unchanged_since, c.unchanged_working_days,
                      c.is_stale
               from marts.fct_export_changes c
               join marts.dim_date d on d.date_day = %(d)s
               where c.export_day = %(d)s or (not d.is_working_day and c.export_day <= %(d)s)
               order by c.agency_code, c.export_day desc) latest
           where is_stale order by agency_code""",
        {"d": day},
    ).fetchall()
    return {agency: Finding(True, f"the complaints export has not changed at all for {n} working days "
                            f"(the same file as on {since})",
                            {"unchanged_since": since.isoformat(), "unchanged_working_days": n,
                             "limit": settings.stale_export_working_days})
            for agency, since, n in rows}


QUERIES: dict[str, Query] = {
    "ingest_failed": ingest_failed,
    "export_unreadable": export_unreadable,
    "followup_unreadable": followup_unreadable,
    "export_missing": export_missing,
    "followup_report_missing": followup_report_missing,
    "followup_overdue": followup_overdue,
    "followup_report_late": followup_report_late,
    "sk_missing": sk_missing,
    "volume_anomaly": volume_anomaly,
    "stale_export": stale_export,
}


def load_suite() -> list[dict]:
    """The expectations of the coordinator's suite, in the order the digest shows them: one per
    row of the seed `coordinator_checks.csv` (lapor.vocabulary.checks), each made from the
    suite's expectation template in `expectations/coordinator_checks.json`."""
    suite = json.loads(SUITE_FILE.read_text())
    template = suite["expectation_per_check"]
    return [{"type": template["type"],
             "kwargs": {**template["kwargs"], "column": check.name},
             "meta": {"check_name": check.name, "severity": check.severity, "order": check.position,
                      "label": check.label, "description": check.description}}
            for check in vocabulary.checks()]


def _validate(night: "Night", day: date, expectations: list[dict], table: "pd.DataFrame") -> dict[str, set[str]]:
    """Validate the per-agency table with the suite through a GX checkpoint whose results are
    kept under `LAPOR_HOME/gx` and published in the Data Docs site there (by `night.publish`,
    once a night: lapor.quality.gx_night).

    Returns, per check, the agencies GX found unexpected (flagged)."""
    gx = import_gx()
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = night.context
    source = context.data_sources.add_or_update_pandas("coordinator")
    asset = next((a for a in source.assets if a.name == "agencies_per_run"), None) \
        or source.add_dataframe_asset("agencies_per_run")
    batch = next((b for b in asset.batch_definitions if b.name == "run_date"), None) \
        or asset.add_batch_definition_whole_dataframe("run_date")
    suite = ExpectationSuite(name="coordinator_checks", meta={"source": str(SUITE_FILE)})
    for expectation in expectations:
        suite.add_expectation_configuration(ExpectationConfiguration(
            type=expectation["type"], kwargs=expectation["kwargs"], meta=expectation.get("meta")))
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name="coordinator_checks", data=batch, suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name="lapor_nightly", validation_definitions=[definition], actions=night.actions(),
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["agency_code"]}))
    result = night.run(checkpoint, batch_parameters={"dataframe": table},
                       run_id=RunIdentifier(run_name=f"lapor_nightly {day.isoformat()}"))
    flagged: dict[str, set[str]] = {}
    for run in result.run_results.values():
        for outcome in run.results:
            column = outcome.expectation_config.kwargs["column"]
            if outcome.exception_info and outcome.exception_info.get("raised_exception"):
                raise RuntimeError(f"{column}: {outcome.exception_info.get('exception_message')}")
            flagged[column] = {row["agency_code"] for row in outcome.result.get("unexpected_index_list") or []}
    return flagged


def data_docs_index(settings: Settings) -> Path:
    return settings.home / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def run_checks(url: str, settings: Settings, day: date, night: "Night | None" = None) -> dict:
    """Run every check for day D and replace D's rows in `quality.check_results`. The GX
    validation runs in `night` (lapor.quality.gx_night), whose `publish` the caller runs once
    the night's checkpoints are done; without one, the Data Docs are built here."""
    from lapor.warehouse import connect

    import pandas as pd

    results: list[tuple] = []
    summary: dict[str, list[str]] = {}
    validation = night or Night(settings)
    with connect(url) as conn:
        agencies = _agencies(conn)
        findings: dict[str, dict[str, Finding]] = {}
        errors: dict[str, str] = {}
        suite = load_suite()
        for expectation in suite:
            name = expectation["meta"]["check_name"]
            try:
                findings[name] = QUERIES[name](conn, day, settings)
            except Exception as exc:  # recorded, never silently passed
                log.exception("check %s could not run", name)
                errors[name] = f"the check could not run: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            conn.rollback()
        ran = [e for e in suite if e["meta"]["check_name"] in findings]
        table = pd.DataFrame({"agency_code": agencies, **{
            e["meta"]["check_name"]: [a in findings[e["meta"]["check_name"]] for a in agencies] for e in ran}})
        try:
            flagged = _validate(validation, day, ran, table) if ran else {}
        except Exception as exc:
            log.exception("Great Expectations could not validate the checks")
            for e in ran:
                errors[e["meta"]["check_name"]] = f"the validation could not run: {type(exc).__name__}: {exc}"
            flagged = {}
        for expectation in suite:
            name, severity = expectation["meta"]["check_name"], expectation["meta"]["severity"]
            if name in errors:
                results += [(day, name, a, False, "error", errors[name], Jsonb({"error": errors[name]}))
                            for a in agencies]
                summary[name] = ["error"]
                continue
            summary[name] = sorted(flagged.get(name, set()))
            for agency in agencies:
                finding = findings[name].get(agency)
                if agency in flagged.get(name, set()) and finding:
                    results.append((day, name, agency, False, severity, finding.details, Jsonb(finding.facts)))
                else:
                    results.append((day, name, agency, True, severity, "ok", Jsonb({})))
        with conn.transaction():
            conn.execute("delete from quality.check_results where run_date = %s", (day,))
            with conn.cursor().copy(
                "copy quality.check_results (run_date, check_name, agency_code, passed, severity, details, facts) "
                "from stdin"
            ) as copy:
                for row in results:
                    copy.write_row(row)
    if night is None:
        validation.publish()
    return {"run_date": day.isoformat(), "flagged": summary, "data_docs": str(data_docs_index(settings))}
