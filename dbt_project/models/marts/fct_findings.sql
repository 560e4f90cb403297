-- Findings with a life (docs/checks.md, "The life of a finding"): one row per agency, check,
-- subject and opening, from the view quality.findings (derived from quality.check_results
-- alone, so re-running a date changes nothing twice) and what the e-mails told of each
-- (quality.finding_notices). A view, because the checks and the e-mails run after `dbt build`.
-- No facts and no details: they may quote an agency's file or a complaint's title.
{{ config(materialized='view') }}

with

findings as (
    select * from {{ source('quality', 'findings') }}
),

notices as (
    select
        finding_id,
        count(*) filter (where kind = 'reminder')::integer as reminders_sent,
        min(run_date) filter (where escalated) as escalated_on
    from {{ source('quality', 'finding_notices') }}
    group by finding_id
),

dates as (
    select date_day, working_day_index from {{ ref('dim_date') }}
)

select
    ---------- ids
    f.finding_id,
    f.agency_code,
    f.check_name,
    {{ check_label('f.check_name') }} as check_label,
    f.subject,
    f.subject_label,
    f.severity,

    ---------- dates
    f.opened_on,
    f.last_seen_on,
    f.resolved_on,
    n.escalated_on,

    ---------- flags and counts
    f.resolved_on is null as is_open,
    f.runs_flagged,
    coalesce(n.reminders_sent, 0) as reminders_sent,
    -- an open finding counts to the latest run: a scalar subquery, computed once for the whole
    -- statement (as a join with the latest run's day it could be planned as a nested loop that
    -- read dim_date again for every finding: 5.4 s for 11,200 findings at national scale)
    (coalesce(resolved.working_day_index,
              (select d.working_day_index from dates d
               where d.date_day = (select max(r.run_date) from {{ source('quality', 'check_results') }} r)))
     - opened.working_day_index)::integer
        as working_days_open
from findings f
left join notices n on n.finding_id = f.finding_id
left join dates opened on opened.date_day = f.opened_on
left join dates resolved on resolved.date_day = f.resolved_on
