with

source as (
    select * from {{ source('raw', 'followup_rows') }}
),

renamed as (
    select
        ---------- ids
        tracking_id,
        agency_code,
        period,
        submitted_on,
        file as source_file,
        line as source_line,

        ---------- timestamps
        followup_at,

        ---------- text
        result_status

        -- not passed on: action (free text), officer (a person's name), extra, original
    from source
)

select * from renamed
