"""The first hour of a new user (issue 18): every setting checked at start, dbt by hand with
exactly the pipeline's profile and `--vars`, the hint to the demo's sample exports, Airflow's
folder under LAPOR_HOME usable as it is, the pool size of every run, logs without colour
codes, and one description of a run's data interval.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
LAPOR = Path(sys.executable).with_name("lapor")


def clean_env(**values: str) -> dict[str, str]:
    """The environment of a new user's shell: no LAPOR_* or AIRFLOW_* of the test session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAPOR_", "DBT_"))}
    env.update(values)
    return env


def lapor(*args: str, env: dict[str, str], timeout: float = 600, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAPOR), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)


# -- every setting checked once, at start -------------------------------------------------------
BAD_SETTINGS = [
    ("LAPOR_WAREHOUSE_URL", "localhost:5432/lapor", "expected postgresql://"),
    ("LAPOR_WAREHOUSE_URL", "postgresql://db.example:5432/lapor", "no user"),
    ("LAPOR_WAREHOUSE_URL", "postgresql://u:secret@db.example:54x2/lapor", "port"),
    ("LAPOR_WAREHOUSE_URL", "postgresql://u:secret@db.example:5432/", "no database name"),
    ("LAPOR_WAREHOUSE_URL", "postgresql://u:secret@db.example/wh?sslmode=maybe", "sslmode='maybe'"),
    ("LAPOR_WAREHOUSE_URL", "postgresql://u:secret@db.example/wh?options=-c%20x", "'options' is not supported"),
    ("LAPOR_WAREHOUSE_URL", "postgresql://u:secret@db.example/wh?sslrootcert=/nonexistent.pem", "no such file"),
    ("LAPOR_SOURCES_POOL_SLOTS", "abc", "expected a whole number"),
    ("LAPOR_SOURCES_POOL_SLOTS", "0", "at least 1"),
    ("LAPOR_REGISTRY", "/nonexistent.csv", "no such file"),
    ("LAPOR_SMTP_URL", "mail.example:25", "expected smtp://"),
    ("LAPOR_SMTP_URL", "smtp://mail.example:25?tls=1", "'tls' is not supported"),
    ("LAPOR_REPORT_BASE_URL", "reports.example", "expected an http://"),
    ("LAPOR_COORDINATOR_EMAIL", "koordinator@jatim.example, kepala@jatim.example", "one plain e-mail address"),
    ("LAPOR_OPERATORS_EMAIL", "ops@jatim.example\r\nBcc: all@elsewhere.example", "one plain e-mail address"),
    ("LAPOR_OPERATORS_EMAIL", "<img src=x onerror=alert(1)>", "one plain e-mail address"),
    ("LAPOR_MAIL_FROM", "LAPOR\nBcc: all@elsewhere.example <noreply@jatim.example>", "'Display Name <name@domain.example>'"),
    ("LAPOR_MAIL_FROM", "noreply", "'Display Name <name@domain.example>'"),
    ("LAPOR_HTTP_TIMEOUT", "soon", "expected a number"),
    ("LAPOR_MAX_COLUMNS", "many", "expected a whole number"),
    ("LAPOR_FOLLOWUP_SLA_WORKING_DAYS", "five", "expected a whole number"),
    ("LAPOR_FOLLOWUP_FROM", "January", "expected a month as YYYY-MM"),
    ("LAPOR_CUTI_BERSAMA_IS_HOLIDAY", "perhaps", "expected true or false"),
    ("LAPOR_BI_STATEMENT_TIMEOUT", "a minute", "expected a duration"),
]


@pytest.mark.parametrize("name, value, told", BAD_SETTINGS, ids=[f"{n}={v}" for n, v, _ in BAD_SETTINGS])
def test_a_wrong_setting_stops_every_command_at_start(tmp_path, name, value, told):
    """Exit 2, one line naming the variable and what was expected, no traceback, nothing started
    (no embedded warehouse under LAPOR_HOME), and never the URL's password."""
    home = tmp_path / "home"
    for command in (["dbt-env"], ["warehouse-url"], ["run", "--date", "2021-05-27"]):
        proc = lapor(*command, env=clean_env(LAPOR_HOME=str(home), **{name: value}), timeout=120)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert f"lapor: setting error: {name}" in proc.stderr and told in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "secret" not in proc.stderr
        assert proc.stdout == ""
    assert not (home / "pgdata").exists()


def test_the_query_options_of_the_warehouse_url_reach_dbt_gx_and_psycopg(tmp_path):
    """`?sslmode=require` is kept by `lapor dbt-env` (dbt's profile reads LAPOR_DBT_SSLMODE), by
    the URL Great Expectations gets and by psycopg's connection string."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import make_url

    from lapor.transform import dbt_env

    cert = tmp_path / "root.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    url = f"postgresql://u:p@db.example:6543/wh?sslmode=require&sslrootcert={cert}"
    proc = lapor("dbt-env", env=clean_env(LAPOR_HOME=str(tmp_path / "home"), LAPOR_WAREHOUSE_URL=url))
    assert proc.returncode == 0, proc.stderr
    assert "export LAPOR_DBT_SSLMODE=require" in proc.stdout
    assert f"export LAPOR_DBT_SSLROOTCERT={cert}" in proc.stdout
    assert "export LAPOR_DBT_PORT=6543" in proc.stdout and "export LAPOR_DBT_DBNAME=wh" in proc.stdout
    env = dbt_env(url)
    assert (env["LAPOR_DBT_SSLMODE"], env["LAPOR_DBT_SSLROOTCERT"]) == ("require", str(cert))
    assert conninfo_to_dict(url)["sslmode"] == "require"
    gx = make_url(url.replace("postgresql://", "postgresql+psycopg2://", 1))  # as lapor.quality.suites
    assert gx.query["sslmode"] == "require" and gx.port == 6543
    profile = (ROOT / "dbt_project" / "profiles.yml").read_text()
    for option in ("SSLMODE", "SSLROOTCERT", "SSLCERT", "SSLKEY"):
        assert f"env_var('LAPOR_DBT_{option}'" in profile


def test_dbt_by_hand_with_the_exports_of_dbt_env(warehouse, tmp_path):
    """`eval "$(lapor dbt-env)"` then plain `dbt ls`, from any folder: the project and profile
    are found (DBT_PROJECT_DIR, DBT_PROFILES_DIR), no ~/.dbt needed."""
    env = clean_env(LAPOR_HOME=str(tmp_path / "home"), LAPOR_WAREHOUSE_URL=warehouse, HOME=str(tmp_path))
    script = f'eval "$({LAPOR} dbt-env)" && {Path(sys.executable).with_name("dbt")} ls --select fct_complaints ' \
             '--vars "$LAPOR_DBT_VARS" --resource-type model --output name'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "fct_complaints" in proc.stdout.split()


def test_a_hand_run_dbt_build_follows_the_pipeline_settings(scratch, tmp_path):
    """`lapor dbt -- build --select fct_complaints` passes the nightly run's --vars: with
    LAPOR_FOLLOWUP_SLA_WORKING_DAYS=60, complaint 3001002 (dispositioned 21 April 2021, no
    follow-up, last seen 27 May) is no longer breached; with the default 5 it is."""
    sys.path.insert(0, str(ROOT / "tests" / "dbt"))
    try:
        from test_dbt_build import load_raw
    finally:
        sys.path.pop(0)
    _, url, _ = scratch
    load_raw(url)
    home = tmp_path / "home"

    def breached() -> bool:
        with psycopg.connect(url) as conn:
            return conn.execute("select followup_sla_breached from marts.fct_complaints "
                                "where tracking_id = '3001002'").fetchone()[0]

    env = clean_env(LAPOR_HOME=str(home), LAPOR_WAREHOUSE_URL=url)
    first = lapor("dbt", "--", "build", "--exclude-resource-type", "unit_test", env=env, timeout=900)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert breached() is True
    # (the model's unit tests are written for the default 5: left out, as the nightly run does)
    second = lapor("dbt", "--", "build", "--select", "fct_complaints", "--exclude-resource-type", "unit_test",
                   env={**env, "LAPOR_FOLLOWUP_SLA_WORKING_DAYS": "60"}, timeout=900)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert breached() is False
    assert (home / "dbt" / "target" / "manifest.json").exists()  # the pipeline's target path


# -- the drop folder the demo wrote -------------------------------------------------------------
def test_a_missing_drop_folder_points_at_the_demos_sample_exports(tmp_path):
    home = tmp_path / "home"
    (home / "sample-exports").mkdir(parents=True)
    proc = lapor("run", "--date", "2021-05-27", env=clean_env(LAPOR_HOME=str(home)), timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"the drop folder {home / 'exports'} does not exist" in proc.stderr
    assert f"--exports {home / 'sample-exports'}" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- Airflow under LAPOR_HOME --------------------------------------------------------------------
def test_airflow_cfg_under_lapor_home_points_at_the_project_dags(tmp_path):
    """After a local run's set-up, `airflow` with only AIRFLOW_HOME=LAPOR_HOME/airflow finds the
    project's DAGs (Airflow's generated airflow.cfg names AIRFLOW_HOME/dags, which does not exist)."""
    from lapor.settings import DAGS_DIR

    home = tmp_path / "home"
    script = ("from lapor.settings import Settings\nfrom lapor import runner\n"
              "s = Settings.from_env()\nrunner.configure_airflow(s)\nrunner.ensure_metadata_db(s)\n"
              "runner.point_config_at_dags(s)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=clean_env(LAPOR_HOME=str(home)), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = (home / "airflow" / "airflow.cfg").read_text()
    assert f"dags_folder = {DAGS_DIR}\n" in cfg
    airflow = Path(sys.executable).with_name("airflow")
    got = subprocess.run([str(airflow), "config", "get-value", "core", "dags_folder"], capture_output=True,
                         text=True, env=clean_env(AIRFLOW_HOME=str(home / "airflow")), timeout=300)
    assert got.stdout.strip() == str(DAGS_DIR), got.stderr[-2000:]


def test_airflow_settings_already_in_the_shell_win(monkeypatch, tmp_path):
    from lapor import runner
    from lapor.settings import Settings

    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path / "mine"))
    settings = dataclasses.replace(Settings.from_env(), home=tmp_path / "home")
    runner.configure_airflow(settings)
    assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True"
    assert os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] == str(tmp_path / "mine")


def test_the_pool_size_is_applied_on_every_run(scratch, tmp_path, monkeypatch):
    """A local run sets the pool `lapor_sources` to LAPOR_SOURCES_POOL_SLOTS each time (not only
    the first time Airflow's database is made)."""
    from airflow.models.pool import Pool

    from lapor import runner
    from lapor.settings import SOURCES_POOL, Settings

    _, url, _ = scratch
    monkeypatch.setenv("LAPOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAPOR_WAREHOUSE_URL", url)
    monkeypatch.delenv("LAPOR_SMTP_URL", raising=False)
    runner.ensure_metadata_db(Settings.from_env())
    runner.set_pool(dataclasses.replace(Settings.from_env(), sources_pool_slots=8))
    monkeypatch.setenv("LAPOR_SOURCES_POOL_SLOTS", "3")
    log = tmp_path / "airflow.log"
    outcome = runner.run_date(Settings.from_env(), date(2099, 1, 1), tmp_path, log_file=log)
    assert outcome.state == "failed"  # prepare refuses the date: a quick night that still runs Airflow
    assert Pool.get_pool(SOURCES_POOL).slots == 3


def test_colour_codes_written_by_a_tool_do_not_reach_the_log(tmp_path):
    """Airflow, dbt and rich write colour codes when they think a terminal is there: the task
    output `lapor run` sends to LAPOR_HOME/logs/lapor.log passes without them."""
    from lapor import runner

    log = tmp_path / "out.log"
    with runner._output_to(log):
        os.write(1, b"\x1b[32mINFO\x1b[0m task \x1b[1msucceeded\x1b[22m\n")
        os.write(2, b"\x1b[2K\x1b[31merror\x1b[39m\n")
    assert log.read_text() == "INFO task succeeded\nerror\n"


def _output_to_in_a_fresh_process(tmp_path, drain_seconds: float, inside: str) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "lapor.log"
    script = (
        "import multiprocessing, subprocess, sys\n"
        "from pathlib import Path\n"
        "from lapor import runner\n"
        f"runner.LOG_DRAIN_SECONDS = {drain_seconds}\n"
        "with runner._output_to(Path(sys.argv[1])):\n"
        f"{inside}"
        "    print('the last line of the night', flush=True)\n"
        "print('back on the terminal')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(log)], capture_output=True, text=True, timeout=120)
    return proc, log.read_text()


def test_lapor_run_returns_when_the_night_is_done(tmp_path):
    """dbt's connection manager makes a spawn-context lock, which starts multiprocessing's
    resource tracker, a process that lives as long as `lapor run`. Started while the output went
    to the log, it held the log's pipe, and every `lapor run` waited 30 s after the DAG had
    finished. Here the wait is 600 s: the run has to end without it, every line in the log."""
    lock = "    lock = multiprocessing.get_context('spawn').RLock()  # as dbt's BaseConnectionManager\n"
    proc, text = _output_to_in_a_fresh_process(tmp_path, 600, lock)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "back on the terminal"
    assert text.endswith("the last line of the night\n")
    assert "still holds its output" not in text


def test_a_process_that_outlives_the_run_is_noted_in_the_log(tmp_path):
    """A process started during the run that keeps its output open past the wait: the run
    returns, and the log says that what the process writes afterwards is not in it."""
    child = "    subprocess.Popen(['sleep', '20'])\n"
    proc, text = _output_to_in_a_fresh_process(tmp_path, 1, child)
    assert proc.returncode == 0, proc.stderr
    assert "the last line of the night\n" in text
    assert text.endswith("lapor: a process started during the run still holds its output; what it writes"
                         " from now on is not in this log\n")


# -- one description of a run's data interval ---------------------------------------------------
def test_a_runs_data_interval_is_described_as_airflow_gives_it():
    """The run for D has the logical date D 02:00 WIB. Started by hand (`lapor run`, the UI, the
    REST API) Airflow gives it D-1 02:00 → D 02:00; the scheduler, D 02:00 → D+1 02:00. The
    README, docs/operations.md, the runner and the DAG file say so."""
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    from lapor.settings import DAG_ID, DAGS_DIR, TIMEZONE

    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    declared = DagBag(dag_folder=str(DAGS_DIR)).dags[DAG_ID].timetable
    # what the scheduler and dag.test() use: the core timetable of the DAG's declaration
    timetable = CronDataIntervalTimetable(declared.expression, timezone=declared.timezone)
    assert str(getattr(declared.timezone, "name", declared.timezone)) == TIMEZONE
    day = pendulum.datetime(2021, 5, 27, 2, 0, tz=TIMEZONE)
    manual = timetable.infer_manual_data_interval(run_after=day)
    assert (manual.start, manual.end) == (day - timedelta(days=1), day)
    scheduled = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(day - timedelta(days=1), day),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True))
    assert (scheduled.data_interval.start, scheduled.data_interval.end) == (day, day + timedelta(days=1))
    assert scheduled.logical_date == day
    for path in (ROOT / "README.md", ROOT / "docs" / "operations.md", ROOT / "plugins" / "lapor" / "runner.py",
                 ROOT / "dags" / "lapor_nightly.py"):
        text = " ".join(path.read_text().split())
        assert "D-1 02:00 → D 02:00" in text, path
        assert "D 02:00 → D+1 02:00" in text, path
        assert "D 02:00 → D+1 02:00 WIB), so" not in text, path  # the old, single description


def test_great_expectations_keeps_its_chatter_out_of_the_log(tmp_path):
    """GX announces at INFO what it does on import and on every datasource it saves (about 300
    lines a night of "Skipping registering function … because it is a closure" and "… missing
    `config_provider` …"): lapor.log keeps GX's warnings and the pipeline's own lines only."""
    log = tmp_path / "lapor.log"
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, filename=sys.argv[1])\n"
        "from lapor.quality.gx_night import import_gx\n"
        "gx = import_gx()\n"
        "context = gx.get_context(mode='file', project_root_dir=sys.argv[2])\n"
        "context.data_sources.add_or_update_pandas('night')\n"
        "logging.getLogger('great_expectations.datasource').warning('a warning of GX')\n"
        "logging.getLogger('lapor.quality').info('a line of the pipeline')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(log), str(tmp_path / "gx")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = log.read_text()
    assert "a warning of GX" in text and "a line of the pipeline" in text, text
    assert "Skipping registering function" not in text and "config_provider" not in text, text[:3000]
