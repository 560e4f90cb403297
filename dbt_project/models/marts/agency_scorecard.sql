-- Per agency and day (the days of fct_backlog_daily): this year's intake and completions,
-- open complaints, the follow-up report status, and the agencies' rank that day.
-- Incremental: a run rebuilds every agency's days from scorecard_rebuild_from() on (the
-- ranks compare all agencies on a day); the running counts start on that day.
-- depends_on: {{ ref('int_agency_backlog_changes') }}
-- depends_on: {{ ref('int_build_window') }}
-- depends_on: {{ ref('stg_raw__followup_reports') }}
{{ config(
    materialized='incremental',
    tags=['incremental'],
    meta={'test_scope': 'changed_days'},
    incremental_strategy='append',
    indexes=[{'columns': ['agency_code', 'as_of_date'], 'unique': True}, {'columns': ['as_of_date']}],
    pre_hook="{{ delete_changed_scorecard_days() }}",
) }}
with

rebuild as (
    {%- if is_incremental() %}
    select {{ scorecard_rebuild_from() }} as rebuild_from
    {%- else %}
    select '-infinity'::date as rebuild_from
    {%- endif %}
),

backlog as (
    select as_of_date, agency_code, open_complaints
    from {{ ref('fct_backlog_daily') }}
    where as_of_date >= (select rebuild_from from rebuild)
),

complaints as (
    select
        tracking_id,
        agency_code,
        submitted_on,
        make_date(extract(year from submitted_on)::integer + 1, 1, 1) as next_year_from
    from {{ ref('int_complaints__latest') }}
    where make_date(extract(year from submitted_on)::integer + 1, 1, 1) > (select rebuild_from from rebuild)
),

completed_intervals as (
    select *
    from {{ ref('int_complaint_status_intervals') }}
    where status = 'completed'
        and (valid_to is null or valid_to > (select rebuild_from from rebuild))
),

reports as (
    select agency_code, period, due_date from {{ ref('fct_followup_reports') }}
),

report_statuses as (
    select agency_code, period, report_status, valid_from, valid_to
    from {{ ref('fct_followup_report_status') }}
),

pieces as (
    -- received this year: counted from its submission day to the end of that year
    select
        agency_code,
        'received_ytd' as measure,
        submitted_on as piece_from,
        next_year_from as piece_to
    from complaints
    union all
    -- completed this year: a complaint received this year, on the days its status is completed
    select
        complaints.agency_code,
        'completed_ytd' as measure,
        greatest(completed_intervals.valid_from, complaints.submitted_on) as piece_from,
        least(completed_intervals.valid_to, complaints.next_year_from) as piece_to
    from completed_intervals
    inner join complaints
        on completed_intervals.tracking_id = complaints.tracking_id
),

counts as (
    {{ running_counts('pieces', 'backlog', ['received_ytd', 'completed_ytd']) }}
),

report_spans as (
    -- each month's report is "the latest month due" from its due date until the next one's
    select
        *,
        coalesce(
            lead(due_date) over (partition by agency_code order by period) - 1,
            (select max(as_of_date) from backlog)
        ) as latest_due_until
    from reports
    where due_date is not null
),

report_days as (
    -- the days of each span, with the month's status on each (fct_followup_report_status)
    select
        report_spans.agency_code,
        days.as_of_date::date as as_of_date,
        report_statuses.report_status as followup_report_status
    from report_spans
    inner join report_statuses
        on report_spans.agency_code = report_statuses.agency_code
        and report_spans.period = report_statuses.period
        and report_statuses.valid_from <= report_spans.latest_due_until
        and (report_statuses.valid_to is null or report_statuses.valid_to > report_spans.due_date)
    cross join lateral generate_series(
        greatest(report_spans.due_date, report_statuses.valid_from)::timestamp,
        (case
            when report_statuses.valid_to is null then report_spans.latest_due_until
            else least(report_spans.latest_due_until, report_statuses.valid_to - 1)
        end)::timestamp,
        interval '1 day'
    ) as days (as_of_date)
),

scored as (
    select
        backlog.as_of_date,
        backlog.agency_code,
        counts.received_ytd,
        counts.completed_ytd,
        {{ completion_ratio('counts.completed_ytd', 'counts.received_ytd') }} as completion_ratio,
        backlog.open_complaints,
        report_days.followup_report_status
    from backlog
    inner join counts
        on backlog.agency_code = counts.agency_code
        and backlog.as_of_date = counts.as_of_date
    left join report_days
        on backlog.agency_code = report_days.agency_code
        and backlog.as_of_date = report_days.as_of_date
)

select
    as_of_date,
    agency_code,
    received_ytd,
    completed_ytd,
    -- the one definition of the rate (macros/completion_rate.sql)
    {{ completion_rate('completed_ytd', 'received_ytd') }} as completion_rate,
    open_complaints,
    followup_report_status,
    row_number() over (
        partition by as_of_date
        order by completion_ratio desc nulls last, open_complaints, agency_code
    )::integer as rank
from scored
