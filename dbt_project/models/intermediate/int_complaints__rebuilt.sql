-- The complaints of fct_complaints that this build rebuilt (int_changed_complaints: the night's
-- changed complaints; every complaint after a full rebuild), with the columns the GX suite
-- marts_complaints (expectations/marts_complaints.json) validates. The suite checks what the
-- night rebuilt, as the scoped dbt tests do, instead of every complaint every night (10 million
-- at national scale); the unique index on fct_complaints.tracking_id holds the whole table.
-- A view: GX reflects its columns from the catalog (a query asset would fetch every row first),
-- and its rows are found through that unique index (macro changed_complaint()).
{{ config(materialized='view') }}

select
    tracking_id,
    working_days_to_disposition,
    working_days_to_first_followup,
    working_days_to_close
from {{ ref('fct_complaints') }}
where {{ changed_complaint('tracking_id') }}
