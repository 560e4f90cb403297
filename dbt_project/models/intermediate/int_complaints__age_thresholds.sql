-- The days on which a complaint's age changes bucket (age = working days from its
-- submission date to the day, docs/domain.md): it is 0-5 from submission, 6-14 from
-- age_6_from, 15-60 from age_15_from, 61+ from age_61_from, and "from a prior year" from
-- 1 January after its submission. Age k is first reached on the k-th working day after
-- the submission date. Null = beyond the calendar.
-- Incremental: a run rebuilds the complaints in int_changed_complaints (macros/incremental.sql).
-- depends_on: {{ ref('int_changed_complaints') }}
{{ config(
    materialized='incremental',
    tags=['incremental'],
    meta={'test_scope': 'changed_complaints'},
    incremental_strategy='append',
    indexes=[{'columns': ['tracking_id'], 'unique': True}],
    pre_hook="{{ delete_changed_complaints() }}",
) }}
with

complaints as (
    select tracking_id, submitted_on
    from {{ ref('int_complaints__latest') }}
    where {{ only_changed_complaints('tracking_id') }}
),

calendar as (
    select date_day, is_working_day, working_day_index from {{ ref('int_working_days') }}
),

working_days as (
    select date_day, working_day_index from calendar where is_working_day
)

select
    complaints.tracking_id,
    complaints.submitted_on,
    {%- for age in [6, 15, 61] %}
    age_{{ age }}.date_day as age_{{ age }}_from,
    {%- endfor %}
    make_date(extract(year from complaints.submitted_on)::integer + 1, 1, 1) as next_year_from
from complaints
left join calendar as submitted
    on complaints.submitted_on = submitted.date_day
{%- for age in [6, 15, 61] %}
left join working_days as age_{{ age }}
    on age_{{ age }}.working_day_index = submitted.working_day_index + {{ age }}
{%- endfor %}
