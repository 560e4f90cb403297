-- The follow-up reports expected (docs/domain.md, "Follow-up reports"): per agency, every month from the later
-- of var followup_from and the month of its earliest complaint, up to the last month that
-- has ended by the horizon (the horizon's own day counts as ended: a run covers the whole
-- day). The report for month M is due on the var followup_due_working_day-th working day
-- of month M+1.
with

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

complaints as (
    select agency_code, submitted_on from {{ ref('int_complaints__latest') }}
),

calendar as (
    select date_day, is_working_day, working_day_index from {{ ref('int_working_days') }}
),

bounds as (
    select
        complaints.agency_code,
        greatest(
            date_trunc('month', min(complaints.submitted_on))::date,
            {{ followup_from_month() }}
        ) as first_period,
        (date_trunc('month', max(horizon.horizon_date) + 1) - interval '1 month')::date as last_period
    from complaints
    cross join horizon
    group by complaints.agency_code
),

periods as (
    select
        bounds.agency_code,
        months.period::date as period
    from bounds
    cross join lateral generate_series(
        bounds.first_period::timestamp, bounds.last_period::timestamp, interval '1 month'
    ) as months (period)
)

select
    periods.agency_code,
    periods.period,
    due.date_day as due_date
from periods
left join calendar as month_end
    on month_end.date_day = (periods.period + interval '1 month' - interval '1 day')::date
left join calendar as due
    on due.is_working_day
    and due.working_day_index = month_end.working_day_index + {{ var('followup_due_working_day') }}
