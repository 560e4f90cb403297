-- One row per dispositioned complaint: when its first follow-up is due, and the days on
-- which it is overdue. The follow-up limit is defined once (macros/followup_due.sql);
-- fct_complaints.followup_sla_breached and the check followup_overdue are comparisons
-- with followup_late_from:
--   breached   = first follow-up on or after followup_late_from, or none and
--                last_seen_on >= followup_late_from (fct_complaints);
--   overdue on D = overdue_from <= D and (overdue_until is null or overdue_until > D):
--                followup_late_from <= D, no follow-up by D, not closed by D.
-- A view: nothing to rebuild at night; read for one day at a time.
-- Its data tests check the complaints this run rebuilt (macros/test_scope.sql).
{{ config(materialized='view', meta={'test_scope': 'changed_complaints'}) }}

with

complaints as (
    select
        tracking_id,
        agency_code,
        is_open,
        closed_at,
        {{ wib_date('dispositioned_at') }} as dispositioned_on,
        {{ wib_date('first_followup_at') }} as first_followup_on,
        closed_on,
        last_seen_on,
        -- the expression the index of fct_complaints covers (macros/followup_due.sql)
        {{ followup_pending_until() }} as overdue_until
    from {{ ref('fct_complaints') }}
    where dispositioned_at is not null
),

due as (
    select
        *,
        {{ working_day_index('dispositioned_on') }} as dispositioned_working_day_index,
        {{ followup_due_on('dispositioned_on') }} as followup_due_on,
        {{ followup_late_from('dispositioned_on') }} as followup_late_from
    from complaints
)

select
    tracking_id,
    agency_code,
    dispositioned_on,
    dispositioned_working_day_index,
    {{ followup_limit_working_days() }} as followup_limit_working_days,
    followup_due_on,
    followup_late_from,
    first_followup_on,
    closed_on,
    last_seen_on,
    -- a complaint closed without a closing time is never counted overdue
    case when is_open or closed_at is not null then followup_late_from end as overdue_from,
    overdue_until
from due
