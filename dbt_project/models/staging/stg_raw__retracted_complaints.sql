with

source as (
    select * from {{ source('raw', 'retracted_complaints') }}
),

renamed as (
    select
        ---------- ids
        tracking_id,

        ---------- change tracking
        load_seq,
        retracted_at
    from source
)

select * from renamed
