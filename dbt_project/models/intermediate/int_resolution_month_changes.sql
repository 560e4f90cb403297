-- The (agency, month of closing) groups of agg_resolution_monthly this run recomputes: where
-- a changed complaint was counted before (the stored fct_complaints, read before it is
-- updated) and where it counts now (int_complaints__latest); every group on a full rebuild.
-- depends_on: {{ ref('int_changed_complaints') }}
-- The previous build's fct_complaints (models/intermediate/_previous_build.yml):
{%- set stored_complaints = source('previous_marts', 'fct_complaints') -%}
{%- set complaints = none -%}
{%- if execute -%}
    {%- set complaints = stored(stored_complaints) -%}
{%- endif %}

with

now_counted as (
    select agency_code, date_trunc('month', closed_on)::date as month
    from {{ ref('int_complaints__latest') }}
    where status = 'completed'
        and closed_at is not null
        and {{ only_window_complaints('tracking_id') }}
),

counted_before as (
    {%- if complaints is not none %}
    select agency_code, date_trunc('month', closed_on)::date as month
    from {{ complaints }}
    where status = 'completed'
        and closed_at is not null
        and {{ 'false' if build_is_full() else changed_complaint('tracking_id') }}
    {%- else %}
    select * from now_counted where false
    {%- endif %}
)

select agency_code, month from now_counted
union
select agency_code, month from counted_before
