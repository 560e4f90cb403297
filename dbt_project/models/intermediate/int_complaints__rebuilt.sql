-- The complaints of fct_complaints that this build rebuilt (int_changed_complaints: the night's
-- changed complaints; every complaint after a full rebuild), with the columns the GX suite
-- marts_complaints (expectations/marts_complaints.json) validates. The suite checks what the
-- night rebuilt, as the scoped dbt tests do, instead of every complaint every night (10 million
-- at national scale); the unique index on fct_complaints.tracking_id holds the whole table.
-- A table, built right after fct_complaints wrote these rows: the suite reads it seven times
-- (a statement per metric), and as a view each read found the night's rows again in
-- fct_complaints, one index probe each (120 thousand at national scale: 0.5 s a statement on
-- a warm cache, far more on a cold one).
-- depends_on: {{ ref('int_changed_complaints') }}
{{ config(materialized='table') }}

select
    tracking_id,
    working_days_to_disposition,
    working_days_to_first_followup,
    working_days_to_close
from {{ ref('fct_complaints') }}
where {{ only_window_complaints('tracking_id') }}
