-- One row per agency and export day whose complaints export was loaded: did it change since
-- the agency's previous loaded export, and for how many working-day exports in a row it has not
-- (the check stale_export selects is_stale for the run date). "No change" is byte for byte:
-- the same SHA-256 as the previous loaded export. A missing day in between does not break the
-- run of unchanged exports; an export for a weekend or holiday is compared but not counted.
--   stale = unchanged_working_days >= stale_export_working_days (LAPOR_STALE_EXPORT_WORKING_DAYS)
with

batches as (
    select agency_code, export_day, file_sha256
    from {{ ref('stg_raw__complaint_batches') }}
    where load_status = 'loaded'
),

compared as (
    select
        b.*,
        d.is_working_day,
        lag(b.export_day) over (partition by b.agency_code order by b.export_day) as previous_export_day,
        coalesce(
            b.file_sha256 = lag(b.file_sha256) over (partition by b.agency_code order by b.export_day),
            false
        ) as is_unchanged
    from batches b
    join {{ ref('dim_date') }} d on d.date_day = b.export_day
),

runs as (
    select
        *,
        sum(case when is_unchanged then 0 else 1 end) over (
            partition by agency_code order by export_day rows between unbounded preceding and current row
        ) as run_no
    from compared
),

counted as (
    select
        *,
        min(export_day) over (partition by agency_code, run_no) as unchanged_since,
        sum(case when is_unchanged and is_working_day then 1 else 0 end) over (
            partition by agency_code, run_no order by export_day
            rows between unbounded preceding and current row
        )::integer as unchanged_working_days
    from runs
)

select
    agency_code,
    export_day,
    is_working_day,
    previous_export_day,
    is_unchanged,
    unchanged_since,
    unchanged_working_days,
    unchanged_working_days >= {{ var('stale_export_working_days') }} as is_stale
from counted
