-- The agencies the coordinator monitors. No contact data (admin e-mail) here.
with

agencies as (
    select * from {{ ref('stg_ref__agencies') }}
)

select
    ---------- ids
    agency_code,

    ---------- text
    agency_name,
    agency_type,

    ---------- decree (SK) naming the complaint managers
    coalesce(nullif(trim(sk_number), '') is not null and sk_date is not null, false) as has_sk,
    sk_number,
    sk_date
from agencies
