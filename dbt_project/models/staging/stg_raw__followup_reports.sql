with

source as (
    select * from {{ source('raw', 'followup_reports') }}
),

renamed as (
    select
        ---------- ids
        agency_code,
        period,
        submitted_on,
        file as source_file,

        ---------- load outcome
        status as load_status,
        rows_loaded,
        rows_rejected,
        run_date,

        ---------- change tracking
        coalesce(load_seq, 0) as load_seq
    from source
)

select * from renamed
