"""The seed scenario (docs/domain.md) end to end, through a real Airflow run of `lapor_nightly`:
sample exports → landing → raw → dbt marts → checks → e-mails caught by a real SMTP server.
"""
from __future__ import annotations

import hashlib
import re
from datetime import date

import psycopg
import pytest

SEED_DATE = date(2021, 5, 27)
BLITAR = "35.05"
MARTS = ["dim_agency", "dim_date", "fct_complaints", "fct_backlog_daily", "agg_resolution_monthly",
         "fct_followup_reports", "agency_scorecard"]


def run_day(settings, day, exports, log_dir):
    from lapor.runner import run_date

    log_file = log_dir / f"airflow-{day}.log"
    outcome = run_date(settings, day, exports, log_file=log_file)
    assert outcome.ok, f"run {day} {outcome.state}: {outcome.failed_tasks}\n" + log_file.read_text()[-5000:]
    return outcome


def mart_fingerprints(url: str) -> dict[str, str]:
    out = {}
    with psycopg.connect(url) as conn:
        for table in MARTS:
            rows = conn.execute(f"select t::text from marts.{table} t order by 1").fetchall()
            out[table] = hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest() + f" ({len(rows)} rows)"
    return out


@pytest.fixture(scope="module")
def seed_run(settings, warehouse, sample_exports, smtp_server, tmp_path_factory, monkeypatch_module):
    url, mailbox = smtp_server
    monkeypatch_module.setenv("LAPOR_SMTP_URL", url)
    from lapor.settings import Settings

    live = Settings.from_env()
    logs = tmp_path_factory.mktemp("airflow-logs")
    mailbox.clear()
    run_day(live, SEED_DATE, sample_exports, logs)
    first = list(mailbox.messages)
    return {"settings": live, "messages": first, "mailbox": mailbox, "logs": logs, "exports": sample_exports}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def flagged(url: str, check: str, day: date = SEED_DATE) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "select agency_code from quality.check_results where run_date = %s and check_name = %s and not passed",
            (day, check))}


def test_only_blitar_is_flagged_for_a_missing_followup_report(seed_run, warehouse):
    assert flagged(warehouse, "followup_report_missing") == {BLITAR}
    with psycopg.connect(warehouse) as conn:
        details = conn.execute(
            "select details from quality.check_results where run_date = %s and check_name = "
            "'followup_report_missing' and agency_code = %s", (SEED_DATE, BLITAR)).fetchone()[0]
        assert "2021-04" in details and "2021-05-07" in details
        status = conn.execute(
            "select report_status, due_date from marts.fct_followup_reports "
            "where agency_code = %s and period = '2021-04-01'", (BLITAR,)).fetchone()
        assert status == ("missing", date(2021, 5, 7))


def test_every_check_recorded_for_every_agency(seed_run, warehouse):
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "select check_name, count(*) from quality.check_results where run_date = %s group by 1",
            (SEED_DATE,)).fetchall()
    counts = dict(rows)
    for check in ("followup_report_missing", "followup_report_late", "followup_overdue", "export_missing",
                  "export_unreadable", "sk_missing"):
        assert counts.get(check) == 38, f"{check}: {counts.get(check)} rows"


def test_the_2020_backlog_is_visible_per_agency(seed_run, warehouse):
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "select agency_code, open_from_prior_years from marts.fct_backlog_daily where as_of_date = %s",
            (SEED_DATE,)).fetchall()
    assert len(rows) == 38
    assert sum(r[1] for r in rows) > 0
    assert sum(1 for r in rows if r[1] > 0) >= 10


def test_digest_to_coordinator_and_message_to_blitar(seed_run):
    settings = seed_run["settings"]
    messages = seed_run["messages"]
    digests = [m for rcpts, m in messages if settings.coordinator_email in rcpts]
    assert len(digests) == 1
    digest = digests[0]
    assert "27 Mei 2021" in digest["Subject"]
    text = digest.get_body(preferencelist=("plain",)).get_content()
    assert "Kabupaten Blitar (35.05)" in text
    assert "April 2021" in text
    html = digest.get_body(preferencelist=("html",)).get_content()
    assert "laporan-2021-05-27.html" in html   # a link to the report
    # the key chart as a PNG in the message itself, shown by Content-ID (mail clients drop inline SVG)
    assert "<svg" not in html
    cid = re.search(r'<img src="cid:([^"]+)" alt="([^"]+)"', html)
    assert cid and "Jawa Timur" in cid.group(2)
    images = [p for p in digest.walk() if p.get_content_type() == "image/png"]
    assert [p["Content-ID"] for p in images] == [f"<{cid.group(1)}>"]
    assert images[0].get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Grafik tunggakan: Laporan SP4N-LAPOR! belum selesai di Jawa Timur" in text

    from lapor.registry import load_registry

    admins = {a.admin_email: a.agency_code for a in load_registry(settings.registry_path)}
    blitar_admin = next(e for e, c in admins.items() if c == BLITAR)
    to_blitar = [m for rcpts, m in messages if blitar_admin in rcpts]
    assert len(to_blitar) == 1
    body = to_blitar[0].get_body(preferencelist=("plain",)).get_content()
    assert "Laporan hasil tindak lanjut belum disampaikan" in body and "April 2021" in body
    # no other agency is told about a missing follow-up report
    for rcpts, message in messages:
        if blitar_admin in rcpts or settings.coordinator_email in rcpts:
            continue
        assert all(r in admins for r in rcpts)
        assert "Laporan hasil tindak lanjut belum disampaikan" not in \
            message.get_body(preferencelist=("plain",)).get_content()


def test_second_run_of_the_same_date_changes_no_mart_and_sends_nothing(seed_run, warehouse):
    before = mart_fingerprints(warehouse)
    mailbox = seed_run["mailbox"]
    mailbox.clear()
    run_day(seed_run["settings"], SEED_DATE, seed_run["exports"], seed_run["logs"])
    assert mart_fingerprints(warehouse) == before
    assert mailbox.messages == []


def test_the_warehouse_is_as_documented(seed_run, warehouse):
    """Every table and column of docs/marts.md with its type, no undocumented mart or column, the
    role bi_reader with exactly its documented rights, and every check of docs/checks.md recorded
    (tests/test_contract.py holds the same pages against the code)."""
    from documented import warehouse_problems

    problems = warehouse_problems(warehouse)
    assert not problems, "the warehouse differs from docs/marts.md and docs/checks.md:\n  " + "\n  ".join(problems)


def test_bi_reader_reads_marts_and_nothing_else(seed_run, settings):
    from lapor.warehouse import bi_reader_url

    with psycopg.connect(bi_reader_url(settings), autocommit=True) as conn:
        count = conn.execute("select count(*) from marts.fct_backlog_daily").fetchone()[0]
        assert count > 0
        for table in ("raw.complaints", "quality.check_results", "ref.agencies"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {table} limit 1")


def test_each_task_of_the_night_pushed_one_xcom(seed_run):
    """The night's results travel as one XCom per task instance (`return_value`), not one per
    key of a returned dict as well: each XCom is a request to Airflow's execution API, and with
    38 agencies the extra keys were half of a night's requests."""
    from sqlalchemy import func, select

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from lapor.settings import DAG_ID

    with create_session() as session:
        run_id = session.scalar(select(XComModel.run_id).where(XComModel.dag_id == DAG_ID)
                                .order_by(XComModel.timestamp.desc()).limit(1))
        rows = session.execute(select(XComModel.task_id, XComModel.key, func.count())
                               .where(XComModel.dag_id == DAG_ID, XComModel.run_id == run_id)
                               .group_by(XComModel.task_id, XComModel.key)).all()
    pushed = {(task, key): count for task, key, count in rows}
    assert {key for _, key in pushed} == {"return_value"}, sorted(pushed)
    assert pushed[("ingest_agency", "return_value")] == 38
    assert {task for task, _ in pushed} >= {"prepare", "agencies", "transform", "check", "alert", "report"}


def test_report_written(seed_run):
    path = seed_run["settings"].reports_dir / f"laporan-{SEED_DATE}.html"
    html = path.read_text()
    assert "Kabupaten Blitar" in html and "BELUM ADA" in html
