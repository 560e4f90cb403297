-- One row per complaint: its latest known state and its durations in working days.
-- Incremental: a run rebuilds the complaints in int_changed_complaints (macros/incremental.sql).
-- depends_on: {{ ref('int_changed_complaints') }}
-- int_resolution_month_changes reads the stored rows before they are replaced:
-- depends_on: {{ ref('int_resolution_month_changes') }}
{{ config(
    materialized='incremental',
    tags=['incremental'],
    meta={'test_scope': 'changed_complaints'},
    incremental_strategy='append',
    indexes=[{'columns': ['tracking_id'], 'unique': True}, {'columns': ['agency_code']}],
    pre_hook="{{ delete_changed_complaints() }}",
    post_hook="{{ followup_pending_index() }}",
) }}
with

complaints as (
    select * from {{ ref('int_complaints__latest') }}
    where {{ only_changed_complaints('tracking_id') }}
),

measured as (
    select
        *,
        {{ working_days_between('submitted_at', 'dispositioned_at') }} as working_days_to_disposition,
        {{ working_days_between('dispositioned_at', 'first_followup_at') }} as working_days_to_first_followup,
        {{ working_days_between('submitted_at', 'closed_at') }} as working_days_to_close,
        -- the agency's clock starts at disposition, or at submission when there is none
        {{ working_days_between('coalesce(dispositioned_at, submitted_at)', 'closed_at') }} as working_days_to_settle,
        -- the follow-up limit (macros/followup_due.sql): late from this day on
        {{ followup_late_from(wib_date('dispositioned_at')) }} as followup_late_from,
        {{ settle_limit_working_days('classification', 'is_supervisory') }} as settle_limit_working_days
    from complaints
)

select
    ---------- ids
    tracking_id,
    agency_code,

    ---------- status and classification
    status,
    is_open,
    classification,
    is_supervisory,
    category,
    channel,

    ---------- timestamps
    submitted_at,
    dispositioned_at,
    first_followup_at,
    closed_at,

    ---------- dates (WIB)
    submitted_on,
    closed_on,
    first_seen_on,
    last_seen_on,

    ---------- flags
    is_confidential,
    is_anonymous,

    ---------- the reporter, pseudonymous
    reporter_key,

    ---------- durations (working days)
    working_days_to_disposition,
    working_days_to_first_followup,
    working_days_to_close,
    working_days_to_settle,
    settle_limit_working_days,

    ---------- service levels
    case
        when dispositioned_at is null then false
        -- no followup_late_from: it lies beyond the calendar, so nothing is late yet
        when first_followup_at is not null then coalesce({{ wib_date('first_followup_at') }} >= followup_late_from, false)
        else coalesce(last_seen_on >= followup_late_from, false)
    end as followup_sla_breached,
    working_days_to_settle <= settle_limit_working_days as closed_within_sla
from measured
