"""A night whose dbt build fails sends no figures (issue 13, defect 4).

Real nights of `lapor_nightly` through `dag.test()` (as `lapor run` runs them), a real
PostgreSQL warehouse and a real SMTP server:

1. the night of D with a dbt model that fails mid-build (a copy of `dbt_project/` whose
   `agency_scorecard` fails at run time, after the models before it were rebuilt): the
   coordinator gets exactly one "run incomplete" notice naming the failure and the re-run
   command, no agency gets anything, the report of D carries the "tidak lengkap" banner, and
   a retried alert task sends nothing more;
2. the re-run of D with the project as shipped: the normal digest, once, and the agencies'
   messages; the banner is gone;
3. another re-run sends nothing new.

In every night one agency's ingestion fails (its registry entry points at an export API
that does not answer): that never makes the marts incomplete, and the other 37 go on.
"""
from __future__ import annotations

import csv
import shutil
import socket
from datetime import date

import psycopg
import pytest

D = date(2021, 5, 25)
OPERATORS = "operator.lapor@diskominfo.jatim.example"
BROKEN_MODEL = """-- broken on purpose by tests/test_incomplete_run.py: fails at run time, mid-build
{{ config(materialized='table') }}
select '<b>rusak</b>'::integer as agency_code
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(message, kind: str = "plain") -> str:
    return message.get_body(preferencelist=(kind,)).get_content()


@pytest.fixture(scope="module")
def nights(settings, warehouse, drop_database, sample_exports, smtp_server, tmp_path_factory):
    """Run the three nights; returns what each left (outcome, mails, report)."""
    from lapor import transform
    from lapor.runner import run_date
    from lapor.settings import DBT_PROJECT_DIR, Settings

    smtp_url, mailbox = smtp_server
    folder = tmp_path_factory.mktemp("incomplete")
    name = f"incomplete_{folder.name.replace('-', '_')[-20:]}"
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = warehouse.rsplit("/", 1)[0] + f"/{name}"

    broken = folder / "dbt_project_broken"
    shutil.copytree(DBT_PROJECT_DIR, broken, ignore=shutil.ignore_patterns("target", "logs"))
    (broken / "models" / "marts" / "agency_scorecard.sql").write_text(BROKEN_MODEL)

    # the registry as shipped, but Kabupaten Sumenep's source is an export API that does not
    # answer (nothing listens on its port): its ingestion fails in every night
    registry = folder / "agencies.csv"
    with open(settings.registry_path, newline="") as src, open(registry, "w", newline="") as out:
        rows = list(csv.DictReader(src))
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            if row["agency_code"] == "35.29":
                row.update(source="http", source_url=f"http://127.0.0.1:{closed_port()}/")
            writer.writerow(row)

    mp = pytest.MonkeyPatch()
    mp.setenv("LAPOR_HOME", str(folder / "home"))
    mp.setenv("LAPOR_WAREHOUSE_URL", url)
    mp.setenv("LAPOR_SMTP_URL", smtp_url)
    mp.setenv("LAPOR_OPERATORS_EMAIL", OPERATORS)
    mp.setenv("LAPOR_REGISTRY", str(registry))
    mp.setenv("LAPOR_HTTP_RETRIES", "0")
    mp.setenv("LAPOR_HTTP_TIMEOUT", "2")
    mp.delenv("AIRFLOW_CONN_SMTP_ALERTS", raising=False)
    live = Settings.from_env()
    out = {"settings": live, "url": url}
    try:
        def night(label: str) -> None:
            mailbox.clear()
            outcome = run_date(live, D, sample_exports, log_file=folder / f"airflow-{label}.log")
            report = (live.reports_dir / f"laporan-{D.isoformat()}.html")
            out[label] = {"outcome": outcome, "mails": list(mailbox.messages),
                          "report": report.read_text() if report.exists() else None,
                          "log": (folder / f"airflow-{label}.log").read_text()}

        mp.setattr(transform, "DBT_PROJECT_DIR", broken)
        night("failed")
        with psycopg.connect(url) as conn:
            out["failed"]["alerts_sent"] = conn.execute(
                "select recipient, agency_code from quality.alerts_sent where run_date = %s", (D,)).fetchall()
            out["failed"]["check_results"] = conn.execute(
                "select count(*) from quality.check_results where run_date = %s", (D,)).fetchone()[0]
        # the alert task retried (or cleared and run again) for the same failed night
        from lapor import pipeline

        mailbox.clear()
        pipeline.alert(D, live)
        out["failed"]["alert_again"] = list(mailbox.messages)

        mp.setattr(transform, "DBT_PROJECT_DIR", DBT_PROJECT_DIR)
        night("rerun")
        night("second_rerun")
        yield out
    finally:
        mp.undo()
        drop_database(name)


def to(mails, recipient):
    return [m for rcpts, m in mails if recipient in rcpts]


def test_a_failed_build_sends_one_incomplete_notice_and_nothing_else(nights):
    failed, settings = nights["failed"], nights["settings"]
    outcome = failed["outcome"]
    assert not outcome.ok
    assert any(t.startswith("transform ") for t in outcome.failed_tasks), outcome.failed_tasks
    # no figures reach anyone: the coordinator's one notice (and the operators' failure notice)
    coordinator = to(failed["mails"], settings.coordinator_email)
    assert [m["Subject"] for m in coordinator] == [
        "[LAPOR! Jatim] PROSES TIDAK LENGKAP 25 Mei 2021: ringkasan harian dan e-mail instansi tidak dikirim"]
    others = [rcpts for rcpts, _ in failed["mails"] if rcpts not in ([settings.coordinator_email], [OPERATORS])]
    assert others == [], f"agencies were e-mailed from half-built marts: {others}"
    text = body(coordinator[0])
    assert "PROSES MALAM TIDAK LENGKAP" in text
    assert "Yang gagal: pembangunan data mart (dbt build)" in text
    assert "agency_scorecard" in text and "<b>rusak</b>" in text  # the reason, as recorded
    assert "lapor run --date 2021-05-25" in text
    assert "TIDAK dikirim" in text and "tidak ada e-mail temuan yang dikirim ke instansi" in text
    html = body(coordinator[0], "html")
    assert "&lt;b&gt;rusak&lt;/b&gt;" in html and "<b>rusak" not in html
    # and nothing of it was recorded as findings or sent as a digest
    assert failed["alerts_sent"] == [(settings.coordinator_email, None)]
    assert failed["check_results"] == 0


def test_the_operators_hear_of_the_failed_run(nights):
    failed = nights["failed"]
    (notice,) = to(failed["mails"], OPERATORS)
    assert notice["Subject"] == "[LAPOR! Jatim] Proses malam lapor_nightly gagal (2021-05-25)"
    assert "get_template_env" not in failed["log"]


def test_a_retried_alert_does_not_send_the_notice_again(nights):
    assert nights["failed"]["alert_again"] == []


def test_the_report_of_the_failed_night_says_it_is_incomplete(nights):
    report = nights["failed"]["report"]
    assert report is not None
    assert "LAPORAN TIDAK LENGKAP" in report
    assert "lapor run --date 2021-05-25" in report
    assert "&lt;b&gt;rusak&lt;/b&gt;" in report and "<b>rusak" not in report


def test_the_rerun_sends_the_normal_mails_once(nights):
    rerun, settings = nights["rerun"], nights["settings"]
    # the run is red only for the one agency whose ingestion failed
    assert {t.split("[")[0].split(" ")[0] for t in rerun["outcome"].failed_tasks} == {"ingest_agency", "watcher"}
    coordinator = to(rerun["mails"], settings.coordinator_email)
    assert len(coordinator) == 1
    assert coordinator[0]["Subject"].startswith("[LAPOR! Jatim] Pemantauan 25 Mei 2021:")
    assert "Kabupaten Sumenep" in body(coordinator[0])
    agencies = sorted(m["X-Lapor-Agency"] for _, m in rerun["mails"] if m["X-Lapor-Agency"])
    assert agencies and len(agencies) == len(set(agencies))
    assert "35.29" in agencies  # Kabupaten Sumenep: no export loaded on 25 May
    assert "LAPORAN TIDAK LENGKAP" not in rerun["report"]


def test_one_failed_agency_leaves_the_marts_complete(nights):
    with psycopg.connect(nights["url"]) as conn:
        built = conn.execute("select built_at is not null from quality.run_status where run_date = %s",
                             (D,)).fetchone()[0]
        backlog = {r[0] for r in conn.execute(
            "select agency_code from marts.fct_backlog_daily where as_of_date = %s", (D,))}
    # Kabupaten Sumenep's export API never answered, so it has no complaints loaded at all
    assert built and len(backlog) == 37 and "35.29" not in backlog


def test_another_rerun_sends_nothing_new(nights):
    second = nights["second_rerun"]
    assert [rcpts for rcpts, _ in second["mails"] if rcpts != [OPERATORS]] == []
