-- The history of each finding (marts.fct_findings): one row per event — opened, reminded,
-- escalated, weekly summary, resolved — with the day it happened and whether the agency was
-- told by e-mail. Opening and resolution come from quality.findings, reminders, escalations
-- and weekly summaries from the e-mails that told them (quality.finding_notices).
{{ config(materialized='view') }}

-- Each finding is read once and its events found beside it (a lateral subquery; the notices by
-- their primary key), not joined back to the findings: whatever PostgreSQL estimates, no plan
-- joins the findings with themselves (by nested loop that took 2.5 minutes for 11,200 findings).

with

findings as (
    select * from {{ source('quality', 'findings') }}
),

events as (
    select f.finding_id, f.agency_code, f.check_name, e.event, e.event_on, e.seq, e.agency_told
    from findings f
    cross join lateral (
        select 'opened' as event, f.opened_on as event_on, 0 as seq,
               exists (select 1 from {{ source('quality', 'finding_notices') }} n
                       where n.finding_id = f.finding_id and n.kind = 'opened') as agency_told
        union all
        select 'resolved', f.resolved_on, 0,
               exists (select 1 from {{ source('quality', 'finding_notices') }} n
                       where n.finding_id = f.finding_id and n.kind = 'resolved')
        where f.resolved_on is not null
        union all
        select case when n.kind = 'weekly' then 'weekly_summary' when n.escalated then 'escalated'
                    else 'reminded' end,
               n.run_date, n.seq, true
        from {{ source('quality', 'finding_notices') }} n
        where n.finding_id = f.finding_id and n.kind in ('reminder', 'weekly')
    ) e
)

select
    ---------- ids
    md5(concat_ws('|', e.finding_id, e.event, e.seq)) as event_id,
    e.finding_id,
    e.agency_code,
    e.check_name,

    ---------- the event
    e.event,
    e.event_on,
    nullif(e.seq, 0) as reminder_number,
    e.agency_told
from events e
