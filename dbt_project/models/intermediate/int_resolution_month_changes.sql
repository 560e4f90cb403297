-- The (agency, month of closing) groups of agg_resolution_monthly this run recomputes: where
-- a changed complaint was counted before (the stored fct_complaints, read before it is
-- updated) and where it counts now (int_complaints__latest); every group on a full rebuild.
-- depends_on: {{ ref('int_changed_complaints') }}
{%- set complaints = none -%}
{%- if execute -%}
    {%- set complaints = stored_relation('fct_complaints') -%}
{%- endif %}

with

build as (
    select * from {{ ref('int_build_window') }}
),

now_counted as (
    select agency_code, date_trunc('month', closed_on)::date as month
    from {{ ref('int_complaints__latest') }}
    where status = 'completed'
        and closed_at is not null
        and (
            (select is_full from build)
            or tracking_id in (select tracking_id from {{ ref('int_changed_complaints') }})
        )
),

counted_before as (
    {%- if complaints is not none %}
    select agency_code, date_trunc('month', closed_on)::date as month
    from {{ complaints }}
    where status = 'completed'
        and closed_at is not null
        and not (select is_full from build)
        and tracking_id in (select tracking_id from {{ ref('int_changed_complaints') }})
    {%- else %}
    select * from now_counted where false
    {%- endif %}
)

select agency_code, month from now_counted
union
select agency_code, month from counted_before
