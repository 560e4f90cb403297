"""
### lapor_nightly — one night of SP4N-LAPOR! monitoring for Jawa Timur

For the run date D (the logical date, in WIB):

1. **prepare** — D checked (not after today in WIB, inside the working-day calendar: else the
   task fails at once and nothing is written); warehouse tables, calendar and agency registry
   in place; D recorded, and D's attempt started in `quality.run_status`.
2. **ingest_agency** (mapped, one per agency) — find the agency's complaints export for D
   and its follow-up reports submitted by D, keep each file unchanged in the landing zone,
   read it, and load it into the raw layer in one transaction. A bad file is recorded in
   `quality.rejected_files`, a bad row in `quality.rejected_rows`; the other agencies go on.
3. **transform** — `dbt build` of `dbt_project/` (staging → intermediate → marts); records in
   `quality.run_status` that D's marts are built, or why the build failed.
4. **check** — the coordinator's checks (Great Expectations) into `quality.check_results`.
5. **alert** — a digest to the coordinator and a message to each flagged agency.
6. **report** — the HTML report under `LAPOR_HOME/reports/`.

The steps after ingestion run whatever happened to single agencies, but never on half-built
marts: when D's prepare or build did not finish, **check** is skipped, **alert** sends the
coordinator one "run incomplete" notice (what failed, why, and `lapor run --date D`) and no
agency anything, and **report** writes D's report with a "tidak lengkap" banner. A successful
re-run of D then sends the normal e-mails, once.

When the run fails, `failure_notice` e-mails the operators (`LAPOR_OPERATORS_EMAIL`) through
the connection `smtp_alerts`, or without it through `LAPOR_SMTP_URL` or the outbox.

This file only says what runs when: the work lives in the `lapor` package (plugins/lapor),
imported inside the tasks so that parsing this file stays cheap.
"""
from __future__ import annotations

from datetime import timedelta

# Only what defining the DAG needs, and nothing Airflow has not imported already: the DAG
# processor parses this file again and again, so the SMTP provider, the `lapor` package and
# everything else is imported inside the functions that use them, when they run.
import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

# The DAG's id, schedule, pool and time zone are defined once, in lapor.settings (standard
# library only: importing it costs a parse nothing), and read by the runner and the tests too.
from lapor.settings import (DAG_ID, NIGHTLY_CRON, SOURCES_POOL, TIMEZONE, mail_from,
                            operators_email)

WIB = TIMEZONE
SMTP_CONN_ID = "smtp_alerts"

# When the run itself fails, the coordinator's operators hear which task and why. Rendered
# here with autoescape on (the reason may hold anything), never through Airflow's templating:
# under `dag.test()` the callback's context holds the scheduler's SerializedDAG, which has no
# template environment, and a reason is a value, not a template.
FAILURE_SUBJECT = "[LAPOR! Jatim] Proses malam {{ dag_id }} gagal ({{ run_date }})"
FAILURE_HTML = (
    "<p>Proses malam <b>{{ dag_id }}</b> untuk tanggal {{ run_date }} gagal.</p>"
    "<p>Tugas: {{ tasks }}<br>Alasan: {{ reason }}</p>"
    "<p>Lihat log tugas di Airflow (atau LAPOR_HOME/logs/lapor.log untuk <code>lapor run</code>), "
    "perbaiki penyebabnya, lalu jalankan ulang tanggal itu: <code>lapor run --date {{ run_date }}</code></p>"
)


def _failed_task_names(dag_id: str, run_id: str) -> list[str]:
    """The failed tasks of a run: asked of the supervisor where the callback has one (the
    scheduler's DAG processor), else of the metadata database (`dag.test()` runs the callback
    in its own process, beside the database)."""
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id, {})
        names = [key for key, state in states.items() if str(getattr(state, "value", state)) == "failed"]
        # a mapped task's key is "<task_id>_<map_index>"
        return [f"{k.rsplit('_', 1)[0]}[{k.rsplit('_', 1)[1]}]" if k.rsplit("_", 1)[-1].isdigit() else k
                for k in names]
    except Exception:
        pass
    from sqlalchemy import select

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(select(TaskInstance.task_id, TaskInstance.map_index).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.state == "failed")).all()
    return [f"{task}[{index}]" if index >= 0 else task for task, index in rows]


def _failed_tasks(context) -> str:
    """The run's failed tasks, else the task the callback's context names."""
    try:
        failed = sorted(_failed_task_names(context["dag"].dag_id, context["run_id"]))
        if failed:
            # the watcher fails whenever another task did: name it only when it is alone
            return ", ".join([t for t in failed if t != "watcher"] or failed)
    except Exception:  # neither can be asked here
        pass
    return getattr(context.get("ti"), "task_id", None) or "-"


def failure_notice_content(context) -> tuple[str, str, str]:
    """(run date, subject, HTML) of the failure notice for a callback's context."""
    from jinja2 import Environment

    logical = context.get("logical_date")
    if logical is not None:
        run_date = pendulum.instance(logical).in_timezone(WIB).date().isoformat()
    else:
        run_date = str(context.get("ds") or "-")
    dag = context.get("dag")
    values = {"dag_id": getattr(dag, "dag_id", None) or DAG_ID, "run_date": run_date,
              "tasks": _failed_tasks(context), "reason": context.get("reason") or "-"}
    subject = Environment(autoescape=False).from_string(FAILURE_SUBJECT).render(values)
    html = Environment(autoescape=True).from_string(FAILURE_HTML).render(values)
    return run_date, " ".join(subject.split()), html


def failure_notice(context) -> None:
    """The DAG's on_failure_callback: an e-mail to the operators through the connection
    `smtp_alerts` (Airflow's SmtpHook); without that connection, through LAPOR_SMTP_URL or
    into the outbox, as the alert e-mails go. Imports happen here, when a run has failed
    (importing the SMTP provider at parse time would cost every parse of this file)."""
    run_date, subject, html = failure_notice_content(context)
    to = operators_email()
    if _smtp_url_from_connection() is None:
        _failure_notice_without_connection(run_date, to, subject, html)
        return
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=SMTP_CONN_ID) as hook:
        hook.send_email_smtp(to=to, subject=subject, html_content=html,
                             from_email=hook.from_email or mail_from())


def _failure_notice_without_connection(run_date: str, to: str, subject: str, html: str) -> None:
    """LAPOR_SMTP_URL, else an .eml in the outbox (`outbox/<D>/failure-…`)."""
    import hashlib
    import re
    from datetime import date
    from html import unescape

    from lapor.alerts import Message
    from lapor.alerts.send import _outbox_write, _smtp_send, to_email
    from lapor.settings import failure_notice_transport

    smtp_url, sender, outbox = failure_notice_transport()
    try:
        day = date.fromisoformat(run_date)
    except ValueError:
        day = date.today()
    text = unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br>|</p>", "\n", html)))
    key = hashlib.sha256(f"failure|{run_date}|{to}|{pendulum.now('UTC').isoformat()}".encode()).hexdigest()
    message = Message("failure", to, subject, text, html, None, day, key)
    email = to_email(message, sender)
    if smtp_url:
        _smtp_send(smtp_url, email)
    else:
        _outbox_write(outbox, message, email)


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


def _step(name: str, **kwargs):
    """The pipeline step `name` for the run date. A date the pipeline refuses (after today in
    WIB, outside the calendar: prepare has failed on it) or a step with nothing to do (the
    marts of D are incomplete, so no checks) is a skipped task, not one more red square."""
    from airflow.sdk.exceptions import AirflowSkipException

    from lapor import pipeline
    from lapor.calendar import RunDateError

    try:
        return getattr(pipeline, name)(_run_date(), **kwargs)
    except (RunDateError, pipeline.StepSkipped) as exc:
        raise AirflowSkipException(str(exc)) from exc


@dag(
    dag_id=DAG_ID,
    description="Nightly SP4N-LAPOR! load, marts, checks and alerts for the 38 kabupaten/kota of Jawa Timur",
    doc_md=__doc__,
    # The run for day D has the logical date D 02:00 WIB and reads D only (never the data
    # interval). The scheduler starts it at D+1 02:00 with the interval D 02:00 → D+1 02:00; a
    # run started by hand (`lapor run`, the UI, the REST API) gets D-1 02:00 → D 02:00.
    schedule=CronDataIntervalTimetable(NIGHTLY_CRON, timezone=WIB),
    start_date=pendulum.datetime(2021, 1, 1, tz=WIB),
    catchup=False,  # history is loaded on purpose with `lapor backfill`, day by day in order
    max_active_runs=1,  # a day's marts build on the days before it
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={"exports_dir": Param(None, type=["null", "string"], description="drop folder (default LAPOR_EXPORTS_DIR)")},
    tags=["lapor", "sp4n-lapor", "jatim"],
    on_failure_callback=failure_notice,
)
def lapor_nightly():
    # Every task returns its result as ONE XCom (`multiple_outputs=False`): a task annotated
    # `-> dict` would otherwise also push each key as an XCom of its own, one request to the
    # execution API each (five or more per agency and night) that nothing reads.
    @task(multiple_outputs=False)
    def prepare() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from lapor import pipeline
        from lapor.calendar import RunDateError

        try:
            prepared = pipeline.prepare(_run_date())
        except RunDateError as exc:  # no retry can help: the run fails here, before anything is written
            raise AirflowFailException(f"run date refused: {exc}") from exc
        # what sits in the drop folder and is no registered agency's: a warning each
        prepared["warnings"] = pipeline.survey_drop_folder(_run_date(), _exports_dir())
        return prepared

    @task
    def agencies(prepared: dict) -> list[str]:
        return prepared["agencies"]

    # The pool `lapor_sources` bounds how many agencies are fetched and loaded at once across
    # every run and worker (set at every `lapor run`, and by the compose init service; size
    # LAPOR_SOURCES_POOL_SLOTS). It is the only bound of the project's: a cap of the task's own
    # (max_active_tis_per_dag) would make a pool larger than it useless.
    @task(pool=SOURCES_POOL, retries=2, retry_delay=timedelta(seconds=30), multiple_outputs=False)
    def ingest_agency(agency_code: str) -> dict:
        from lapor import pipeline

        return pipeline.ingest_agency(_run_date(), agency_code, _exports_dir())

    # The steps after ingestion run whatever happened to single agencies ("all_done"):
    # one agency's failure is one red square, and the marts, checks and alerts still
    # cover the other 37. They read `quality.run_status` for whether D's marts are complete:
    # if transform (or prepare) did not finish, check is skipped, alert sends only the
    # coordinator's "run incomplete" notice and report marks D's report incomplete.
    @task(trigger_rule="all_done", retries=1, multiple_outputs=False)
    def transform() -> dict:
        return _step("transform")

    @task(trigger_rule="all_done", retries=1, multiple_outputs=False)
    def check() -> dict:
        return _step("check")

    @task(trigger_rule="all_done", retries=2, multiple_outputs=False)
    def alert() -> dict:
        return _step("alert", smtp_url=_smtp_url_from_connection())

    @task(trigger_rule="all_done", retries=1)
    def report() -> str:
        return _step("report")

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
