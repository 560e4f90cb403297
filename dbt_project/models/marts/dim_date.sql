-- Every day of the calendar (2019-2030) with its working-day facts under the current policy.
with

working_days as (
    select * from {{ ref('int_working_days') }}
)

select
    ---------- ids
    date_day,

    ---------- parts
    extract(year from date_day)::integer as year,
    extract(month from date_day)::integer as month,
    extract(isodow from date_day)::integer as iso_day_of_week,

    ---------- flags
    is_weekend,
    is_public_holiday,
    is_cuti_bersama,
    is_working_day,

    ---------- text
    holiday_name,

    ---------- working-day arithmetic
    working_day_index
from working_days
