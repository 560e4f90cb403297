-- fct_backlog_daily: the statuses (its open-status columns, seeds/complaint_statuses.csv) and
-- the age buckets each add up to the open complaints, and no count is negative (a broken
-- status history would show here first).
{%- set statuses = open_status_codes() %}
select *
from {{ ref('fct_backlog_daily') }}
where open_complaints <> {{ statuses | join(' + ') }}
    or open_complaints <> age_0_5 + age_6_14 + age_15_60 + age_61_plus
    or open_from_prior_years > open_complaints
    or least({{ statuses | join(', ') }},
             age_0_5, age_6_14, age_15_60, age_61_plus, open_from_prior_years) < 0
