-- What this dbt run has to rebuild (the incremental models read it). One row:
--   * seq_to: the highest raw.load_seq written so far. The pre-hook takes the loader's
--     advisory lock exclusively first, so no load that drew a lower number is still
--     committing: every batch with load_seq <= seq_to is visible to this run.
--   * previous_seq / previous_horizon_date: what the last build that finished
--     (int_build_state) had included. Batches written after it, and export days that were
--     beyond its horizon, hold the complaints to rebuild (int_changed_complaints).
--   * is_full: rebuild everything instead, with the reason: a --full-refresh, a model not
--     built yet, no finished build, a build that started after it and did not finish,
--     settings / calendar / salt / model code / seeds changed since, or a horizon that moved back.
{{ config(pre_hook="select pg_advisory_xact_lock(727002)") }}

-- The incremental models are the models tagged `incremental` (the tag sits beside
-- materialized='incremental' in their config; tests/dbt/test_project_graph.py holds the two
-- together). The previous build's window and state are read as sources
-- (models/intermediate/_previous_build.yml): a ref() would be a cycle.
{%- set stored_attempt = source('previous_intermediate', 'int_build_window') -%}
{%- set stored_success = source('previous_intermediate', 'int_build_state') -%}
{%- set previous_attempt = none -%}
{%- set previous_success = none -%}
{%- set missing = [] -%}
{%- set checksums = [] -%}
{%- if execute -%}
    {%- set previous_attempt = stored(stored_attempt) -%}
    {%- set previous_success = stored(stored_success) -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id') -%}
        {%- if node.resource_type == 'seed' -%}
            {#- the vocabulary (seeds/): a changed status or classification rebuilds everything -#}
            {%- do checksums.append(node.checksum.checksum) -%}
        {%- elif node.resource_type == 'model' -%}
            {%- do checksums.append(node.checksum.checksum) -%}
            {%- if 'incremental' in node.tags
                  and adapter.get_relation(node.database, node.schema, node.alias) is none -%}
                {%- do missing.append(node.name) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

with

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

load_seqs as (
    select max(load_seq) as load_seq from {{ ref('stg_raw__complaint_batches') }}
    union all
    select max(load_seq) from {{ ref('stg_raw__followup_reports') }}
    union all
    select max(load_seq) from {{ ref('stg_raw__retracted_complaints') }}
),

calendar as (
    select md5(string_agg(calendar::text, '|' order by calendar.date_day)) as calendar_md5
    from {{ ref('stg_ref__calendar') }} as calendar
),

salt as (
    select md5(value) as salt_md5 from {{ source('ref', 'secrets') }} where name = 'reporter_salt'
),

current_build as (
    select
        (select horizon_date from horizon) as horizon_date,
        coalesce((select max(load_seq) from load_seqs), 0)::bigint as seq_to,
        md5(concat_ws('|',
            '{{ var("followup_from") }}',
            '{{ var("followup_due_working_day") }}',
            '{{ var("followup_sla_working_days") }}',
            '{{ var("cuti_bersama_is_holiday") }}',
            (select calendar_md5 from calendar),
            (select salt_md5 from salt),
            '{{ local_md5(checksums | join(",")) }}'
        )) as fingerprint
),

previous_success as (
    {%- if previous_success is not none %}
    select horizon_date, seq_to, fingerprint from {{ previous_success }}
    {%- else %}
    select null::date as horizon_date, null::bigint as seq_to, null::text as fingerprint where false
    {%- endif %}
),

previous_attempt as (
    {%- if previous_attempt is not none %}
    select horizon_date, seq_to, fingerprint from {{ previous_attempt }}
    {%- else %}
    select null::date as horizon_date, null::bigint as seq_to, null::text as fingerprint where false
    {%- endif %}
),

compared as (
    select
        current_build.*,
        previous_success.horizon_date as previous_horizon_date,
        previous_success.seq_to as previous_seq,
        case
            {%- if flags.FULL_REFRESH %}
            when true then 'full refresh requested'
            {%- endif %}
            {%- if missing %}
            when true then 'not built yet: {{ missing | join(", ") }}'
            {%- endif %}
            when previous_success.seq_to is null then 'no finished build yet'
            when previous_attempt.seq_to is distinct from previous_success.seq_to
                or previous_attempt.horizon_date is distinct from previous_success.horizon_date
                or previous_attempt.fingerprint is distinct from previous_success.fingerprint
                then 'the previous build did not finish'
            when current_build.fingerprint <> previous_success.fingerprint
                then 'settings, calendar, salt, model code or seeds changed'
            when current_build.horizon_date < previous_success.horizon_date
                then 'the horizon moved back'
        end as full_rebuild_reason
    from current_build
    left join previous_success on true
    left join previous_attempt on true
)

select
    horizon_date,
    seq_to,
    fingerprint,
    previous_horizon_date,
    previous_seq,
    full_rebuild_reason is not null as is_full,
    full_rebuild_reason
from compared
