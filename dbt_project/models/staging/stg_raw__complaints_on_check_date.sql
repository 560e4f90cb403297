-- The complaint rows as loaded for the date the warehouse suites check (the GX suite
-- raw_complaints, expectations/raw_complaints.json). The date is the connection's setting
-- lapor.check_date, which lapor.quality.suites gives GX's connections; without it, no rows.
-- A view rather than a query in the suite: GX reflects a view's columns from the catalog, but
-- learns a query's columns by running it and fetching every row of its result (a day's 120
-- thousand rows at national scale: 0.4 s and 25 MB of the checks' memory, every night).
-- The day's rows are found through the batch index (agency_code, export_day), as before.
{{ config(materialized='view') }}

select
    agency_code,
    export_day,
    tracking_id,
    status,
    submitted_at,
    dispositioned_at,
    first_followup_at,
    closed_at
from {{ source('raw', 'complaints') }}
where export_day = nullif(current_setting('lapor.check_date', true), '')::date
