with

source as (
    select * from {{ source('raw', 'complaints') }}
),

renamed as (
    select
        ---------- ids
        tracking_id,
        agency_code,
        export_day,
        file as source_file,
        line as source_line,

        ---------- status and classification
        status,
        status_text,
        {{ normalize_classification('classification') }} as classification,
        nullif(trim(category), '') as category,
        nullif(trim(channel), '') as channel,

        ---------- timestamps (timestamptz; WIB dates are taken downstream)
        submitted_at,
        dispositioned_at,
        first_followup_at,
        closed_at,
        last_activity_at,

        ---------- flags
        is_confidential,
        is_anonymous,
        is_supervisory

        -- not passed on: title, content, reporter_name, reporter_phone, reporter_email,
        -- extra and original (personal data and complaint text stay in the raw layer)
    from source
)

select * from renamed
