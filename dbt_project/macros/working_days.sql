{#-
  Working days (docs/domain.md): Monday to Friday, minus national holidays and, unless the
  policy var `cuti_bersama_is_holiday` is false, cuti bersama. A duration counts the
  working days strictly after the start's WIB date up to and including the end's WIB date
  (submitted Friday, verified Monday = 1): index(end) - index(start), where the index is
  `int_working_days.working_day_index`, the running count of working days.
-#}

{#- The WIB calendar date of a timestamptz (the time zone: var `timezone`, dbt_project.yml). -#}
{% macro wib_date(ts) -%}
    (({{ ts }}) at time zone '{{ var('timezone') }}')::date
{%- endmacro %}


{#- The policy var as SQL: true when cuti bersama is a non-working day. Accepts a boolean
    or a text such as 'false' (from the command line). -#}
{% macro cuti_bersama_is_holiday() -%}
    {%- set value = var('cuti_bersama_is_holiday') -%}
    {%- if value is string -%}
        {%- set value = value | trim | lower in ['true', '1', 'yes', 'ya', 'y', 'on'] -%}
    {%- endif -%}
    {{ 'true' if value else 'false' }}
{%- endmacro %}


{#- working_day_index of a date, or null outside the calendar.
    `int_working_days` has one row per day without gaps, so the index is found by position:
    both subqueries are uncorrelated, PostgreSQL evaluates them once per query (InitPlan),
    and each row costs one array lookup instead of a join or a lookup per row. -#}
{% macro working_day_index(day) -%}
    ((select array_agg(wd.working_day_index order by wd.date_day) from {{ ref('int_working_days') }} as wd)[
        ({{ day }}) - (select min(wd.date_day) from {{ ref('int_working_days') }} as wd) + 1])
{%- endmacro %}


{#- Working days between two dates (strictly after start_day, up to and including end_day). -#}
{% macro working_days_between_dates(start_day, end_day) -%}
    ({{ working_day_index(end_day) }} - {{ working_day_index(start_day) }})
{%- endmacro %}


{#- Working days between two instants (timestamptz), by their WIB dates; null when either is null. -#}
{% macro working_days_between(start_ts, end_ts) -%}
    {{ working_days_between_dates(wib_date(start_ts), wib_date(end_ts)) }}
{%- endmacro %}
