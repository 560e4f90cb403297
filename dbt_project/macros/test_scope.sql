{#-
  Data tests on the incremental models check the rows this run built, not the whole
  history again (dbt's get_where_subquery, which every generic test selects its rows
  through, is overridden here). A model says which rows in its config, `meta.test_scope`
  (beside the tag `incremental`):
    * changed_complaints (int_complaints__latest, fct_complaints, ...): the complaints in
      int_changed_complaints;
    * changed_agency_days (fct_backlog_daily): each agency's days from
      int_agency_backlog_changes.changed_from on;
    * changed_days (agency_scorecard): the days from the earliest changed_from on (it
      rebuilds from there or earlier);
    * changed_resolution_months (agg_resolution_monthly): the groups in
      int_resolution_month_changes;
    * new_batches (stg_raw__complaints): the export batches written since the last
      finished build.
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

{#- The test scope (meta.test_scope) of the model stored as `relation`, '' if none. -#}
{% macro model_test_scope(relation) -%}
    {%- set name = relation.identifier if relation.identifier is defined else none -%}
    {%- set schema = relation.schema if relation.schema is defined else none -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
            and node.alias == name and node.schema == schema -%}
        {%- do return(node.config.meta.get('test_scope', '')) -%}
    {%- endfor -%}
    {%- do return('') -%}
{%- endmacro %}

{% macro lapor_test_scope(relation) -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set scope = model_test_scope(relation) -%}
    {%- if not scope -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- if scope == 'new_batches' -%}
        {%- set state = stored_relation('int_build_state') -%}
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
    {%- if scope == 'changed_complaints' -%}
        {%- do return("scoped.tracking_id = any(array(select tracking_id from "
                      ~ stored_relation('int_changed_complaints') ~ "))") -%}
    {%- endif -%}
    {%- if scope == 'changed_resolution_months' -%}
        {%- do return("(scoped.agency_code, scoped.month) in (select agency_code, month from "
                      ~ stored_relation('int_resolution_month_changes') ~ ")") -%}
    {%- endif -%}
    {%- set changes = stored_relation('int_agency_backlog_changes') -%}
    {%- if scope == 'changed_agency_days' -%}
        {%- do return("exists (select 1 from " ~ changes ~ " as changes where changes.agency_code = scoped.agency_code"
                      ~ " and scoped.as_of_date >= changes.changed_from)") -%}
    {%- endif -%}
    {%- if scope == 'changed_days' -%}
        {%- do return("scoped.as_of_date >= (select coalesce(min(changed_from), 'infinity'::date) from " ~ changes ~ ")") -%}
    {%- endif -%}
    {%- do exceptions.raise_compiler_error("unknown meta.test_scope '" ~ scope ~ "' of " ~ relation) -%}
{%- endmacro %}
