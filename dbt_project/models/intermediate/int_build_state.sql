-- The last build that finished: built after every incremental model (and, under
-- `dbt build`, after their tests), so it only moves when they all succeeded. dbt reads
-- these refs when it parses, before any tag can be looked up: tests/dbt/test_project_graph.py
-- checks that they name every model tagged `incremental`.
-- depends_on: {{ ref('agency_scorecard') }}
-- depends_on: {{ ref('fct_backlog_daily') }}
-- depends_on: {{ ref('fct_complaints') }}
-- depends_on: {{ ref('int_complaint_status_intervals') }}
-- depends_on: {{ ref('int_complaints__age_thresholds') }}
-- depends_on: {{ ref('int_complaints__latest') }}
-- depends_on: {{ ref('agg_resolution_monthly') }}
-- depends_on: {{ ref('fct_followup_reports') }}
with

build as (
    select * from {{ ref('int_build_window') }}
)

select
    horizon_date,
    seq_to,
    fingerprint,
    now() as built_at
from build
