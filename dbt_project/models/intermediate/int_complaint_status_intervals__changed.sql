-- The status history (docs/domain.md, "Lifecycle and statuses") as intervals:
-- a complaint has `status` on every day valid_from <= day < valid_to (valid_to null = it
-- still has it at the horizon).
--   * From its first export on, the status is the last known one: the status of the latest
--     export up to that day that holds the complaint (an agency-day without an export, or
--     an export without this complaint, keeps the previous state). One interval per change.
--   * Before its first export, the status is rebuilt from that first export's own
--     timestamps (WIB dates): unverified from submission, awaiting_followup from disposition,
--     in_progress from the first follow-up, and the exported closed status from closed_at.
-- Statuses are end-of-day: a timestamp on day D counts from D, like an export of day D.
-- Only the complaints in int_changed_complaints (all of them on a full rebuild): the
-- incremental int_complaint_status_intervals replaces theirs with these rows.
-- depends_on: {{ ref('int_changed_complaints') }}
with

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

snapshots as (
    -- one row per complaint and export day; the same id from two agencies on one day:
    -- the latest activity wins, as in int_complaints__latest
    select distinct on (complaints.tracking_id, complaints.export_day)
        complaints.tracking_id,
        complaints.agency_code,
        complaints.export_day,
        complaints.status,
        complaints.submitted_at,
        complaints.dispositioned_at,
        complaints.first_followup_at,
        complaints.closed_at
    from {{ ref('stg_raw__complaints') }} as complaints
    where complaints.export_day <= (select horizon_date from horizon)
        and {{ only_window_complaints('complaints.tracking_id') }}
    order by
        complaints.tracking_id,
        complaints.export_day,
        complaints.last_activity_at desc nulls last,
        complaints.agency_code
),

sequenced as (
    select
        tracking_id,
        agency_code,
        export_day,
        status,
        {{ wib_date('submitted_at') }} as submitted_on,
        {{ wib_date('dispositioned_at') }} as dispositioned_on,
        {{ wib_date('first_followup_at') }} as first_followup_on,
        {{ wib_date('closed_at') }} as closed_on,
        row_number() over by_day as snapshot_number,
        lag(status) over by_day as previous_status,
        -- a complaint counts for the agency of its latest export, on every day
        last_value(agency_code) over (
            by_day rows between unbounded preceding and unbounded following
        ) as latest_agency_code,
        last_value({{ wib_date('submitted_at') }}) over (
            by_day rows between unbounded preceding and unbounded following
        ) as latest_submitted_on
    from snapshots
    window by_day as (partition by tracking_id order by export_day)
),

exported as (
    select
        tracking_id,
        latest_agency_code as agency_code,
        latest_submitted_on as submitted_on,
        status,
        export_day as valid_from,
        lead(export_day) over (partition by tracking_id order by export_day) as valid_to,
        'export' as derived_from
    from sequenced
    where previous_status is distinct from status
),

first_exports as materialized (
    -- reached_k = the first day the complaint had reached stage k or a later one (stages:
    -- 1 submitted, 2 dispositioned, 3 followed up, 4 closed), counting only days before the
    -- first export: timestamps out of order never step back. Materialized: computed once
    -- per complaint, not once per use below.
    select
        tracking_id,
        latest_agency_code,
        latest_submitted_on,
        status,
        export_day as first_seen_on,
        least(submitted_on, reached_2) as reached_1,
        reached_2,
        reached_3,
        reached_4
    from (
        select
            *,
            least(dispositioned_on, reached_3) as reached_2
        from (
            select
                *,
                least(first_followup_on, reached_4) as reached_3
            from (
                select
                    tracking_id,
                    latest_agency_code,
                    latest_submitted_on,
                    status,
                    export_day,
                    case when submitted_on < export_day then submitted_on end as submitted_on,
                    case when dispositioned_on < export_day then dispositioned_on end as dispositioned_on,
                    case when first_followup_on < export_day then first_followup_on end as first_followup_on,
                    case
                        when status in {{ closed_statuses() }} and closed_on < export_day then closed_on
                    end as reached_4
                from sequenced
                where snapshot_number = 1
            ) as closing
        ) as followup
    ) as disposition
),

rebuilt as (
    -- stage k holds from reached_k until the next stage is reached (or the first export)
    select
        tracking_id,
        latest_agency_code as agency_code,
        latest_submitted_on as submitted_on,
        stages.status,
        stages.valid_from,
        stages.valid_to,
        'timestamps' as derived_from
    from first_exports
    cross join lateral (
        values
            ('unverified', reached_1, coalesce(reached_2, reached_3, reached_4, first_seen_on)),
            ('awaiting_followup', reached_2, coalesce(reached_3, reached_4, first_seen_on)),
            ('in_progress', reached_3, coalesce(reached_4, first_seen_on)),
            (first_exports.status, reached_4, first_seen_on)
    ) as stages (status, valid_from, valid_to)
    where stages.valid_from < stages.valid_to
),

intervals as (
    select * from rebuilt
    union all
    select * from exported
)

select
    tracking_id,
    agency_code,
    submitted_on,
    status,
    status in {{ open_statuses() }} as is_open,
    valid_from,
    valid_to,
    derived_from
from intervals
