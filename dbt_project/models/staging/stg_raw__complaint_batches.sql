with

source as (
    select * from {{ source('raw', 'complaint_batches') }}
),

renamed as (
    select
        ---------- ids
        agency_code,
        export_day,
        file as source_file,
        sha256 as file_sha256,

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
