-- Resolution per agency and month of closing: completed complaints only (CONTRACT.md §3).
with

completed as (
    select *
    from {{ ref('fct_complaints') }}
    where status = 'completed'
        and closed_at is not null
)

select
    agency_code,
    date_trunc('month', closed_on)::date as month,
    count(*)::integer as completed,
    percentile_cont(0.5) within group (order by working_days_to_close) as median_working_days_to_close,
    percentile_cont(0.9) within group (order by working_days_to_close) as p90_working_days_to_close,
    percentile_cont(0.5) within group (order by working_days_to_first_followup)
        as median_working_days_to_first_followup,
    round(100.0 * count(*) filter (where not followup_sla_breached) / count(*), 2) as pct_followup_within_sla,
    round(100.0 * count(*) filter (where closed_within_sla) / count(*), 2) as pct_closed_within_sla
from completed
group by 1, 2
