-- One row per agency and working day, from the agency's first complaint to the latest run
-- date: the complaints submitted that day, and whether the agency has gone silent
-- (the check volume_anomaly selects is_volume_anomaly for the run date).
--
-- Working days are compared with working days only: weekends, holidays and cuti bersama are
-- no rows here, so a window or a norm never counts a holiday week as a quiet week, and the
-- first working day after Idul Fitri is compared with ordinary working days. The norm is
-- learned from the agency's own history, day-of-week aware: each day of the window expects
-- the agency's mean on the same day of the week over the history before the window.
--   window   = the last volume_window_working_days (K) working days up to and including this day
--   history  = the volume_history_working_days (H) working days before the window
--   expected = the sum, over the window's days, of the agency's mean for that day of the week
--              in the history
--   flagged  = a full window, at least volume_min_history_working_days of history, expected at
--              least volume_min_expected, and fewer than volume_min_ratio x expected seen
-- Complaints submitted on a weekend or holiday are counted on no day.
{% set k = var('volume_window_working_days') | int %}
{% set h = var('volume_history_working_days') | int %}

with

complaints as (
    select agency_code, submitted_on
    from {{ ref('fct_complaints') }}
),

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

agency_start as (
    select agency_code, min(submitted_on) as first_day
    from complaints
    group by agency_code
),

submitted as (
    select agency_code, submitted_on, count(*)::integer as new_complaints
    from complaints
    group by agency_code, submitted_on
),

working_days as (
    select
        a.agency_code,
        d.date_day,
        d.iso_day_of_week,
        d.working_day_index
    from agency_start a
    cross join horizon
    join {{ ref('dim_date') }} d
        on d.date_day between a.first_day and horizon.horizon_date
       and d.is_working_day
),

daily as (
    select
        w.*,
        coalesce(s.new_complaints, 0) as new_complaints
    from working_days w
    left join submitted s
        on s.agency_code = w.agency_code and s.submitted_on = w.date_day
),

-- the norm of one day: the agency's mean on the same day of the week in the H working days
-- that end K working days before it (so never inside the window of any day it belongs to)
day_norms as (
    select
        *,
        avg(new_complaints) over (
            partition by agency_code, iso_day_of_week order by working_day_index
            range between {{ h + k - 1 }} preceding and {{ k }} preceding
        ) as weekday_norm
    from daily
),

windows as (
    select
        *,
        count(*) over (
            partition by agency_code order by working_day_index
            range between {{ k - 1 }} preceding and current row
        )::integer as window_working_days,
        sum(new_complaints) over (
            partition by agency_code order by working_day_index
            range between {{ k - 1 }} preceding and current row
        )::integer as window_new_complaints,
        sum(weekday_norm) over (
            partition by agency_code order by working_day_index
            range between {{ k - 1 }} preceding and current row
        ) as window_expected,
        count(*) over (
            partition by agency_code order by working_day_index
            range between {{ h + k - 1 }} preceding and {{ k }} preceding
        )::integer as history_working_days
    from day_norms
)

select
    agency_code,
    date_day,
    iso_day_of_week,
    new_complaints,
    window_working_days,
    window_new_complaints,
    round(window_expected, 2)::numeric(12, 2) as window_expected,
    round(window_expected * {{ var('volume_min_ratio') }}, 2)::numeric(12, 2) as window_expected_min,
    history_working_days,
    coalesce(
        window_working_days = {{ k }}
        and history_working_days >= {{ var('volume_min_history_working_days') }}
        and window_expected >= {{ var('volume_min_expected') }}
        and window_new_complaints < window_expected * {{ var('volume_min_ratio') }},
        false
    ) as is_volume_anomaly
from windows
