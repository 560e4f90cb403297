-- One select, not the usual `source` and `renamed` CTEs: a view with a WITH clause is not
-- flattened by PostgreSQL, and joins through it could not use raw.followup_rows' indexes
-- (see stg_raw__complaints).
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
from {{ source('raw', 'followup_rows') }}
