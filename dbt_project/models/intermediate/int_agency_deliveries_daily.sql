-- One row per agency and calendar day D: what it delivered for D and how that went, the facts
-- of the checks ingest_failed, export_unreadable, followup_unreadable, export_missing and
-- sk_missing (docs/checks.md), which select D's rows and write the sentence. D is both the run
-- date (ingest_runs, source_failures, rejected follow-up files) and the export day (the
-- complaints export of D). quality.* and raw.landed_files are written by the night's prepare and
-- ingest steps, before dbt runs.
--
-- A view, so it costs nothing on a night: the checks read one day (date_day = D), and every
-- per-day fact is a lateral lookup by agency and day through an index (the primary keys of
-- quality.ingest_runs, source_failures and raw.complaint_batches; rejected_files_batch_idx and
-- landed_files_day_idx in plugins/lapor/sql/schema.sql). In `intermediate`, not `marts`: a rejected
-- file's reason and a source's error may quote what an agency sent, which bi_reader must not see.
{{ config(materialized='view') }}

with

agencies as (
    select agency_code, sk_number, sk_date from {{ ref('stg_ref__agencies') }}
),

days as (
    select date_day, is_working_day from {{ ref('int_working_days') }}
),

agency_days as (
    select
        a.agency_code,
        d.date_day,
        d.is_working_day,
        a.sk_number,
        a.sk_date,
        -- the decree naming the complaint managers: a number and a date, in force on D
        coalesce(nullif(trim(a.sk_number), '') is not null and a.sk_date <= d.date_day, false) as has_sk_in_force
    from agencies a
    cross join days d
),

facts as (
    select
        ad.*,
        exists (
            select 1 from {{ source('raw', 'landed_files') }} f
            where f.agency_code = ad.agency_code and f.kind = 'complaints' and f.file_day = ad.date_day
        ) as has_export,
        sf.error as source_error,
        rejected.source_file as rejected_export_file,
        rejected.reason_code as rejected_export_reason_code,
        rejected.reason as rejected_export_reason,
        coalesce(followup.files_rejected, 0) as followup_files_rejected,
        followup.files as rejected_followup_files,
        ir.status as ingest_status,
        ir.error as ingest_error
    from agency_days ad
    left join lateral (
        select s.error from {{ source('quality', 'source_failures') }} s
        where s.run_date = ad.date_day and s.agency_code = ad.agency_code
    ) sf on true
    left join lateral (
        select b.source_file, r.reason_code, r.reason
        from {{ ref('stg_raw__complaint_batches') }} b
        left join lateral (
            select rf.reason_code, rf.reason from {{ source('quality', 'rejected_files') }} rf
            where rf.agency_code = b.agency_code and rf.kind = 'complaints'
              and rf.file = b.source_file and rf.sha256 is not distinct from b.file_sha256
            order by rf.run_date desc
            limit 1
        ) r on true
        where b.agency_code = ad.agency_code and b.export_day = ad.date_day and b.load_status = 'rejected'
    ) rejected on true
    left join lateral (
        select
            count(*)::integer as files_rejected,
            jsonb_agg(jsonb_build_object('file', rf.file, 'reason_code', rf.reason_code, 'reason', rf.reason)
                      order by rf.file) as files
        from {{ source('quality', 'rejected_files') }} rf
        where rf.kind = 'followup' and rf.run_date = ad.date_day and rf.agency_code = ad.agency_code
    ) followup on true
    left join lateral (
        select i.status, i.error from {{ source('quality', 'ingest_runs') }} i
        where i.run_date = ad.date_day and i.agency_code = ad.agency_code
    ) ir on true
)

select
    ---------- ids
    agency_code,
    date_day,

    ---------- the day
    is_working_day,

    ---------- the complaints export of D
    has_export,
    source_error,
    rejected_export_file,
    rejected_export_reason_code,
    rejected_export_reason,

    ---------- follow-up report files first read on D and rejected whole
    followup_files_rejected,
    rejected_followup_files,

    ---------- the ingest task of D
    ingest_status,
    ingest_error,

    ---------- the SK
    sk_number,
    sk_date,
    has_sk_in_force,

    ---------- the checks' verdicts
    -- export_missing: a working day without an export for it (an export API that failed is named)
    is_working_day and not has_export as is_export_missing,
    -- export_unreadable: the export of D arrived and was rejected whole (then not export_missing)
    rejected_export_file is not null as is_export_unreadable,
    -- followup_unreadable: a follow-up report file first read on D was rejected whole
    followup_files_rejected > 0 as is_followup_unreadable,
    -- ingest_failed: the ingestion of D did not end `done`, unless its source failed (export_missing names it)
    coalesce(ingest_status <> 'done' and source_error is null, false) as is_ingest_failed,
    -- sk_missing: no SK in force on D
    not has_sk_in_force as is_sk_missing
from facts
