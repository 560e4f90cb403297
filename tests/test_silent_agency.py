"""The silent agency: volume_anomaly and stale_export, on crafted exports around the Idul Fitri
holiday week of 2024 (8-15 April: cuti bersama and holidays, no working day), through the
pipeline's steps and the real warehouse.

- 35.07, steady: 8 complaints every Monday, 3 on the other working days, none on weekends or
  holidays. The first working days after the holiday week (a calendar week with no complaint
  at all) are no anomaly.
- On a weekend both checks judge the latest working day (export) before it, so a silence
  stays one finding over the weekend.
- 35.15, silent: 4 complaints every working day up to Thursday 18 April 2024, then none; its
  exports of 22-26 April are the same file. Its norm over 5 working days is 20 (at least 4):
  on 24 April the window still holds 18 April's 4, on 25 April it holds none, so it is flagged
  from 25 April. stale_export: 23, 24, 25 April are its third unchanged working-day export on
  25 April (LAPOR_STALE_EXPORT_WORKING_DAYS = 3), not before.
- 35.79, small: a few complaints; its export changes on 24 April, so it is never stale, and its
  norm is below LAPOR_VOLUME_MIN_EXPECTED, so it is never a volume anomaly.
"""
from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

HEADER = "ID Laporan,Status,Tanggal Laporan,Tanggal Disposisi,Tanggal Tindak Lanjut,Tanggal Selesai,Judul,Klasifikasi\n"
REGISTRY = """agency_code,agency_name,agency_type,sk_number,sk_date,admin_email,source,source_url
35.07,Kabupaten Malang,kabupaten,188/1/2020,2020-02-01,admin@malangkab.example,folder,
35.15,Kabupaten Sidoarjo,kabupaten,188/2/2020,2020-02-01,admin@sidoarjokab.example,folder,
35.79,Kota Batu,kota,188/3/2020,2020-02-01,admin@batukota.example,folder,
"""
FIRST = date(2024, 1, 2)
SILENT_FROM = date(2024, 4, 19)
EXPORT_DAYS = [date(2024, 4, 22) + timedelta(days=i) for i in range(5)]  # Monday to Friday
CHECKED = [date(2024, 4, 5), *(date(2024, 4, 8) + timedelta(days=i) for i in range(20))]  # to Saturday 27 April


def _working_days(first: date, last: date) -> list[date]:
    from lapor.calendar import calendar_rows

    return [day for day, weekend, public, cuti, _ in calendar_rows(first, last) if not (weekend or public or cuti)]


def _rows(code: str, per_day, last: date) -> list[str]:
    rows = []
    for day in _working_days(FIRST, last):
        for n in range(per_day(day)):
            stamp = f"{day:%d/%m/%Y} {8 + n % 8:02d}:{n:02d}"
            tracking_id = f"{code.replace('.', '')}{day:%m%d}{n:02d}"
            rows.append(f"{tracking_id},Selesai,{stamp},{day:%d/%m/%Y} 16:10,{day:%d/%m/%Y} 16:20,{day:%d/%m/%Y} 16:30,"
                        "Jalan rusak,Pengaduan")
    return rows


def _write(folder: Path, relpath: str, text: str) -> None:
    path = folder / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


@pytest.fixture(scope="module")
def silent(scratch_module):
    from lapor import pipeline
    from lapor.quality.checks import run_checks

    settings, url, exports = scratch_module
    registry = exports.parent / "registry.csv"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(REGISTRY)
    settings = dataclasses.replace(settings, registry_path=registry)
    assert settings.stale_export_working_days == 3 and settings.volume_window_working_days == 5
    silent_file = HEADER + "\n".join(_rows("35.15", lambda d: 4 if d < SILENT_FROM else 0, EXPORT_DAYS[-1])) + "\n"
    small = _rows("35.79", lambda d: 1 if d.day % 9 == 0 else 0, EXPORT_DAYS[-1])
    for day in EXPORT_DAYS:
        steady = _rows("35.07", lambda d: 8 if d.isoweekday() == 1 else 3, day)
        _write(exports, f"35.07/complaints/{day}.csv", HEADER + "\n".join(steady) + "\n")
        _write(exports, f"35.15/complaints/{day}.csv", silent_file)
        changed = day >= date(2024, 4, 24)
        _write(exports, f"35.79/complaints/{day}.csv",
               HEADER + "\n".join(small) + ("\n3579999901,Proses,02/01/2024,02/01/2024,03/01/2024,,Parkir,Pengaduan\n"
                                             if changed else "\n"))
        pipeline.prepare(day, settings)
        for code in ("35.07", "35.15", "35.79"):
            pipeline.ingest_agency(day, code, exports, settings=settings)
    pipeline.transform(EXPORT_DAYS[-1], settings)
    for day in CHECKED:
        run_checks(url, settings, day)
    return settings, url


def _flagged(url: str, check: str) -> dict[date, set[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select run_date, agency_code from quality.check_results"
                            " where check_name = %s and not passed", (check,)).fetchall()
    out: dict[date, set[str]] = {day: set() for day in CHECKED}
    for day, agency in rows:
        out[day].add(agency)
    return out


def test_the_silent_agency_is_flagged_from_the_first_window_without_complaints(silent):
    _, url = silent
    flagged = _flagged(url, "volume_anomaly")
    # flagged from Thursday 25 April, and still on Saturday 27 April (the Friday judged): one finding
    assert {day for day, agencies in flagged.items() if "35.15" in agencies} == {
        date(2024, 4, 25), date(2024, 4, 26), date(2024, 4, 27)}
    with psycopg.connect(url) as conn:
        details, facts = conn.execute(
            "select details, facts from quality.check_results where check_name = 'volume_anomaly'"
            " and agency_code = '35.15' and run_date = '2024-04-25'").fetchone()
    assert facts["seen"] == 0 and facts["expected"] == 20.0 and facts["expected_min"] == 4.0
    assert facts["silent_since"] == "2024-04-19"
    assert "0 new complaint(s) over the last 5 working days; expected about 20.0 (at least 4.0)" in details


def test_a_holiday_week_is_no_volume_anomaly(silent):
    """8-15 April 2024 hold no working day and no complaint: the working days after it are
    compared with working days, and the steady agency is never flagged; nor is the small one."""
    _, url = silent
    flagged = _flagged(url, "volume_anomaly")
    assert all(not agencies & {"35.07", "35.79"} for agencies in flagged.values()), flagged
    with psycopg.connect(url) as conn:
        first_after = conn.execute(
            "select window_new_complaints, window_expected, is_volume_anomaly from marts.fct_agency_volume_daily"
            " where agency_code = '35.07' and date_day = '2024-04-16'").fetchone()
        holiday_rows = conn.execute(
            "select count(*) from marts.fct_agency_volume_daily where date_day between '2024-04-08' and '2024-04-15'"
        ).fetchone()[0]
    assert first_after == (15, 15, False)  # 2-5 April and Tuesday 16 April: 3 each, as every Tuesday to Friday
    assert holiday_rows == 0


def test_stale_export_after_n_unchanged_working_days_and_not_before(silent):
    _, url = silent
    flagged = _flagged(url, "stale_export")
    # and on Saturday 27 April, no export due: the latest export is judged, so it stays one finding
    assert {day for day, agencies in flagged.items() if agencies} == {
        date(2024, 4, 25), date(2024, 4, 26), date(2024, 4, 27)}
    assert flagged[date(2024, 4, 25)] == {"35.15"}
    with psycopg.connect(url) as conn:
        facts = conn.execute(
            "select facts from quality.check_results where check_name = 'stale_export'"
            " and agency_code = '35.15' and run_date = '2024-04-25'").fetchone()[0]
        batu = conn.execute("select export_day, unchanged_working_days from marts.fct_export_changes"
                            " where agency_code = '35.79' order by export_day").fetchall()
    assert facts == {"unchanged_since": "2024-04-22", "unchanged_working_days": 3, "limit": 3}
    assert [n for _, n in batu] == [0, 1, 0, 1, 2]  # the changed export of 24 April starts again
