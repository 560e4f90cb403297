-- The status of every expected monthly follow-up report as it was on each day, as
-- intervals: the status on day D is the row with valid_from <= D < valid_to (valid_to empty:
-- still). The one definition of on_time / late / missing / not_due (docs/domain.md,
-- "Follow-up reports"): fct_followup_reports (the status on the latest run date),
-- agency_scorecard (the status of each day), the checks followup_report_missing and
-- followup_report_late, and the report's grid select it.
-- At most three rows per agency and month (not_due, then missing, then on_time or late):
-- no row per day.
with

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

periods as (
    select * from {{ ref('int_followup_periods') }}
),

first_submissions as (
    -- a later submission replaces the content, not the first submission date; a report
    -- with no rows counts as submitted; a file rejected whole does not
    select
        agency_code,
        period,
        min(submitted_on) as submitted_on
    from {{ ref('stg_raw__followup_reports') }}
    where load_status = 'loaded'
        and submitted_on <= (select horizon_date from horizon)
    group by agency_code, period
),

calendar as (
    select date_day, working_day_index from {{ ref('int_working_days') }}
),

reports as (
    select
        periods.agency_code,
        periods.period,
        periods.due_date,
        first_submissions.submitted_on,
        due.working_day_index as due_working_day_index,
        submitted.working_day_index - due.working_day_index as working_days_after_due
    from periods
    left join first_submissions
        on periods.agency_code = first_submissions.agency_code
        and periods.period = first_submissions.period
    left join calendar as due
        on periods.due_date = due.date_day
    left join calendar as submitted
        on first_submissions.submitted_on = submitted.date_day
),

intervals as (
    -- nothing submitted yet, and the due date has not passed
    select
        agency_code,
        period,
        due_date,
        'not_due' as report_status,
        period as valid_from,
        least(submitted_on, due_date + 1) as valid_to,
        null::date as submitted_on,
        0 as working_days_late,
        due_working_day_index
    from reports
    union all
    -- nothing submitted, and the due date has passed
    select
        agency_code,
        period,
        due_date,
        'missing' as report_status,
        due_date + 1 as valid_from,
        submitted_on as valid_to,
        null::date as submitted_on,
        null::integer as working_days_late,
        due_working_day_index
    from reports
    where due_date is not null
    union all
    -- submitted: on time on or before the due date, late after it
    select
        agency_code,
        period,
        due_date,
        case when submitted_on <= due_date then 'on_time' else 'late' end as report_status,
        submitted_on as valid_from,
        null::date as valid_to,
        submitted_on,
        greatest(working_days_after_due, 0) as working_days_late,
        due_working_day_index
    from reports
    where submitted_on is not null
)

select
    agency_code,
    period,
    due_date,
    report_status,
    valid_from,
    valid_to,
    submitted_on,
    working_days_late::integer as working_days_late,
    due_working_day_index::integer as due_working_day_index
from intervals
where valid_to is null or valid_to > valid_from
