{#-
  Data tests on the incremental models check the rows this run built, not the whole
  history again (dbt's get_where_subquery, which every generic test selects its rows
  through, is overridden here):
    * int_complaints__latest, int_complaints__age_thresholds, fct_complaints: the
      complaints in int_changed_complaints;
    * fct_backlog_daily: each agency's days from int_agency_backlog_changes.changed_from on;
    * agency_scorecard: the days from the earliest changed_from on (it rebuilds from there
      or earlier);
    * agg_resolution_monthly: the groups in int_resolution_month_changes;
    * stg_raw__complaints: the export batches written since the last finished build.
  On a full rebuild (int_build_window.is_full, --full-refresh, or no finished build yet)
  they test everything. Unique indexes on the incremental tables keep their keys unique
  whatever a test sees. A test's own `where` config still applies.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set scope = lapor_test_scope(relation) -%}
    {%- if scope -%}
        {%- do conditions.append('(' ~ scope ~ ')') -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' as scoped where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro lapor_test_scope(relation) -%}
    {%- set name = relation.identifier if relation.identifier is defined else none -%}
    {%- set by_complaint = ['int_complaints__latest', 'int_complaints__age_thresholds', 'fct_complaints'] -%}
    {%- if not execute or flags.FULL_REFRESH or name is none
          or name not in by_complaint + ['fct_backlog_daily', 'agency_scorecard', 'agg_resolution_monthly',
                                         'stg_raw__complaints'] -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- if name == 'stg_raw__complaints' -%}
        {%- set state = adapter.get_relation(target.database, 'intermediate', 'int_build_state') -%}
        {%- if state is none -%}
            {%- do return('') -%}
        {%- endif -%}
        {#- the pairs, and each side as an array: the arrays let PostgreSQL read the batches
            through raw.complaints' (agency_code, export_day) index (see changed_complaint()) -#}
        {%- set written = "select {} from " ~ adapter.get_relation(target.database, 'raw', 'complaint_batches')
                          ~ " where coalesce(load_seq, 0) > (select seq_to from " ~ state ~ ")" -%}
        {%- do return("scoped.agency_code = any(array(" ~ written.format('agency_code') ~ "))"
                      ~ " and scoped.export_day = any(array(" ~ written.format('export_day') ~ "))"
                      ~ " and (scoped.agency_code, scoped.export_day) in (" ~ written.format('agency_code, export_day') ~ ")") -%}
    {%- endif -%}
    {%- if build_is_full() -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- if name in by_complaint -%}
        {%- do return("scoped.tracking_id = any(array(select tracking_id from "
                      ~ adapter.get_relation(target.database, 'intermediate', 'int_changed_complaints') ~ "))") -%}
    {%- endif -%}
    {%- if name == 'agg_resolution_monthly' -%}
        {%- do return("(scoped.agency_code, scoped.month) in (select agency_code, month from "
                      ~ adapter.get_relation(target.database, 'intermediate', 'int_resolution_month_changes') ~ ")") -%}
    {%- endif -%}
    {%- set changes = adapter.get_relation(target.database, 'intermediate', 'int_agency_backlog_changes') -%}
    {%- if name == 'fct_backlog_daily' -%}
        {%- do return("exists (select 1 from " ~ changes ~ " as changes where changes.agency_code = scoped.agency_code"
                      ~ " and scoped.as_of_date >= changes.changed_from)") -%}
    {%- endif -%}
    {%- do return("scoped.as_of_date >= (select coalesce(min(changed_from), 'infinity'::date) from " ~ changes ~ ")") -%}
{%- endmacro %}
