"""`lapor_nightly` under a real scheduler, as the production compose runs it, without Docker:
Airflow's own api-server, scheduler and dag-processor started here as processes
(LocalExecutor, metadata database in PostgreSQL), set up by the compose's init script
(`docker/airflow-init.sh`: migrate, pool `lapor_sources`, connection `smtp_alerts`, admin
password), and the run unpaused, triggered and followed through the REST API with a token
from `/auth/token`, as an operator would.

The run writes to its own warehouse database (`lapor_smoke`) on the session's embedded server,
beside Airflow's `airflow_meta`: alerts are sent once per run date and warehouse, so a run of
2021-05-27 in the shared `lapor` database would leave tests/test_seed_scenario.py (which runs
the same date) nothing to send. Every other setting is the session's (LAPOR_HOME, registry, …).

After that night, the next one fails: Kabupaten Sumenep's registry entry now points at an
export API for which no token is set, so its ingestion fails (after its retries) and the run
ends failed. The DAG's failure notice must reach the operators through `smtp_alerts` from the
scheduler's side (the DAG processor runs the callback), as `lapor run` sends it through
`dag.test()` (tests/test_failure_notice.py). (A date the pipeline refuses cannot be tried here:
the scheduler itself never starts the tasks of a logical date in the future or before the
DAG's start date.)
"""
from __future__ import annotations

import os
import time
from datetime import date

import psycopg
import pytest

from lapor.scheduler import LocalAirflow, metadata_urls, tail
from lapor.settings import DAG_ID, SOURCES_POOL

SEED_DATE = date(2021, 5, 27)
LOGICAL_DATE = "2021-05-27T02:00:00+07:00"
FAILING_DATE = date(2021, 5, 28)
FAILING_LOGICAL_DATE = "2021-05-28T02:00:00+07:00"
OPERATORS = "operator.lapor@diskominfo.jatim.example"
NOTICE_TIMEOUT = 120  # seconds for the DAG processor to run the failure callback
RUN_TIMEOUT = 8 * 60  # seconds; the run takes about two minutes here
POOL_SLOTS = 4
DATABASES = {"meta": "airflow_meta", "warehouse": "lapor_smoke"}


@pytest.fixture()
def databases(warehouse, drop_database):
    """Fresh `airflow_meta` and `lapor_smoke` databases on the session's server, dropped afterwards."""
    with psycopg.connect(warehouse, autocommit=True) as conn:
        for name in DATABASES.values():
            drop_database(name)
            conn.execute(f'create database "{name}"')
    server = warehouse.rsplit("/", 1)[0]
    yield {key: f"{server}/{name}" for key, name in DATABASES.items()}
    for name in DATABASES.values():
        drop_database(name)


def failure_report(airflow: LocalAirflow, run_id: str, state: str, task_instances: list[dict]) -> str:
    lines = [f"run {run_id} ended {state!r} (limit {RUN_TIMEOUT} s)"]
    unhappy = [ti for ti in task_instances if ti["state"] not in {"success", "skipped"}]
    for ti in unhappy:
        lines.append(f"  {ti['task_id']}[{ti['map_index']}]: {ti['state']}")
    for path in airflow.task_logs(DAG_ID, run_id):
        if any(f"task_id={ti['task_id']}" in str(path) for ti in unhappy):
            lines.append(f"----- task log {path} -----\n{tail(path, 2000)}")
    lines.append(airflow.diagnostics())
    return "\n".join(lines)


def test_lapor_nightly_runs_under_a_real_scheduler(databases, settings, sample_exports, smtp_server, tmp_path):
    smtp_url, mailbox = smtp_server
    smtp_host = smtp_url.split("://", 1)[1]
    registry = tmp_path / "agencies.csv"  # the shipped registry; the second night changes it
    registry.write_bytes(settings.registry_path.read_bytes())
    session_env = {**os.environ, "LAPOR_WAREHOUSE_URL": databases["warehouse"]}
    airflow = LocalAirflow.configure(
        tmp_path / "airflow", metadata_urls(databases["meta"])[0], base=session_env,
        extra={
            # Only the run triggered below: unpausing must not start today's scheduled run.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "LAPOR_SOURCES_POOL_SLOTS": str(POOL_SLOTS),
            "LAPOR_OPERATORS_EMAIL": OPERATORS,
            "LAPOR_REGISTRY": str(registry),
            # The compose's SMTP_ALERTS_CONN_URI points at Mailpit; here at the test SMTP server.
            "SMTP_ALERTS_CONN_URI": f"smtp://{smtp_host}?disable_ssl=true&disable_tls=true"
                                    "&from_email=noreply%40lapor-jatim.example",
        })
    mailbox.clear()
    started = time.monotonic()
    with airflow:  # the components' process groups are ended whatever happens
        airflow.init()
        airflow.start(["api-server", "scheduler", "dag-processor"])
        airflow.wait_until_ready()
        api = airflow.api()
        api.wait_for_dag(DAG_ID, alive=airflow.check_alive)
        assert api.import_errors() == []
        pool = next(p for p in api.get("/api/v2/pools")["pools"] if p["name"] == SOURCES_POOL)
        assert pool["slots"] == POOL_SLOTS

        api.unpause(DAG_ID)
        run_id = api.trigger(DAG_ID, LOGICAL_DATE, conf={"exports_dir": str(sample_exports)})
        ready = time.monotonic()
        state = api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, alive=airflow.check_alive)
        task_instances = api.task_instances(DAG_ID, run_id)
        assert state == "success", failure_report(airflow, run_id, state, task_instances)
        run = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        print(f"\nscheduler smoke: components ready in {ready - started:.0f} s, "
              f"run {run_id} succeeded in {time.monotonic() - ready:.0f} s")
        night_mails = list(mailbox.messages)

        # the next night fails: one agency's export API has no token
        registry.write_text("".join(
            line.replace(",folder,", ",http,http://127.0.0.1:9/export") if line.startswith("35.29,") else line
            for line in registry.read_text().splitlines(keepends=True)))
        mailbox.clear()
        failing_id = api.trigger(DAG_ID, FAILING_LOGICAL_DATE, conf={"exports_dir": str(sample_exports)})
        failing_state = api.wait_for_run(DAG_ID, failing_id, timeout=RUN_TIMEOUT, alive=airflow.check_alive)
        failing_tis = api.task_instances(DAG_ID, failing_id)
        assert failing_state == "failed", failure_report(airflow, failing_id, failing_state, failing_tis)
        deadline = time.monotonic() + NOTICE_TIMEOUT
        while not any(OPERATORS in rcpts for rcpts, _ in mailbox.messages) and time.monotonic() < deadline:
            airflow.check_alive()
            time.sleep(2)
        notices = [m for rcpts, m in mailbox.messages if OPERATORS in rcpts]
        assert len(notices) == 1, airflow.diagnostics()

    assert run["logical_date"].startswith("2021-05-26T19:00:00")  # 02:00 WIB on the 27th
    assert run["conf"] == {"exports_dir": str(sample_exports)}
    ingests = [ti for ti in task_instances if ti["task_id"] == "ingest_agency"]
    assert len(ingests) == 38
    assert {ti["pool"] for ti in ingests} == {SOURCES_POOL}
    assert all(ti["state"] == "success" for ti in ingests)

    with psycopg.connect(databases["warehouse"]) as conn:
        flagged = {r[0] for r in conn.execute(
            "select agency_code from quality.check_results "
            "where run_date = %s and check_name = 'followup_report_missing' and not passed", (SEED_DATE,))}
        backlog_rows = conn.execute(
            "select count(*) from marts.fct_backlog_daily where as_of_date = %s", (SEED_DATE,)).fetchone()[0]
    assert flagged == {"35.05"}
    assert backlog_rows == 38

    # the alert task sent the digest through the Airflow connection smtp_alerts
    digests = [m for rcpts, m in night_mails if settings.coordinator_email in rcpts]
    assert len(digests) == 1
    assert "27 Mei 2021" in digests[0]["Subject"]

    # the failing night: Kabupaten Sumenep's ingestion failed, the others' marts were built
    failed = sorted((ti["task_id"], ti["map_index"]) for ti in failing_tis if ti["state"] == "failed")
    assert failed == [("ingest_agency", 28), ("watcher", -1)], failed
    with psycopg.connect(databases["warehouse"]) as conn:
        assert conn.execute("select built_at is not null from quality.run_status where run_date = %s",
                            (FAILING_DATE,)).fetchone()[0]
    (notice,) = notices
    assert notice["Subject"] == "[LAPOR! Jatim] Proses malam lapor_nightly gagal (2021-05-28)"
    assert notice["From"] == "noreply@lapor-jatim.example"  # the connection smtp_alerts' from_email
    html = notice.get_body(("html",)).get_content()
    assert "Tugas: ingest_agency[28]" in html and "lapor run --date 2021-05-28" in html
