with

source as (
    select * from {{ source('ref', 'agencies') }}
),

renamed as (
    select
        ---------- ids
        agency_code,

        ---------- text
        agency_name,
        agency_type,

        ---------- decree (SK) naming the complaint managers
        sk_number,
        sk_date

        -- not passed on: admin_email (contact data, read by the alerts from ref.agencies),
        -- source and source_url (delivery settings)
    from source
)

select * from renamed
