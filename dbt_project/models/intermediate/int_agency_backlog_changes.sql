-- From which day each agency's rows of fct_backlog_daily (and so agency_scorecard) must be
-- rebuilt this run, one row per agency: the first day on which the status history of a
-- changed complaint differs from what is stored (old rows of int_complaint_status_intervals
-- against int_complaint_status_intervals__changed, before they are replaced), the first
-- day the backlog does not hold yet (a new horizon, a new first day), and, on a full
-- rebuild, -infinity for every agency.
-- A row that differs only in its end (same complaint, agency, submission day, status and
-- start) differs from the earlier of the two ends; any other differing row from its start.
-- depends_on: {{ ref('int_changed_complaints') }}
-- The previous build's tables (models/intermediate/_previous_build.yml), read before this
-- run replaces them:
{%- set stored_intervals = source('previous_intermediate', 'int_complaint_status_intervals') -%}
{%- set stored_backlog = source('previous_marts', 'fct_backlog_daily') -%}
{%- set intervals = none -%}
{%- set backlog = none -%}
{%- if execute -%}
    {%- set intervals = stored(stored_intervals) -%}
    {%- set backlog = stored(stored_backlog) -%}
{%- endif %}

with

build as (
    select * from {{ ref('int_build_window') }}
),

agency_days as (
    select agency_code, as_of_date from {{ ref('int_agency_days') }}
),

new_intervals as (
    -- (nothing to compare on a full rebuild: every day is rebuilt)
    select tracking_id, agency_code, submitted_on, status, valid_from, valid_to
    from {{ ref('int_complaint_status_intervals__changed') }}
    where not (select is_full from build)
),

old_intervals as (
    {%- if intervals is not none %}
    select tracking_id, agency_code, submitted_on, status, valid_from, valid_to
    from {{ intervals }}
    where {{ 'false' if build_is_full() else changed_complaint('tracking_id') }}
    {%- else %}
    select * from new_intervals where false
    {%- endif %}
),

old_only as (
    select * from old_intervals
    except all
    select * from new_intervals
),

new_only as (
    select * from new_intervals
    except all
    select * from old_intervals
),

sides as (
    select 'old' as side, * from old_only
    union all
    select 'new' as side, * from new_only
),

differences as (
    select
        one_side.agency_code,
        case
            when other_side.tracking_id is not null
                then least(coalesce(one_side.valid_to, 'infinity'::date), coalesce(other_side.valid_to, 'infinity'::date))
            else one_side.valid_from
        end as changed_from
    from sides as one_side
    left join sides as other_side
        on other_side.side <> one_side.side
        and one_side.tracking_id = other_side.tracking_id
        and one_side.agency_code = other_side.agency_code
        and one_side.submitted_on is not distinct from other_side.submitted_on
        and one_side.status = other_side.status
        and one_side.valid_from = other_side.valid_from
),

not_built_yet as (
    select agency_days.agency_code, min(agency_days.as_of_date) as changed_from
    from agency_days
    {%- if backlog is not none %}
    where not exists (
        select 1 from {{ backlog }} as backlog
        where backlog.agency_code = agency_days.agency_code
            and backlog.as_of_date = agency_days.as_of_date
    )
    {%- endif %}
    group by agency_days.agency_code
),

everything as (
    select distinct agency_code, '-infinity'::date as changed_from
    from agency_days
    where (select is_full from build)
),

changes as (
    select agency_code, changed_from from differences
    union all
    select agency_code, changed_from from not_built_yet
    union all
    select agency_code, changed_from from everything
)

select
    agency_code,
    min(changed_from) as changed_from
from changes
where changed_from < 'infinity'::date
group by agency_code
