-- The history of each finding (marts.fct_findings): one row per event — opened, reminded,
-- escalated, weekly summary, resolved — with the day it happened and whether the agency was
-- told by e-mail. Opening and resolution come from quality.findings, reminders, escalations
-- and weekly summaries from the e-mails that told them (quality.finding_notices).
{{ config(materialized='view') }}

with

findings as (
    select * from {{ source('quality', 'findings') }}
),

notices as (
    select * from {{ source('quality', 'finding_notices') }}
),

events as (
    select f.finding_id, 'opened' as event, f.opened_on as event_on, 0 as seq,
           exists (select 1 from notices n where n.finding_id = f.finding_id and n.kind = 'opened') as agency_told
    from findings f
    union all
    select f.finding_id, 'resolved', f.resolved_on, 0,
           exists (select 1 from notices n where n.finding_id = f.finding_id and n.kind = 'resolved')
    from findings f
    where f.resolved_on is not null
    union all
    select n.finding_id,
           case when n.kind = 'weekly' then 'weekly_summary' when n.escalated then 'escalated' else 'reminded' end,
           n.run_date, n.seq, true
    from notices n
    where n.kind in ('reminder', 'weekly')
)

select
    ---------- ids
    md5(concat_ws('|', e.finding_id, e.event, e.seq)) as event_id,
    e.finding_id,
    f.agency_code,
    f.check_name,

    ---------- the event
    e.event,
    e.event_on,
    nullif(e.seq, 0) as reminder_number,
    e.agency_told
from events e
join findings f on f.finding_id = e.finding_id
