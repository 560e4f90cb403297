"""Every DAG file imports cleanly, does no work at parse time, and is configured on purpose."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DAGS = sorted((Path(__file__).resolve().parents[1] / "dags").glob("*.py"))


@pytest.mark.parametrize("path", DAGS, ids=[p.name for p in DAGS])
def test_dag_file_imports_without_error(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.sdk import DAG

    dags = [v for v in vars(module).values() if isinstance(v, DAG)]
    assert dags, f"{path.name} defines no DAG"


def test_nightly_dag_shape():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS[0].parent))
    assert bag.import_errors == {}
    from lapor.settings import DAG_ID

    dag = bag.dags[DAG_ID]
    assert {"lapor"} <= set(dag.tags)
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert str(dag.timezone.name) == "Asia/Jakarta"
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"prepare", "agencies", "ingest_agency", "transform", "check", "alert", "report", "watcher"}
    assert all(t.retries >= 1 for t in dag.tasks if t.task_id not in {"agencies", "watcher"})
    # the run fails when any task failed, though the later steps run regardless
    assert tasks["watcher"].trigger_rule == "one_failed"
    assert set(tasks["watcher"].upstream_task_ids) == set(tasks) - {"watcher"}
    # one failing agency must not stop the marts, checks and alerts of the other 37
    assert tasks["transform"].trigger_rule == "all_done"
    assert tasks["check"].trigger_rule == "all_done"
    assert tasks["alert"].trigger_rule == "all_done"
    # each task's result is one XCom: a `-> dict` task would also push each key as its own XCom,
    # one execution-API request each, per agency and night (tests/test_seed_scenario.py counts them)
    assert [t.task_id for t in dag.tasks if getattr(t, "multiple_outputs", False)] == []
    # the pool lapor_sources (LAPOR_SOURCES_POOL_SLOTS) bounds the agencies loaded at once: no
    # cap of the task's own below it (one of 8 made a pool of 16 no faster)
    from lapor.settings import SOURCES_POOL

    assert tasks["ingest_agency"].pool == SOURCES_POOL
    assert tasks["ingest_agency"].max_active_tis_per_dag is None


def _nightly_module():
    spec = importlib.util.spec_from_file_location("lapor_nightly_for_test", DAGS[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parsing_imports_neither_the_smtp_provider_nor_lapor():
    """Each parse of the DAG file costs only what Airflow has loaded already: the SMTP
    notifier and the `lapor` package are imported when a task or the failure notice runs.
    `lapor.settings` (standard library only) gives the DAG its id, schedule and pool."""
    import subprocess
    import sys

    probe = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('n', sys.argv[1]); "
             "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
             "print(sorted(n for n in sys.modules if n.startswith(('airflow.providers.smtp.notifications', "
             "'airflow.providers.smtp.hooks', 'lapor'))))")
    proc = subprocess.run([sys.executable, "-c", probe, str(DAGS[0])], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "['lapor', 'lapor.settings']"


def test_failure_notice_is_sent_through_smtp_alerts(smtp_server, monkeypatch):
    """The DAG's on_failure_callback: an e-mail to the operators through the connection
    `smtp_alerts`, naming the DAG, the date, the task and the reason."""
    url, mailbox = smtp_server
    host_port = url.split("://", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_ALERTS",
                       f"smtp://{host_port}?disable_ssl=true&disable_tls=true&from_email=airflow%40lapor.example")
    monkeypatch.setenv("LAPOR_OPERATORS_EMAIL", "operator@lapor.example")
    module = _nightly_module()
    dag = module.nightly
    assert dag.on_failure_callback is module.failure_notice

    class TI:
        task_id = "transform"

    mailbox.clear()
    dag.on_failure_callback({"dag": dag, "ds": "2021-05-27", "ti": TI(), "reason": "task_failure"})
    [(recipients, message)] = mailbox.messages
    assert recipients == ["operator@lapor.example"]
    assert message["Subject"] == "[LAPOR! Jatim] Proses malam lapor_nightly gagal (2021-05-27)"
    body = message.get_body(("html",)).get_content()
    assert "Tugas: transform" in body and "Alasan: task_failure" in body
