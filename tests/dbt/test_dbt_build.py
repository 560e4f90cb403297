"""`dbt build` over a small hand-made raw layer: the mart values a coordinator would check.

Two agencies have complaints: Kota Surabaya (35.78) and Kabupaten Blitar (35.05). Runs
happened for 2021-05-26 (Hari Raya Waisak) and 2021-05-27, recorded in reverse order: the
marts are built up to the latest run date, whatever the order. Kabupaten Blitar sends no
follow-up report (the seed scenario); Kota Surabaya sends March's empty and late, and
April's on time (then again, later).
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lapor import transform, warehouse
from lapor.calendar import write_calendar
from lapor.readers.values import normalize_classification
from lapor.registry import load_registry
from lapor.settings import DEFAULT_REGISTRY, Settings

SURABAYA = "35.78"
BLITAR = "35.05"
WIB = ZoneInfo("Asia/Jakarta")


def wib(text: str | None) -> datetime | None:
    """'2021-05-11 09:00' in WIB, as exports give it."""
    return datetime.fromisoformat(text).replace(tzinfo=WIB) if text else None


def complaint(agency: str, export_day: str, tracking_id: str, status: str, submitted: str,
              dispositioned: str | None = None, followup: str | None = None, closed: str | None = None,
              classification: str | None = "Pengaduan", supervisory: bool | None = False) -> dict:
    return {
        "agency_code": agency, "export_day": date.fromisoformat(export_day), "tracking_id": tracking_id,
        "status": status, "submitted_at": wib(submitted), "dispositioned_at": wib(dispositioned),
        "first_followup_at": wib(followup), "closed_at": wib(closed),
        # as the loader writes it: the reader's normalization (the warehouse normalizes nothing again)
        "classification": normalize_classification(classification),
        "is_supervisory": supervisory,
        # personal data the raw layer holds and the marts must not
        "reporter_name": "Budi Santoso", "reporter_phone": "081234567890",
        "reporter_email": "budi@example.com", "title": "Jalan rusak", "content": "Jalan berlubang di depan pasar",
    }


def both_days(*args, **kwargs) -> list[dict]:
    return [complaint(args[0], day, *args[1:], **kwargs) for day in ("2021-05-26", "2021-05-27")]


COMPLAINTS = [
    # across Idul Fitri 2021: submitted Tuesday 11 May, dispositioned Monday 17 May
    *both_days(SURABAYA, "3001001", "completed", "2021-05-11 09:00", "2021-05-17 10:00",
               "2021-05-19 08:00", "2021-05-25 15:00"),
    # dispositioned 21 April, no follow-up at all: breached
    *both_days(SURABAYA, "3001002", "awaiting_followup", "2021-04-20 10:00", "2021-04-21 10:00"),
    # 2020 backlog, in the 26 May export only: keeps its state on the 27th
    complaint(SURABAYA, "2021-05-26", "3001003", "in_progress", "2020-11-10 10:00", "2020-11-11 10:00",
              "2020-11-12 10:00"),
    # new on the 27th
    complaint(SURABAYA, "2021-05-27", "3001004", "unverified", "2021-05-27 08:00", classification="Aspirasi"),
    # first follow-up 8 April from a follow-up report row, earlier than the export's 15 April
    *both_days(SURABAYA, "3001005", "in_progress", "2021-04-05 09:00", "2021-04-06 09:00", "2021-04-15 09:00",
               supervisory=True),
    # in progress on the 26th, completed on the 27th
    complaint(SURABAYA, "2021-05-26", "3001006", "in_progress", "2021-05-18 09:00", "2021-05-19 09:00",
              "2021-05-20 09:00", classification="permintaan informasi"),
    complaint(SURABAYA, "2021-05-27", "3001006", "completed", "2021-05-18 09:00", "2021-05-19 09:00",
              "2021-05-20 09:00", "2021-05-27 11:00", classification="permintaan informasi"),
    # Kabupaten Blitar: 2020 backlog, and one settled complaint
    *both_days(BLITAR, "3505001", "awaiting_followup", "2020-12-28 10:00", "2020-12-29 10:00", classification=None),
    *both_days(BLITAR, "3505002", "completed", "2021-02-01 10:00", "2021-02-02 10:00", "2021-02-03 10:00",
               "2021-02-10 10:00"),
]

# (agency, period, submitted_on, rows): March empty and late, April on time and then again
FOLLOWUP_REPORTS = [
    (SURABAYA, date(2021, 3, 1), date(2021, 4, 12), []),
    (SURABAYA, date(2021, 4, 1), date(2021, 5, 6), [("3001005", wib("2021-04-08 10:00"))]),
    (SURABAYA, date(2021, 4, 1), date(2021, 5, 20), [("3001005", wib("2021-04-08 10:00"))]),
]

RUN_DATES = [date(2021, 5, 27), date(2021, 5, 26)]


def load_raw(url: str) -> None:
    with warehouse.connect(url) as conn:
        write_calendar(conn)
        with conn.transaction():
            conn.cursor().executemany(
                "insert into ref.agencies (agency_code, agency_name, agency_type, sk_number, sk_date,"
                " admin_email, source, source_url, head_email) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [agency.as_row() for agency in load_registry(DEFAULT_REGISTRY)],
            )
            columns = list(COMPLAINTS[0])
            rows = []
            for line, row in enumerate(COMPLAINTS, start=2):
                file = f"{row['agency_code']}/complaints/{row['export_day']}.csv"
                rows.append((file, line, *row.values()))
            conn.cursor().executemany(
                f"insert into raw.complaints (file, line, {', '.join(columns)})"
                f" values (%s, %s, {', '.join(['%s'] * len(columns))})",
                rows,
            )
            batches = sorted({(row["agency_code"], row["export_day"]) for row in COMPLAINTS})
            conn.cursor().executemany(
                "insert into raw.complaint_batches (agency_code, export_day, file, sha256, status,"
                " rows_loaded, rows_rejected, run_date) values (%s, %s, %s, 'x', 'loaded', 1, 0, %s)",
                [(agency, day, f"{agency}/complaints/{day}.csv", day) for agency, day in batches],
            )
            for agency, period, submitted_on, report_rows in FOLLOWUP_REPORTS:
                file = f"{agency}/followup/{period:%Y-%m}_{submitted_on}.csv"
                conn.execute(
                    "insert into raw.followup_reports (agency_code, period, submitted_on, file, sha256, status,"
                    " rows_loaded, rows_rejected, run_date) values (%s, %s, %s, %s, 'x', 'loaded', %s, 0, %s)",
                    (agency, period, submitted_on, file, len(report_rows), submitted_on),
                )
                for line, (tracking_id, followup_at) in enumerate(report_rows, start=2):
                    conn.execute(
                        "insert into raw.followup_rows (agency_code, period, submitted_on, file, line,"
                        " tracking_id, followup_at) values (%s, %s, %s, %s, %s, %s, %s)",
                        (agency, period, submitted_on, file, line, tracking_id, followup_at),
                    )
            for run_date in RUN_DATES:
                conn.execute("insert into raw.pipeline_runs (run_date) values (%s)", (run_date,))


@pytest.fixture(scope="session")
def embedded_warehouse():
    """A fresh embedded PostgreSQL under a temporary LAPOR_HOME, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="lapor-dbt-test-"))
    root.chmod(0o755)  # run as root, the server runs as user `pgserver`: it must reach its folder
    settings = dataclasses.replace(Settings.from_env(), home=root / "home", warehouse_url=None)
    try:
        url = warehouse.warehouse_url(settings)
        warehouse.ensure_schema(url, settings)
        yield url, settings
    finally:
        warehouse.EmbeddedServer(settings.home).stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def marts(embedded_warehouse):
    """Load the raw layer, run `dbt build` (models, data tests, unit tests); returns a query helper."""
    url, settings = embedded_warehouse
    load_raw(url)
    result = transform.build(url, settings)
    assert result.success, result.failures

    def query(sql: str, *params) -> list[dict]:
        with warehouse.connect(url) as conn:
            cursor = conn.execute(sql, params)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    return query


def one(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


def test_working_days_skip_idul_fitri_holidays_and_cuti_bersama(marts):
    row = one(marts("select * from marts.fct_complaints where tracking_id = '3001001'"))
    # strictly after Tuesday 11 May up to and including Monday 17 May: 12 May cuti bersama,
    # 13-14 May Idul Fitri, 15-16 May weekend, so only 17 May is a working day
    assert row["working_days_to_disposition"] == 1
    assert row["working_days_to_first_followup"] == 2  # 17 -> 19 May
    assert row["working_days_to_close"] == 7  # 11 -> 25 May
    assert row["followup_sla_breached"] is False
    assert row["settle_limit_working_days"] == 14 and row["closed_within_sla"] is True
    assert row["last_seen_on"] == date(2021, 5, 27)


def test_first_followup_is_the_earliest_of_export_and_followup_report(marts):
    row = one(marts("select * from marts.fct_complaints where tracking_id = '3001005'"))
    assert row["first_followup_at"] == wib("2021-04-08 10:00")
    assert row["working_days_to_first_followup"] == 2  # 6 -> 8 April
    assert row["settle_limit_working_days"] == 60  # pengaduan berkadar pengawasan


def test_complaint_without_followup_breaches_the_sla_and_keeps_its_last_state(marts):
    breached = one(marts("select * from marts.fct_complaints where tracking_id = '3001002'"))
    assert breached["followup_sla_breached"] is True and breached["working_days_to_first_followup"] is None
    missing_later = one(marts("select * from marts.fct_complaints where tracking_id = '3001003'"))
    assert missing_later["status"] == "in_progress" and missing_later["is_open"] is True
    assert missing_later["last_seen_on"] == date(2021, 5, 26)


def test_settle_limit_by_classification(marts):
    limits = {row["tracking_id"]: (row["classification"], row["settle_limit_working_days"]) for row in marts(
        "select tracking_id, classification, settle_limit_working_days from marts.fct_complaints")}
    assert limits["3001004"] == ("aspirasi", 5)
    assert limits["3001006"] == ("permintaan_informasi", 5)
    assert limits["3505001"] == (None, 14)  # missing classification counts as pengaduan


def test_marts_hold_no_personal_data(marts):
    columns = {row["column_name"] for row in marts(
        "select column_name from information_schema.columns where table_schema = 'marts'")}
    assert not columns & {"reporter_name", "reporter_phone", "reporter_email", "title", "content", "admin_email"}
    agency = one(marts("select * from marts.dim_agency where agency_code = %s", BLITAR))
    assert agency["agency_name"] == "Kabupaten Blitar" and agency["has_sk"] is True
    assert one(marts("select count(*) as n from marts.dim_agency"))["n"] == 38


def test_bi_reader_may_read_the_marts(marts):
    grants = marts("select table_name from information_schema.role_table_grants"
                   " where grantee = 'bi_reader' and table_schema = 'marts' and privilege_type = 'SELECT'")
    assert {"fct_complaints", "fct_backlog_daily", "agency_scorecard"} <= {row["table_name"] for row in grants}
    assert marts("select 1 from information_schema.role_table_grants"
                 " where grantee = 'bi_reader' and table_schema <> 'marts'") == []


def test_backlog_runs_from_the_earliest_complaint_to_the_latest_run(marts):
    days = one(marts("select min(as_of_date) as first, max(as_of_date) as last, count(*) as n"
                     " from marts.fct_backlog_daily where agency_code = %s", SURABAYA))
    assert days == {"first": date(2020, 11, 10), "last": date(2021, 5, 27), "n": 199}
    agencies = {row["agency_code"] for row in marts("select distinct agency_code from marts.fct_backlog_daily")}
    assert agencies == {SURABAYA, BLITAR}


def test_backlog_before_the_first_export_is_rebuilt_from_timestamps(marts):
    row = one(marts("select * from marts.fct_backlog_daily where agency_code = %s and as_of_date = %s",
                    SURABAYA, date(2021, 5, 18)))
    # 3001006 submitted that day; 3001001 and 3001002 dispositioned; 3001003 and 3001005 in progress
    assert (row["open_complaints"], row["unverified"], row["awaiting_followup"], row["in_progress"]) == (5, 1, 2, 2)
    weekend = one(marts("select open_complaints from marts.fct_backlog_daily where agency_code = %s"
                        " and as_of_date = %s", SURABAYA, date(2020, 11, 14)))
    assert weekend["open_complaints"] == 1  # a row for every day, exports or not


def test_backlog_on_the_latest_run_date(marts):
    row = one(marts("select * from marts.fct_backlog_daily where agency_code = %s and as_of_date = %s",
                    SURABAYA, date(2021, 5, 27)))
    # 3001006 completed; 3001004 new; 3001003 kept from the 26th
    assert row["open_complaints"] == 4
    assert (row["unverified"], row["awaiting_followup"], row["in_progress"], row["postponed"]) == (1, 1, 2, 0)
    # ages: 3001004 0, 3001002 23, 3001005 34, 3001003 over 61 working days
    assert (row["age_0_5"], row["age_6_14"], row["age_15_60"], row["age_61_plus"]) == (1, 0, 2, 1)
    assert row["open_from_prior_years"] == 1
    blitar = one(marts("select * from marts.fct_backlog_daily where agency_code = %s and as_of_date = %s",
                       BLITAR, date(2021, 5, 27)))
    assert (blitar["open_complaints"], blitar["open_from_prior_years"]) == (1, 1)


def test_followup_reports_blitar_missing_april(marts):
    april = one(marts("select * from marts.fct_followup_reports where agency_code = %s and period = %s",
                      BLITAR, date(2021, 4, 1)))
    assert april["due_date"] == date(2021, 5, 7) and april["report_status"] == "missing"
    assert april["submitted_on"] is None
    periods = [row["period"] for row in marts(
        "select period from marts.fct_followup_reports where agency_code = %s order by period", BLITAR)]
    assert periods[0] == date(2020, 12, 1) and periods[-1] == date(2021, 4, 1)  # May has not ended


def test_followup_reports_surabaya_on_time_and_late(marts):
    rows = {row["period"]: row for row in marts(
        "select * from marts.fct_followup_reports where agency_code = %s", SURABAYA)}
    assert rows[date(2021, 4, 1)]["report_status"] == "on_time"
    assert rows[date(2021, 4, 1)]["submitted_on"] == date(2021, 5, 6)
    assert rows[date(2021, 4, 1)]["last_submitted_on"] == date(2021, 5, 20)
    # March: due the 5th working day of April (2 April is Good Friday): 8 April; an empty report counts
    assert rows[date(2021, 3, 1)]["due_date"] == date(2021, 4, 8)
    assert rows[date(2021, 3, 1)]["report_status"] == "late"
    assert min(rows) == date(2020, 11, 1)


def test_scorecard_ranks_by_completion_rate(marts):
    rows = {row["agency_code"]: row for row in marts(
        "select * from marts.agency_scorecard where as_of_date = %s", date(2021, 5, 27))}
    assert (rows[BLITAR]["received_ytd"], rows[BLITAR]["completed_ytd"]) == (1, 1)
    assert rows[BLITAR]["completion_rate"] == Decimal("100.00") and rows[BLITAR]["rank"] == 1
    assert (rows[SURABAYA]["received_ytd"], rows[SURABAYA]["completed_ytd"]) == (5, 2)
    assert rows[SURABAYA]["completion_rate"] == Decimal("40.00") and rows[SURABAYA]["rank"] == 2
    assert rows[BLITAR]["followup_report_status"] == "missing"
    assert rows[SURABAYA]["followup_report_status"] == "on_time"


def test_scorecard_followup_status_as_of_each_day(marts):
    statuses = {row["as_of_date"]: row["followup_report_status"] for row in marts(
        "select as_of_date, followup_report_status from marts.agency_scorecard where agency_code = %s"
        " and as_of_date between %s and %s", BLITAR, date(2021, 5, 6), date(2021, 5, 10))}
    # March's report (due 8 April) is missing until April's is due on 7 May
    assert statuses[date(2021, 5, 6)] == "missing"
    assert statuses[date(2021, 5, 7)] == "not_due"
    assert statuses[date(2021, 5, 10)] == "missing"


def test_resolution_by_month_of_closing(marts):
    rows = {(row["agency_code"], row["month"]): row for row in marts("select * from marts.agg_resolution_monthly")}
    may = rows[(SURABAYA, date(2021, 5, 1))]
    assert may["completed"] == 2
    # 3001001 waited 7 working days, 3001006 6 (18 -> 27 May; 26 May is Hari Raya Waisak)
    assert may["median_working_days_to_close"] == 6.5
    assert may["pct_followup_within_sla"] == Decimal("100.00")
    # 3001006 (a permintaan informasi, limit 5) took 5 working days from its disposition
    assert may["pct_closed_within_sla"] == Decimal("100.00")
