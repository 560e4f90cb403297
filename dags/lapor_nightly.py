"""
### lapor_nightly — one night of SP4N-LAPOR! monitoring for Jawa Timur

For the run date D (the logical date, in WIB):

1. **prepare** — warehouse tables, calendar and agency registry in place; D recorded.
2. **ingest_agency** (mapped, one per agency) — find the agency's complaints export for D
   and its follow-up reports submitted by D, keep each file unchanged in the landing zone,
   read it, and load it into the raw layer in one transaction. A bad file is recorded in
   `quality.rejected_files`, a bad row in `quality.rejected_rows`; the other agencies go on.
3. **transform** — `dbt build` of `dbt_project/` (staging → intermediate → marts).
4. **check** — the coordinator's checks (Great Expectations) into `quality.check_results`.
5. **alert** — a digest to the coordinator and a message to each flagged agency.
6. **report** — the HTML report under `LAPOR_HOME/reports/`.

This file only says what runs when: the work lives in the `lapor` package (plugins/lapor),
imported inside the tasks so that parsing this file stays cheap.
"""
from __future__ import annotations

import os
from datetime import timedelta

# Only what defining the DAG needs, and nothing Airflow has not imported already: the DAG
# processor parses this file again and again, so the SMTP provider, the `lapor` package and
# everything else is imported inside the functions that use them, when they run.
import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

WIB = "Asia/Jakarta"
SMTP_CONN_ID = "smtp_alerts"

# When the run itself fails, the coordinator's operators hear which task and why.
FAILURE_SUBJECT = "[LAPOR! Jatim] Proses malam {{ dag.dag_id }} gagal ({{ ds }})"
FAILURE_HTML = (
    "<p>Proses malam <b>{{ dag.dag_id }}</b> untuk tanggal {{ ds }} gagal.</p>"
    "<p>Tugas: {{ ti.task_id if ti else '-' }}<br>Alasan: {{ reason if reason is defined else '-' }}</p>"
    "<p>Lihat log di Airflow, lalu jalankan ulang tanggal itu (lapor run --date …).</p>"
)


def _operators_email() -> str:
    return (os.environ.get("LAPOR_OPERATORS_EMAIL") or os.environ.get("LAPOR_COORDINATOR_EMAIL")
            or "koordinator.lapor@diskominfo.jatim.example")


def failure_notice(context) -> None:
    """The DAG's on_failure_callback: Airflow's SmtpNotifier through the connection
    `smtp_alerts`, built only when a run has failed (importing the SMTP provider at parse
    time would cost every parse of this file)."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    SmtpNotifier(to=_operators_email(), smtp_conn_id=SMTP_CONN_ID, subject=FAILURE_SUBJECT,
                 html_content=FAILURE_HTML)(context)


def _smtp_url_from_connection() -> str | None:
    """The Airflow connection `smtp_alerts`, as an smtp:// URL, when it is defined."""
    from urllib.parse import quote

    from airflow.sdk import Connection

    try:
        conn = Connection.get(SMTP_CONN_ID)
    except Exception:  # not defined: LAPOR_SMTP_URL or the outbox
        return None
    extra = conn.extra_dejson or {}
    scheme = "smtps" if extra.get("ssl") else "smtp"
    auth = f"{quote(conn.login or '', safe='')}:{quote(conn.password or '', safe='')}@" if conn.login else ""
    query = "?starttls=true" if extra.get("starttls") else ""
    return f"{scheme}://{auth}{conn.host}:{conn.port or (465 if scheme == 'smtps' else 25)}{query}"


def _run_date() -> str:
    """The run date D: the logical date in WIB (for a manual run without one, the day before)."""
    context = get_current_context()
    logical = context.get("logical_date")
    if logical is None:
        logical = pendulum.instance(context["run_after"]).subtract(days=1)
    return pendulum.instance(logical).in_timezone(WIB).date().isoformat()


def _exports_dir() -> str | None:
    return get_current_context()["params"].get("exports_dir")


@dag(
    dag_id="lapor_nightly",
    description="Nightly SP4N-LAPOR! load, marts, checks and alerts for the 38 kabupaten/kota of Jawa Timur",
    doc_md=__doc__,
    # Runs at 02:00 WIB for the day that just ended: the data interval of D is D 02:00 → D+1 02:00.
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone=WIB),
    start_date=pendulum.datetime(2021, 1, 1, tz=WIB),
    catchup=False,  # history is loaded on purpose with `lapor backfill`, day by day in order
    max_active_runs=1,  # a day's marts build on the days before it
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={"exports_dir": Param(None, type=["null", "string"], description="drop folder (default LAPOR_EXPORTS_DIR)")},
    tags=["lapor", "sp4n-lapor", "jatim"],
    on_failure_callback=failure_notice,
)
def lapor_nightly():
    @task
    def prepare() -> dict:
        from lapor import pipeline

        return pipeline.prepare(_run_date())

    @task
    def agencies(prepared: dict) -> list[str]:
        return prepared["agencies"]

    # The pool `lapor_sources` bounds how many agencies are fetched and loaded at once across
    # every run and worker (created by the compose init service; size LAPOR_SOURCES_POOL_SLOTS).
    @task(pool="lapor_sources", max_active_tis_per_dag=8, retries=2, retry_delay=timedelta(seconds=30))
    def ingest_agency(agency_code: str) -> dict:
        from lapor import pipeline

        return pipeline.ingest_agency(_run_date(), agency_code, _exports_dir())

    # The steps after ingestion run whatever happened to single agencies ("all_done"):
    # one agency's failure is one red square, and the marts, checks and alerts still
    # cover the other 37.
    @task(trigger_rule="all_done", retries=1)
    def transform() -> dict:
        from lapor import pipeline

        return pipeline.transform(_run_date())

    @task(trigger_rule="all_done", retries=1)
    def check() -> dict:
        from lapor import pipeline

        return pipeline.check(_run_date())

    @task(trigger_rule="all_done", retries=2)
    def alert() -> dict:
        from lapor import pipeline

        return pipeline.alert(_run_date(), smtp_url=_smtp_url_from_connection())

    @task(trigger_rule="all_done", retries=1)
    def report() -> str:
        from lapor import pipeline

        return pipeline.report(_run_date())

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        """Fails the run when any task failed: the steps above run "all_done", so without
        this the run would end green whenever the report could still be written."""
        raise RuntimeError("a task of this run failed; see the red task(s) in this run")

    prepared = prepare()
    agency_codes = agencies(prepared)
    ingested = ingest_agency.expand(agency_code=agency_codes)
    steps = [transform(), check(), alert(), report()]
    ingested >> steps[0]
    for upstream, downstream in zip(steps, steps[1:]):
        upstream >> downstream
    [prepared, agency_codes, ingested, *steps] >> watcher()


nightly = lapor_nightly()
