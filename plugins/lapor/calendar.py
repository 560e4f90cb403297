"""The working-day calendar of Indonesia, written to `ref.calendar` for dbt's `dim_date`.

Source: PyPI `holidays` (category `public` = national holidays, `government` = cuti
bersama). Whether cuti bersama is a working day is policy: dbt applies
`LAPOR_CUTI_BERSAMA_IS_HOLIDAY` when it builds `dim_date`.
"""
from __future__ import annotations

from datetime import date, timedelta

import holidays
import psycopg

from lapor.settings import TIMEZONE

FIRST_DAY = date(2019, 1, 1)
LAST_DAY = date(2030, 12, 31)


class RunDateError(ValueError):
    """A run date the pipeline refuses: after today (WIB) or outside the calendar."""


def today_wib() -> date:
    """Today's date in WIB (`settings.TIMEZONE`), whatever the machine's time zone."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(TIMEZONE)).date()


def check_run_date(day: date, today: date | None = None) -> date:
    """`day` if a night may run for it, else RunDateError with a message naming the date.

    A night runs for a day that has begun (today in WIB at the latest; its marts are built up
    to the run date, so a later date would move every mart's horizon into the future) and
    that the working-day calendar covers (FIRST_DAY to LAST_DAY, see `ref.calendar`).
    """
    today = today or today_wib()
    if day > today:
        raise RunDateError(f"{day.isoformat()} is after today ({today.isoformat()} in WIB): "
                           "a night can only be run for a day that has begun")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RunDateError(f"{day.isoformat()} is outside the working-day calendar "
                           f"({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})")
    return day


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
