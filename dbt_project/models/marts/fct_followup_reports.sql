-- Every expected monthly follow-up report per agency, and its status at the horizon
-- (the status of each day is fct_followup_report_status).
-- A later submission for the same month replaces the content, not the first submission
-- date; a report with no rows counts as submitted; a file rejected whole does not.
with

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

periods as (
    select * from {{ ref('int_followup_periods') }}
),

submissions as (
    select
        agency_code,
        period,
        min(submitted_on) as submitted_on,
        max(submitted_on) as last_submitted_on,
        count(*)::integer as submissions
    from {{ ref('stg_raw__followup_reports') }}
    where load_status = 'loaded'
        and submitted_on <= (select horizon_date from horizon)
    group by agency_code, period
)

select
    periods.agency_code,
    periods.period,
    periods.due_date,
    submissions.submitted_on,
    submissions.last_submitted_on,
    coalesce(submissions.submissions, 0) as submissions,
    status.report_status
from periods
cross join horizon
left join submissions
    on periods.agency_code = submissions.agency_code
    and periods.period = submissions.period
left join {{ ref('fct_followup_report_status') }} as status
    on periods.agency_code = status.agency_code
    and periods.period = status.period
    and status.valid_from <= horizon.horizon_date
    and (status.valid_to is null or status.valid_to > horizon.horizon_date)
