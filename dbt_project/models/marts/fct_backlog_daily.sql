-- Open complaints per agency and day, by status and by age, from the status history.
-- Counted as running sums of +1/-1 changes (macro running_counts), so a complaint open for
-- a year is a handful of rows here, not 365.
-- Incremental: a run rebuilds each agency's days from int_agency_backlog_changes.changed_from
-- on (the running counts start there: an interval that began earlier counts from that day).
-- depends_on: {{ ref('int_agency_backlog_changes') }}
-- One column per open status, in the order of seeds/complaint_statuses.csv.
{%- set statuses = open_status_codes() %}
{{ config(
    materialized='incremental',
    tags=['incremental'],
    meta={'test_scope': 'changed_agency_days'},
    incremental_strategy='append',
    indexes=[{'columns': ['agency_code', 'as_of_date'], 'unique': True}, {'columns': ['as_of_date']}],
    pre_hook="{{ delete_changed_agency_days() }}",
) }}
with

agency_days as (
    select agency_days.agency_code, agency_days.as_of_date
    from {{ ref('int_agency_days') }} as agency_days
    {%- if is_incremental() %}
    inner join {{ ref('int_agency_backlog_changes') }} as changes
        on agency_days.agency_code = changes.agency_code
        and agency_days.as_of_date >= changes.changed_from
    {%- endif %}
),

open_intervals as (
    select intervals.*
    from {{ ref('int_complaint_status_intervals') }} as intervals
    {%- if is_incremental() %}
    inner join {{ ref('int_agency_backlog_changes') }} as changes
        on intervals.agency_code = changes.agency_code
        and (intervals.valid_to is null or intervals.valid_to > changes.changed_from)
    {%- endif %}
    where intervals.is_open
),

thresholds as (
    select * from {{ ref('int_complaints__age_thresholds') }}
),

pieces as (
    -- what each open interval counts towards, on the days [piece_from, piece_to): its
    -- status, and the age buckets and prior-year count for the part of it they cover
    select
        open_intervals.agency_code,
        counted.measure,
        counted.piece_from,
        counted.piece_to
    from open_intervals
    inner join thresholds
        on open_intervals.tracking_id = thresholds.tracking_id
    cross join lateral (
        values
            (open_intervals.status, open_intervals.valid_from, open_intervals.valid_to),
            ('age_0_5', open_intervals.valid_from, least(open_intervals.valid_to, thresholds.age_6_from)),
            (
                'age_6_14',
                case when thresholds.age_6_from is not null
                    then greatest(open_intervals.valid_from, thresholds.age_6_from) end,
                least(open_intervals.valid_to, thresholds.age_15_from)
            ),
            (
                'age_15_60',
                case when thresholds.age_15_from is not null
                    then greatest(open_intervals.valid_from, thresholds.age_15_from) end,
                least(open_intervals.valid_to, thresholds.age_61_from)
            ),
            (
                'age_61_plus',
                case when thresholds.age_61_from is not null
                    then greatest(open_intervals.valid_from, thresholds.age_61_from) end,
                open_intervals.valid_to
            ),
            (
                'open_from_prior_years',
                greatest(open_intervals.valid_from, thresholds.next_year_from),
                open_intervals.valid_to
            )
    ) as counted (measure, piece_from, piece_to)
),

counts as (
    {{ running_counts('pieces', 'agency_days', statuses + [
        'age_0_5', 'age_6_14', 'age_15_60', 'age_61_plus', 'open_from_prior_years'
    ]) }}
)

select
    as_of_date,
    agency_code,
    {{ statuses | join(' + ') }} as open_complaints,
    {%- for status in statuses %}
    {{ status }},
    {%- endfor %}
    age_0_5,
    age_6_14,
    age_15_60,
    age_61_plus,
    open_from_prior_years
from counts
