"""The follow-up rules live in the marts, once (README, "The follow-up rules, defined once"):
the check `followup_overdue` and `fct_complaints.followup_sla_breached` agree by construction
on the sample data (the demo's nights, 24 to 28 May 2021), and setting the follow-up limit to 7
working days moves the mart, the check and the report together."""
from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import psycopg
import pytest

D = date(2021, 5, 28)  # the demo's last night
DAYS = [D - timedelta(days=i) for i in range(4, -1, -1)]


def overdue_flagged(url: str, day: date = D) -> dict[str, int]:
    """tracking id → working days since disposition, of the complaints followup_overdue flagged on D."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select r.facts from quality.check_results r
               where r.run_date = %s and r.check_name = 'followup_overdue' and not r.passed""", (day,)).fetchall()
    return {case["tracking_id"]: case["working_days"] for (facts,) in rows for case in facts["cases"]}


def breached_not_followed_up(url: str) -> set[str]:
    """The open complaints fct_complaints marks breached that have no follow-up."""
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            """select tracking_id from marts.fct_complaints
               where followup_sla_breached and first_followup_at is null and closed_at is null and is_open""")}


def not_seen_since_late(url: str, day: date = D) -> set[str]:
    """Complaints absent from the exports since before they became late (an agency that sends
    only what changed): their last known state stands, so the check flags them on D, while
    followup_sla_breached, measured up to last_seen_on (docs/marts.md), does not."""
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            """select tracking_id from marts.fct_complaint_followup_due
               where last_seen_on < followup_late_from and followup_late_from <= %s""", (day,))}


def check_limits(url: str) -> set[int]:
    with psycopg.connect(url) as conn:
        return {r[0]["limit"] for r in conn.execute(
            """select facts from quality.check_results
               where run_date = %s and check_name = 'followup_overdue' and not passed""", (D,))}


def night(settings) -> None:
    from lapor import pipeline
    from lapor.transform import build
    from lapor.warehouse import warehouse_url

    assert build(warehouse_url(settings), settings, unit_tests=False).success
    pipeline.check(D, settings)


@pytest.fixture(scope="module")
def sample_night(scratch_module, sample_exports):
    """The sample's last four days loaded into a warehouse of this module, built, checked on D."""
    from lapor import pipeline
    from lapor.registry import load_registry

    settings, url, _ = scratch_module
    codes = [a.agency_code for a in load_registry(settings.registry_path)]
    for day in DAYS:
        pipeline.prepare(day, settings)
        for code in codes:
            pipeline.ingest_agency(day, code, sample_exports, settings=settings)
    night(settings)
    return settings, url


def test_overdue_on_the_last_day_is_breached_without_follow_up(sample_night):
    settings, url = sample_night
    flagged = overdue_flagged(url)
    assert flagged, "the sample has overdue complaints"
    breached = breached_not_followed_up(url)
    # the same comparison with followup_late_from: the one difference is the day compared with
    assert breached <= set(flagged)
    assert set(flagged) - breached == set(flagged) & not_seen_since_late(url)
    assert len(set(flagged) - breached) <= 1  # 3001438 of Kota Batu on the demo's 28 May
    assert min(flagged.values()) > settings.followup_sla_working_days
    assert check_limits(url) == {settings.followup_sla_working_days}


def test_a_limit_of_7_moves_the_mart_the_check_and_the_report(sample_night):
    from lapor.report.data import load
    from lapor.warehouse import connect

    settings, url = sample_night
    before_flagged, before_breached = overdue_flagged(url), breached_not_followed_up(url)
    with psycopg.connect(url) as conn:
        before_all = conn.execute("select count(*) from marts.fct_complaints where followup_sla_breached").fetchone()[0]
    seven = dataclasses.replace(settings, followup_sla_working_days=7)
    try:
        night(seven)
        after_flagged, after_breached = overdue_flagged(url), breached_not_followed_up(url)
        with psycopg.connect(url) as conn:
            after_all = conn.execute(
                "select count(*) from marts.fct_complaints where followup_sla_breached").fetchone()[0]
            limits = {r[0] for r in conn.execute(
                "select distinct followup_limit_working_days from marts.fct_complaint_followup_due")}
        with connect(url) as conn:
            report = load(conn, D)
        # the mart: fewer complaints breach a longer limit
        assert limits == {7}
        assert after_all < before_all
        assert after_breached < before_breached
        # the check: exactly the complaints more than 7 working days past disposition, as the mart says
        assert set(after_flagged) - not_seen_since_late(url) == after_breached
        assert set(after_flagged) == {t for t, days in before_flagged.items() if days > 7}
        assert check_limits(url) == {7}
        # the report: its overdue figures are the check's
        assert report.province["overdue_total"] == len(after_flagged)
        assert {a.overdue["limit"] for a in report.agencies if a.overdue} == {7}
    finally:
        night(settings)
    assert overdue_flagged(url) == before_flagged


def pending_indexes(conn) -> list[str]:
    """The indexes and statistics objects followup_pending_index() made on marts.fct_complaints."""
    return sorted(r[0] for r in conn.execute(
        """select 'index ' || c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
           where i.indrelid = 'marts.fct_complaints'::regclass and c.relname like '%%followup_pending%%'
           union all
           select 'statistics ' || stxname from pg_statistic_ext
           where stxrelid = 'marts.fct_complaints'::regclass and stxname like '%%followup_pending%%'"""))


def test_overdue_check_by_index_finds_what_a_full_scan_finds(sample_night):
    """The check followup_overdue finds the complaints overdue on a day through the partial index
    on fct_complaints (macros/followup_due.sql, followup_pending_index()) instead of reading
    every complaint: with the planner held to the index and held off it, every day of the sample
    gives the same findings. The index survives a full refresh of fct_complaints (a new table,
    and one index on it) and an incremental build (no second one)."""
    from lapor.quality import checks
    from lapor.transform import run_dbt

    settings, url = sample_night

    def findings(day: date, planner: str) -> dict:
        with psycopg.connect(url) as conn:
            conn.execute(planner)
            return {agency: (f.flagged, f.details, f.facts)
                    for agency, f in checks.followup_overdue(conn, day, settings).items()}

    by_scan = {day: findings(day, "set enable_indexscan = off; set enable_bitmapscan = off") for day in DAYS}
    by_index = {day: findings(day, "set enable_seqscan = off") for day in DAYS}
    assert by_index == by_scan
    assert any(by_scan.values()) and sum(len(v) for v in by_scan.values()) > 3

    def plan(conn) -> str:
        conn.execute("set enable_seqscan = off")
        return "\n".join(r[0] for r in conn.execute(
            """explain select tracking_id from marts.fct_complaint_followup_due
               where overdue_from <= %(d)s and (overdue_until is null or overdue_until > %(d)s)""", {"d": D}))

    with psycopg.connect(url) as conn:
        before = pending_indexes(conn)
        (oid,) = conn.execute("select 'marts.fct_complaints'::regclass::oid").fetchone()
        assert before == [f"index fct_complaints_followup_pending_{oid}",
                          f"statistics fct_complaints_followup_pending_{oid}"]
        assert f"fct_complaints_followup_pending_{oid}" in plan(conn)
    # (dbt drops the old table with the views on it: they are built again after it)
    assert run_dbt(["run", "--select", "fct_complaints+", "--full-refresh"], url, settings).success
    with psycopg.connect(url) as conn:
        (new_oid,) = conn.execute("select 'marts.fct_complaints'::regclass::oid").fetchone()
        assert new_oid != oid
        assert pending_indexes(conn) == [f"index fct_complaints_followup_pending_{new_oid}",
                                         f"statistics fct_complaints_followup_pending_{new_oid}"]
        assert f"fct_complaints_followup_pending_{new_oid}" in plan(conn)
    assert run_dbt(["run", "--select", "fct_complaints"], url, settings).success
    with psycopg.connect(url) as conn:
        assert pending_indexes(conn) == [f"index fct_complaints_followup_pending_{new_oid}",
                                         f"statistics fct_complaints_followup_pending_{new_oid}"]
    assert {day: findings(day, "set enable_seqscan = off") for day in DAYS} == by_scan
