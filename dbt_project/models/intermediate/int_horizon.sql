-- The horizon: every mart is built up to the latest run date, never to the wall clock, so
-- loading days in any order (a late file, a re-run of an earlier day) gives the same marts.
-- One row; horizon_date is null until a run has been recorded.
with

runs as (
    select * from {{ ref('stg_raw__pipeline_runs') }}
)

select max(run_date) as horizon_date
from runs
