"""Runs the `lapor_nightly` DAG for a date through Airflow itself (`dag.test()`), with a
throwaway SQLite metadata database under `LAPOR_HOME/airflow`.

Airflow reads its configuration when it is first imported: `configure_airflow()` must run
before anything imports `airflow` (the CLI calls it first thing).
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from lapor.settings import DAGS_DIR, Settings

DAG_ID = "lapor_nightly"
POOL = "lapor_sources"
log = logging.getLogger(__name__)


class RunError(RuntimeError):
    pass


@dataclass
class RunOutcome:
    run_date: date
    state: str
    failed_tasks: list[str]

    @property
    def ok(self) -> bool:
        return self.state == "success" and not self.failed_tasks


def airflow_env(settings: Settings) -> dict[str, str]:
    home = settings.airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.logs_dir / "airflow"),
    }


def configure_airflow(settings: Settings) -> None:
    """Point Airflow at LAPOR_HOME unless the user configured an AIRFLOW_HOME of their own."""
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(settings.airflow_home):
        log.debug("airflow was imported before configure_airflow(); its configuration is already read")
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    # Airflow's metadata (connections, variables, rendered task fields) and airflow.cfg (its
    # fernet key and JWT secret) are for this user only.
    settings.airflow_home.chmod(0o700)
    for key, value in airflow_env(settings).items():
        os.environ.setdefault(key, value)


def ensure_metadata_db(settings: Settings) -> None:
    """`airflow db migrate` once per Airflow version (about 6 s the first time)."""
    from importlib.metadata import version

    marker = Path(os.environ["AIRFLOW_HOME"]) / f".migrated-{version('apache-airflow-core')}-pool"
    if marker.exists():
        return
    airflow_bin = Path(sys.executable).with_name("airflow")
    airflow = str(airflow_bin) if airflow_bin.exists() else "airflow"
    for command in ([airflow, "db", "migrate"],
                    [airflow, "pools", "set", POOL, os.environ.get("LAPOR_SOURCES_POOL_SLOTS", "8"),
                     "agencies fetched and loaded at once"]):
        result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
        if result.returncode != 0:
            raise RunError(f"{' '.join(command[1:3])} failed:\n{result.stderr[-3000:]}")
    for path in marker.parent.glob("airflow.db*"):
        path.chmod(0o600)
    marker.write_text("ok\n")


@contextlib.contextmanager
def _output_to(log_file: Path | None) -> Iterator[None]:
    """Send this process's stdout and stderr (Airflow's task logs) to a file, at the fd level.

    Through a pipe whose lines pass `lapor.warehouse.mask` on the way: whatever writes to the
    terminal (Airflow's structlog output, dbt, Great Expectations, a subprocess) never leaves a
    password in the log. The file is created mode 0600.
    """
    if log_file is None:
        yield
        return
    import threading

    from lapor.warehouse import mask

    sys.stdout.flush()
    sys.stderr.flush()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = os.fdopen(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    read_end, write_end = os.pipe()

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                text = line.decode("utf-8", "surrogateescape")
                with contextlib.suppress(ValueError):  # the file is closed: a late writer, dropped
                    out.write(mask(text).encode("utf-8", "surrogateescape"))
                    out.flush()

    reader = threading.Thread(target=pump, name="lapor-log-mask", daemon=True)
    reader.start()
    saved = os.dup(1), os.dup(2)
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        reader.join(timeout=30)  # every writer gone: the pipe ends and the last lines are written
        out.close()


def run_date(settings: Settings, day: date, exports_dir: Path | None = None,
             log_file: Path | None = None) -> RunOutcome:
    """One nightly run for `day`, through the DAG. Clears and re-runs an earlier run of that day.

    With `log_file`, Airflow's output goes there instead of the terminal.
    """
    configure_airflow(settings)
    ensure_metadata_db(settings)
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    with _output_to(log_file):
        bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise RunError("DAG files failed to import:\n" + "\n".join(f"{k}: {v}" for k, v in bag.import_errors.items()))
    dag = bag.get_dag(DAG_ID)
    if dag is None:
        raise RunError(f"no DAG {DAG_ID} in {DAGS_DIR}")
    # A local run reports a failure at once instead of waiting out the retry delays meant
    # for a scheduler: every step is idempotent, so the operator simply runs the day again.
    for task in dag.tasks:
        task.retries = 0
    logical = pendulum.datetime(day.year, day.month, day.day, 2, 0, tz="Asia/Jakarta")
    conf = {"exports_dir": str(exports_dir)} if exports_dir else None
    with _output_to(log_file):
        dag_run = dag.test(logical_date=logical, run_conf=conf)
    failed = []
    for ti in dag_run.get_task_instances():
        if str(ti.state) not in {"success", "skipped", "TaskInstanceState.SUCCESS", "TaskInstanceState.SKIPPED"}:
            failed.append(f"{ti.task_id}{f'[{ti.map_index}]' if ti.map_index is not None and ti.map_index >= 0 else ''}"
                          f" ({ti.state})")
    state = str(getattr(dag_run.state, "value", dag_run.state))
    return RunOutcome(day, state, failed)
