-- Every calendar day with the policy applied: is it a working day, and how many working
-- days have passed up to and including it. The macros in macros/working_days.sql count
-- durations as differences of working_day_index.
with

calendar as (
    select * from {{ ref('stg_ref__calendar') }}
),

flagged as (
    select
        date_day,
        is_weekend,
        is_public_holiday,
        is_cuti_bersama,
        holiday_name,
        not is_weekend
            and not is_public_holiday
            and not (is_cuti_bersama and {{ cuti_bersama_is_holiday() }}) as is_working_day
    from calendar
)

select
    *,
    sum(case when is_working_day then 1 else 0 end) over (
        order by date_day rows between unbounded preceding and current row
    )::integer as working_day_index
from flagged
