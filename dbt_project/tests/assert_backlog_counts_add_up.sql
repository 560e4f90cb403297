-- fct_backlog_daily: the statuses and the age buckets each add up to the open complaints,
-- and no count is negative (a broken status history would show here first).
select *
from {{ ref('fct_backlog_daily') }}
where open_complaints <> unverified + awaiting_followup + in_progress + postponed
    or open_complaints <> age_0_5 + age_6_14 + age_15_60 + age_61_plus
    or open_from_prior_years > open_complaints
    or least(unverified, awaiting_followup, in_progress, postponed,
             age_0_5, age_6_14, age_15_60, age_61_plus, open_from_prior_years) < 0
