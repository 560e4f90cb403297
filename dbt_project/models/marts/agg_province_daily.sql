-- The agencies summed, per day (the days of agency_scorecard): this year's intake and
-- completions, the completion rate of the whole (macros/completion_rate.sql: summed counts,
-- never an average of rates) and the open complaints. The report's province figures.
-- A view: nothing to rebuild at night; read for one day at a time.
-- Its data tests check the days this run rebuilt (macros/test_scope.sql).
{{ config(materialized='view', meta={'test_scope': 'changed_days'}) }}

with

scorecard as (
    select as_of_date, received_ytd, completed_ytd, open_complaints
    from {{ ref('agency_scorecard') }}
),

summed as (
    select
        as_of_date,
        count(*)::integer as agencies,
        sum(received_ytd)::integer as received_ytd,
        sum(completed_ytd)::integer as completed_ytd,
        sum(open_complaints)::integer as open_complaints
    from scorecard
    group by as_of_date
)

select
    as_of_date,
    agencies,
    received_ytd,
    completed_ytd,
    {{ completion_rate('completed_ytd', 'received_ytd') }} as completion_rate,
    open_complaints
from summed
