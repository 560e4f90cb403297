"""Run dates the pipeline refuses (issue 13, defect 7): a day after today (WIB) or outside the
working-day calendar is refused by `lapor run` / `lapor backfill` with exit code 2 and a message
naming the date, before anything is written; a day that does not exist (2021-02-30) is told
apart from a mistyped date; and the DAG's own first step refuses such a date too.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

LAPOR = Path(sys.executable).with_name("lapor")
WRITTEN_BY_A_NIGHT = ["raw.pipeline_runs", "ref.calendar", "ref.agencies", "raw.complaint_batches",
                      "quality.check_results", "quality.alerts_sent"]


def lapor(args: list[str], home: Path, warehouse_url: str, exports: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAPOR_"))}
    env.update(LAPOR_HOME=str(home), LAPOR_WAREHOUSE_URL=warehouse_url, LAPOR_EXPORTS_DIR=str(exports))
    # A refused date returns at once; a run that is (wrongly) started is cut short here.
    return subprocess.run([str(LAPOR), *args], capture_output=True, text=True, env=env, timeout=120)


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in WRITTEN_BY_A_NIGHT}


@pytest.fixture()
def cli(scratch, tmp_path):
    """Run the CLI against a fresh warehouse database and an empty LAPOR_HOME."""
    settings, url, _ = scratch
    home = tmp_path / "cli-home"
    exports = tmp_path / "cli-exports"
    exports.mkdir()
    before = row_counts(url)
    assert before == dict.fromkeys(WRITTEN_BY_A_NIGHT, 0)

    def run(*args: str) -> subprocess.CompletedProcess:
        return lapor(list(args), home, url, exports)

    yield run
    # nothing was written: not in the warehouse, not under LAPOR_HOME (no embedded server, no
    # Airflow database, no logs)
    assert row_counts(url) == before
    assert not home.exists() or list(home.iterdir()) == []


def tomorrow_wib() -> date:
    from lapor.calendar import today_wib

    return today_wib() + timedelta(days=1)


@pytest.mark.parametrize("day", ["2099-01-01", "tomorrow"])
def test_run_refuses_a_date_after_today(cli, day):
    day = tomorrow_wib().isoformat() if day == "tomorrow" else day
    proc = cli("run", "--date", day)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{day} is after today" in proc.stderr
    assert "WIB" in proc.stderr


def test_run_refuses_a_date_before_the_calendar(cli):
    proc = cli("run", "--date", "2018-12-31")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "2018-12-31 is outside the working-day calendar (2019-01-01 to 2030-12-31)" in proc.stderr


def test_backfill_refuses_an_end_after_today(cli):
    proc = cli("backfill", "--start", "2021-05-27", "--end", "2099-01-01")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--end" in proc.stderr and "2099-01-01 is after today" in proc.stderr


def test_backfill_refuses_a_start_before_the_calendar(cli):
    proc = cli("backfill", "--start", "2018-12-30", "--end", "2019-01-02")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--start" in proc.stderr and "2018-12-30 is outside the working-day calendar" in proc.stderr


@pytest.mark.parametrize("text, told", [
    ("2021-02-30", "2021-02-30: 30 February 2021 does not exist (February 2021 has 28 days)"),
    ("2020-02-30", "2020-02-30: 30 February 2020 does not exist (February 2020 has 29 days)"),
    ("2021-04-31", "2021-04-31: 31 April 2021 does not exist (April 2021 has 30 days)"),
    ("2021-13-01", "2021-13-01: that day does not exist (there is no month 13)"),
])
def test_a_day_that_does_not_exist_is_named_as_such(cli, text, told):
    proc = cli("run", "--date", text)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert told in proc.stderr
    assert "is not a date like" not in proc.stderr


@pytest.mark.parametrize("text", ["27-05-2021", "2021-5-27", "2021-05-27\n", "yesterday"])
def test_a_mistyped_date_is_still_called_a_format_error(cli, text):
    proc = cli("run", "--date", text)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{text!r} is not a date like 2021-05-27" in proc.stderr


@pytest.mark.parametrize("day", [date(2099, 1, 1), date(2018, 12, 31)])
def test_prepare_refuses_the_date_before_writing(scratch, day):
    """The DAG's first step guards itself: a run triggered for such a date (from the UI, the
    REST API or a test) fails at prepare and leaves the warehouse as it was."""
    from lapor import pipeline
    from lapor.calendar import RunDateError

    settings, url, _ = scratch
    before = row_counts(url)
    with pytest.raises(RunDateError, match=day.isoformat()):
        pipeline.prepare(day, settings)
    assert row_counts(url) == before


def test_the_steps_after_prepare_refuse_the_date_too(scratch):
    """transform (a dbt build) would write the marts for the refused date's horizon."""
    from lapor import pipeline
    from lapor.calendar import RunDateError

    settings, url, _ = scratch
    for step in (pipeline.transform, pipeline.check, pipeline.alert, pipeline.report):
        with pytest.raises(RunDateError, match="2099-01-01"):
            step(date(2099, 1, 1), settings)
    assert row_counts(url) == dict.fromkeys(WRITTEN_BY_A_NIGHT, 0)
