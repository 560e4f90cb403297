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
    dag = bag.dags["lapor_nightly"]
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
