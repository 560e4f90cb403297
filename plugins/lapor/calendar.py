"""The working-day calendar of Indonesia, written to `ref.calendar` for dbt's `dim_date`.

Source: PyPI `holidays` (category `public` = national holidays, `government` = cuti
bersama). Whether cuti bersama is a working day is policy: dbt applies
`LAPOR_CUTI_BERSAMA_IS_HOLIDAY` when it builds `dim_date`.
"""
from __future__ import annotations

from datetime import date, timedelta

import holidays
import psycopg

FIRST_DAY = date(2019, 1, 1)
LAST_DAY = date(2030, 12, 31)


def calendar_rows(first: date = FIRST_DAY, last: date = LAST_DAY) -> list[tuple]:
    """(day, is_weekend, is_public_holiday, is_cuti_bersama, holiday_name) for every day."""
    years = range(first.year, last.year + 1)
    public = holidays.country_holidays("ID", years=years, categories=("public",), language="id")
    leave = holidays.country_holidays("ID", years=years, categories=("government",), language="id")
    rows = []
    day = first
    while day <= last:
        names = [n for n in (public.get(day), leave.get(day)) if n]
        rows.append((day, day.weekday() >= 5, day in public, day in leave, "; ".join(names) or None))
        day += timedelta(days=1)
    return rows


def write_calendar(conn: psycopg.Connection) -> int:
    """Replace `ref.calendar` when it differs from the package's calendar; returns rows written."""
    rows = calendar_rows()
    current = conn.execute(
        "select day, is_weekend, is_public_holiday, is_cuti_bersama, holiday_name from ref.calendar order by day"
    ).fetchall()
    if current == rows:
        return 0
    with conn.transaction():
        conn.execute("delete from ref.calendar")
        with conn.cursor().copy(
            "copy ref.calendar (day, is_weekend, is_public_holiday, is_cuti_bersama, holiday_name) from stdin"
        ) as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)
