"""Runs the `lapor_nightly` DAG for a date through Airflow itself (`dag.test()`), with a
throwaway SQLite metadata database under `LAPOR_HOME/airflow`.

Airflow reads its configuration when it is first imported: `configure_airflow()` must run
before anything imports `airflow`; the CLI's entry point calls it once, first thing.
Variables `AIRFLOW_*` already set in the environment win over the LAPOR_HOME defaults.

The run for date D has the logical date D 02:00 WIB. Started by hand (here, in the UI or
through the REST API) Airflow gives it the data interval D-1 02:00 → D 02:00 WIB; the
scheduler starts D's run at D+1 02:00 with the interval D 02:00 → D+1 02:00. The tasks read
only D (the logical date's day in WIB), never the interval, so both make the same night.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from lapor.settings import DAG_ID, DAGS_DIR, SOURCES_POOL, TIMEZONE, Settings

POOL = SOURCES_POOL
POOL_DESCRIPTION = "agencies fetched and loaded at once"
# colour and cursor codes (ESC [ … letter) that tools write to a terminal; never to a log file
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
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
    point_config_at_dags(settings)


def point_config_at_dags(settings: Settings) -> None:
    """Airflow writes `airflow.cfg` with its own default `dags_folder` (AIRFLOW_HOME/dags, which
    does not exist); a user who runs `airflow` with AIRFLOW_HOME=LAPOR_HOME/airflow and nothing
    else must find the project's DAGs there."""
    cfg = settings.airflow_home / "airflow.cfg"
    if not cfg.is_file():
        return
    text = cfg.read_text()
    fixed = re.sub(r"(?m)^dags_folder\s*=.*$", f"dags_folder = {DAGS_DIR}", text, count=1)
    if fixed != text:
        cfg.write_text(fixed)


def log_to_file(settings: Settings) -> Path:
    """Task logs go to LAPOR_HOME/logs/lapor.log (mode 0600, passwords masked: `SecretsFilter`);
    the terminal keeps the summary readable. Returns the file."""
    from lapor.warehouse import SecretsFilter

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.logs_dir / "lapor.log"
    os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    log_file.chmod(0o600)
    handler = logging.FileHandler(log_file)
    handler.addFilter(SecretsFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return log_file


def run_days(settings: Settings, days: list[date], exports: Path | None, label: str,
             log_file: Path) -> list["RunOutcome"]:
    """`run_date` for each day in order, with a progress bar on the terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    outcomes = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[day]}"), TimeElapsedColumn())
    with (os.fdopen(os.dup(sys.stdout.fileno()), "w") as terminal,
          Progress(*columns, transient=False, console=Console(file=terminal)) as progress):
        task = progress.add_task(label, total=len(days), day="")
        for day in days:
            progress.update(task, day=day.isoformat())
            outcome = run_date(settings, day, exports, log_file=log_file)
            outcomes.append(outcome)
            if not outcome.ok:
                progress.console.print(f"[red]{day}: run {outcome.state}; failed: {', '.join(outcome.failed_tasks)}")
            progress.advance(task)
    return outcomes


def ensure_metadata_db(settings: Settings) -> None:
    """`airflow db migrate` once per Airflow version (about 6 s the first time)."""
    from importlib.metadata import version

    marker = Path(os.environ["AIRFLOW_HOME"]) / f".migrated-{version('apache-airflow-core')}-pool"
    if marker.exists():
        return
    airflow_bin = Path(sys.executable).with_name("airflow")
    airflow = str(airflow_bin) if airflow_bin.exists() else "airflow"
    result = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RunError(f"db migrate failed:\n{result.stderr[-3000:]}")
    for path in marker.parent.glob("airflow.db*"):
        path.chmod(0o600)
    marker.write_text("ok\n")


def set_pool(settings: Settings) -> None:
    """The pool `lapor_sources` at LAPOR_SOURCES_POOL_SLOTS, on every run: a new value takes
    effect on the next run."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(name=POOL, slots=settings.sources_pool_slots, description=POOL_DESCRIPTION,
                               include_deferred=False)


# How long `_output_to` waits, once its block is done, for the processes started inside it to
# close their output (their last lines reach the log); a process still holding it after this
# is noted in the log and its later output dropped.
LOG_DRAIN_SECONDS = 30.0


@contextlib.contextmanager
def _output_to(log_file: Path | None) -> Iterator[None]:
    """Send this process's stdout and stderr (Airflow's task logs) to a file, at the fd level.

    Through a pipe whose lines pass `lapor.warehouse.mask` on the way: whatever writes to the
    terminal (Airflow's structlog output, dbt, Great Expectations, a subprocess) never leaves a
    password in the log. The file is created mode 0600.

    The pipe ends, and the block returns, when every process holding its write end has closed
    it. A helper process started inside the block inherits it; the one that outlives every
    night is multiprocessing's resource tracker, which dbt's connection manager starts (a
    spawn-context lock) and which lives until this process exits. Started inside, it kept
    every `lapor run` waiting out the pump's `LOG_DRAIN_SECONDS` after the DAG had finished:
    it is started here first, so it holds the terminal instead.
    """
    if log_file is None:
        yield
        return
    import threading
    from multiprocessing import resource_tracker

    from lapor.warehouse import mask

    resource_tracker.ensure_running()

    sys.stdout.flush()
    sys.stderr.flush()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = os.fdopen(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    read_end, write_end = os.pipe()

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                text = ANSI_ESCAPE.sub("", line.decode("utf-8", "surrogateescape"))
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
        reader.join(timeout=LOG_DRAIN_SECONDS)  # every writer gone: the pipe ends, the last lines are written
        if reader.is_alive():
            with contextlib.suppress(ValueError):
                out.write(b"lapor: a process started during the run still holds its output; what it"
                          b" writes from now on is not in this log\n")
        out.close()


def run_date(settings: Settings, day: date, exports_dir: Path | None = None,
             log_file: Path | None = None) -> RunOutcome:
    """One nightly run for `day`, through the DAG. Clears and re-runs an earlier run of that day.

    With `log_file`, Airflow's output goes there instead of the terminal.
    """
    if "AIRFLOW_HOME" not in os.environ:  # called as a library, not through the CLI's entry point
        configure_airflow(settings)
    ensure_metadata_db(settings)
    point_config_at_dags(settings)
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    set_pool(settings)

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
    logical = pendulum.datetime(day.year, day.month, day.day, 2, 0, tz=TIMEZONE)
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
