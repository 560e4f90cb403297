-- One row per complaint: its state in the latest export that holds it (up to the
-- horizon), the first and last export days it appeared in, and its first follow-up from
-- either the export or any follow-up report row.
-- Incremental: a run rebuilds the complaints in int_changed_complaints (macros/incremental.sql).
-- depends_on: {{ ref('int_changed_complaints') }}
{{ config(
    materialized='incremental',
    tags=['incremental'],
    meta={'test_scope': 'changed_complaints'},
    incremental_strategy='append',
    indexes=[{'columns': ['tracking_id'], 'unique': True}],
    pre_hook="{{ delete_changed_complaints() }}",
) }}
with

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

snapshots as (
    select
        complaints.*,
        min(complaints.export_day) over by_complaint as first_seen_on,
        max(complaints.export_day) over by_complaint as last_seen_on,
        row_number() over (
            partition by complaints.tracking_id
            -- the same id from two agencies on one day: the latest activity wins
            order by complaints.export_day desc, complaints.last_activity_at desc nulls last, complaints.agency_code
        ) as recency
    from {{ ref('stg_raw__complaints') }} as complaints
    where complaints.export_day <= (select horizon_date from horizon)
        and {{ only_changed_complaints('complaints.tracking_id') }}
    window by_complaint as (partition by complaints.tracking_id)
),

latest as (
    select * from snapshots where recency = 1
),

reported_followups as (
    select
        tracking_id,
        min(followup_at) as first_reported_followup_at
    from {{ ref('stg_raw__followup_rows') }}
    where submitted_on <= (select horizon_date from horizon)
        and {{ only_changed_complaints('tracking_id') }}
    group by tracking_id
)

select
    ---------- ids
    latest.tracking_id,
    latest.agency_code,

    ---------- status and classification
    latest.status,
    latest.status in {{ open_statuses() }} as is_open,
    latest.classification,
    latest.category,
    latest.channel,

    ---------- timestamps
    latest.submitted_at,
    latest.dispositioned_at,
    least(latest.first_followup_at, reported_followups.first_reported_followup_at) as first_followup_at,
    latest.first_followup_at as exported_first_followup_at,
    reported_followups.first_reported_followup_at,
    latest.closed_at,
    latest.last_activity_at,

    ---------- dates (WIB)
    {{ wib_date('latest.submitted_at') }} as submitted_on,
    {{ wib_date('latest.closed_at') }} as closed_on,
    latest.first_seen_on,
    latest.last_seen_on,

    ---------- flags
    latest.is_supervisory,
    latest.is_confidential,
    latest.is_anonymous,

    ---------- the reporter, pseudonymous
    latest.reporter_key
from latest
left join reported_followups
    on latest.tracking_id = reported_followups.tracking_id
