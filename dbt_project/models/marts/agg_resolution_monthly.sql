-- Resolution per agency and month of closing: completed complaints only (docs/marts.md).
-- Incremental: a run recomputes the groups in int_resolution_month_changes.
-- depends_on: {{ ref('int_resolution_month_changes') }}
{{ config(
    materialized='incremental',
    tags=['incremental'],
    meta={'test_scope': 'changed_resolution_months'},
    incremental_strategy='append',
    indexes=[{'columns': ['agency_code', 'month'], 'unique': True}],
    pre_hook="{{ delete_changed_resolution_months() }}",
) }}
with

completed as (
    select complaints.*
    from {{ ref('fct_complaints') }} as complaints
    {%- if is_incremental() %}
    inner join {{ ref('int_resolution_month_changes') }} as changes
        on complaints.agency_code = changes.agency_code
        and complaints.closed_on >= changes.month
        and complaints.closed_on < changes.month + interval '1 month'
    {%- endif %}
    where complaints.status = 'completed'
        and complaints.closed_at is not null
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
