-- What the GX suite marts_backlog_daily checks on fct_backlog_daily (expectations/): per agency
-- and day, how far the open complaints are from the sum of the open-status columns
-- (seeds/complaint_statuses.csv) and from the sum of the age buckets; both must be 0. The rule
-- lives here, the suite only selects the run date's rows and checks the columns.
-- A view over the mart: nothing to rebuild at night.
-- Its data tests check the agencies' days this run rebuilt (macros/test_scope.sql).
{{ config(materialized='view', meta={'test_scope': 'changed_agency_days'}) }}
{%- set statuses = open_status_codes() %}

select
    as_of_date,
    agency_code,
    open_complaints,
    open_complaints - ({{ statuses | join(' + ') }}) as status_gap,
    open_complaints - (age_0_5 + age_6_14 + age_15_60 + age_61_plus) as age_gap,
    open_from_prior_years
from {{ ref('fct_backlog_daily') }}
