-- The complaints this run rebuilds in the incremental models: one row per tracking id.
--   * is_full (int_build_window): every complaint in the raw layer, and every id whose rows
--     were ever retracted (so a complaint that is gone altogether leaves the marts).
--   * otherwise: the complaints in export batches and follow-up reports written since the
--     last finished build (load_seq in (previous_seq, seq_to]) or whose day has just come
--     within the horizon, and the ids whose raw rows a replaced batch took away.
with

build as (
    select * from {{ ref('int_build_window') }}
),

batches as (
    select batches.agency_code, batches.export_day
    from {{ ref('stg_raw__complaint_batches') }} as batches
    cross join build
    where batches.export_day <= build.horizon_date
        and (
            build.is_full
            or (batches.load_seq > build.previous_seq and batches.load_seq <= build.seq_to)
            or batches.export_day > build.previous_horizon_date
        )
),

reports as (
    select reports.agency_code, reports.period, reports.submitted_on
    from {{ ref('stg_raw__followup_reports') }} as reports
    cross join build
    where reports.submitted_on <= build.horizon_date
        and (
            build.is_full
            or (reports.load_seq > build.previous_seq and reports.load_seq <= build.seq_to)
            or reports.submitted_on > build.previous_horizon_date
        )
),

retracted as (
    select retracted.tracking_id
    from {{ ref('stg_raw__retracted_complaints') }} as retracted
    cross join build
    where build.is_full
        or (retracted.load_seq > build.previous_seq and retracted.load_seq <= build.seq_to)
)

select complaints.tracking_id
from {{ ref('stg_raw__complaints') }} as complaints
inner join batches
    on complaints.agency_code = batches.agency_code
    and complaints.export_day = batches.export_day
{%- if not build_is_full() %}
-- the batches' agencies and days also as arrays: PostgreSQL then reads the night's batches
-- through raw.complaints' (agency_code, export_day) index, not the whole table
where complaints.agency_code = any(array(select distinct agency_code from batches))
    and complaints.export_day = any(array(select distinct export_day from batches))
{%- endif %}
union
select followup_rows.tracking_id
from {{ ref('stg_raw__followup_rows') }} as followup_rows
inner join reports
    on followup_rows.agency_code = reports.agency_code
    and followup_rows.period = reports.period
    and followup_rows.submitted_on = reports.submitted_on
union
select tracking_id from retracted
