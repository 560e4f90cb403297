with

source as (
    select * from {{ source('raw', 'pipeline_runs') }}
),

renamed as (
    select
        ---------- ids
        run_date,

        ---------- timestamps
        started_at
    from source
)

select * from renamed
