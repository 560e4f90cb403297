with

source as (
    select * from {{ source('ref', 'calendar') }}
),

renamed as (
    select
        ---------- ids
        day as date_day,

        ---------- flags
        is_weekend,
        is_public_holiday,
        is_cuti_bersama,

        ---------- text
        holiday_name
    from source
)

select * from renamed
