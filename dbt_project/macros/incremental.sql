{#-
  Incremental models rebuild only the complaints in int_changed_complaints (see
  int_build_window): the pre-hook deletes their rows, the model selects their new rows, and
  dbt appends them. On a first build or --full-refresh, the model is built whole.
-#}

{#- Pre-hook of a model keyed by tracking id: delete the changed complaints' rows (all rows
    when the build window rebuilds everything). -#}
{% macro delete_changed_complaints() -%}
    {%- if is_incremental() and not build_is_full() -%}
    delete from {{ this }}
    where {{ changed_complaint('tracking_id') }}
    {%- elif is_incremental() -%}
    delete from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- A where-condition that keeps the changed complaints' rows in an incremental run. -#}
{% macro only_changed_complaints(column) -%}
    {%- if is_incremental() and not build_is_full() -%}
    {{ changed_complaint(column) }}
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- The same for a table model that builds the window's complaints every run
    (int_complaint_status_intervals__changed): all of them on a full rebuild. -#}
{% macro only_window_complaints(column) -%}
    {%- if build_is_full() -%}
    true
    {%- else -%}
    {{ changed_complaint(column) }}
    {%- endif -%}
{%- endmacro %}

{#- `column` is the tracking id of a complaint in int_changed_complaints. Written as
    `= any(array(...))`, one index scan for all the changed ids: with `in (select ...)`
    PostgreSQL chose, on most nights, to read every stored row of a 10-million-row table
    (its estimate of the rows per id is poor on freshly built tables). Only for a run that
    is not a full rebuild (build_is_full()): the array then holds the night's changes. -#}
{% macro changed_complaint(column) -%}
    {{ column }} = any(array(select tracking_id from {{ ref('int_changed_complaints') }}))
{%- endmacro %}

{#- Whether this build rebuilds everything (int_build_window.is_full), read when the model
    runs; true before the window exists and while dbt only parses the project. -#}
{% macro build_is_full() -%}
    {%- if not execute -%}
        {%- do return(true) -%}
    {%- endif -%}
    {%- set window = stored_relation('int_build_window') -%}
    {%- if window is none -%}
        {%- do return(true) -%}
    {%- endif -%}
    {%- set is_full = run_query('select is_full from ' ~ window).columns[0].values() -%}
    {%- do return(is_full | length == 0 or is_full[0]) -%}
{%- endmacro %}

{#- Pre-hook of fct_backlog_daily: delete each changed agency's days from changed_from on,
    and the days an agency no longer has (int_agency_days). Two statements, each a join
    (an OR of correlated subqueries would probe int_agency_days once per stored row). -#}
{% macro delete_changed_agency_days() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as backlog
    using {{ ref('int_agency_backlog_changes') }} as changes
    where changes.agency_code = backlog.agency_code
        and backlog.as_of_date >= changes.changed_from;
    delete from {{ this }} as backlog
    where not exists (
        select 1 from {{ ref('int_agency_days') }} as agency_days
        where agency_days.agency_code = backlog.agency_code
            and agency_days.as_of_date = backlog.as_of_date
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The first day agency_scorecard rebuilds (every agency, for the ranks): the earliest
    changed_from of int_agency_backlog_changes, or the first day of fct_backlog_daily the
    scorecard does not hold yet. Null = nothing to rebuild. -#}
{% macro scorecard_rebuild_from() -%}
    least(
        (select min(changed_from) from {{ ref('int_agency_backlog_changes') }}),
        (
            select min(backlog.as_of_date)
            from {{ ref('fct_backlog_daily') }} as backlog
            where not exists (
                select 1 from {{ this }} as scorecard
                where scorecard.agency_code = backlog.agency_code
                    and scorecard.as_of_date = backlog.as_of_date
            )
        ),
        (
            -- a follow-up report written since the last build changes its month's status
            -- from the month's due date on
            select min(reports.due_date)
            from {{ ref('fct_followup_reports') }} as reports
            inner join {{ ref('stg_raw__followup_reports') }} as written
                on reports.agency_code = written.agency_code
                and reports.period = written.period
            cross join {{ ref('int_build_window') }} as build
            where written.load_seq > build.previous_seq
        )
    )
{%- endmacro %}

{#- Pre-hook of agency_scorecard: delete the days from scorecard_rebuild_from() on, and the
    rows fct_backlog_daily no longer has (two statements, as above). -#}
{% macro delete_changed_scorecard_days() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as scorecard
    where scorecard.as_of_date >= {{ scorecard_rebuild_from() }};
    delete from {{ this }} as scorecard
    where not exists (
        select 1 from {{ ref('fct_backlog_daily') }} as backlog
        where backlog.agency_code = scorecard.agency_code
            and backlog.as_of_date = scorecard.as_of_date
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of agg_resolution_monthly: delete the groups int_resolution_month_changes names. -#}
{% macro delete_changed_resolution_months() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as resolution
    using {{ ref('int_resolution_month_changes') }} as changes
    where resolution.agency_code = changes.agency_code
        and resolution.month = changes.month
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The relation of a source of models/intermediate/_previous_build.yml (a model's table as
    the previous build left it) as it is stored, None if it does not exist yet (a first
    build). The caller names it with source() outside any `if execute`, so the read shows in
    the lineage. -#}
{% macro stored(relation) -%}
    {%- do return(adapter.get_relation(relation.database, relation.schema, relation.identifier)) -%}
{%- endmacro %}

{#- The table of a model built earlier in this run (int_build_window, the night's changes),
    looked up without ref() where a macro needs it: build_is_full() and the scoped tests.
    None if not built yet. -#}
{% macro stored_relation(model_name) -%}
    {%- set node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
                   | selectattr('name', 'equalto', model_name) | first -%}
    {%- do return(adapter.get_relation(node.database, node.schema, node.alias)) -%}
{%- endmacro %}

{#- Post-hook of every table and incremental model: fresh statistics at once, before the
    next model reads it. Without them PostgreSQL plans the next models on a guess (a
    one-row int_build_window taken for 690 rows, 106 thousand changed complaints for a
    million) and reads whole tables where an index would do. -#}
{% macro analyze_table() -%}
    {%- if config.get('materialized') in ['table', 'incremental'] -%}
    analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
