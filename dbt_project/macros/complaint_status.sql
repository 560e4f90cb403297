{#- The complaint vocabulary is the seeds' (seeds/complaint_statuses.csv, classifications.csv;
    docs/inputs.md#statuses): no list of the statuses, of the open ones or of the classifications
    is written here; the models read the seeds with ref(). -#}

{#- The open / closed statuses, as a subquery for `status in {{ open_statuses() }}`. -#}
{% macro open_statuses() -%}
    (select code from {{ ref('complaint_statuses') }} where is_open)
{%- endmacro %}

{% macro closed_statuses() -%}
    (select code from {{ ref('complaint_statuses') }} where not is_open)
{%- endmacro %}


{#- The open statuses' codes in the seed's order, as a list: the columns of fct_backlog_daily.
    Read from the built seed when dbt executes (a unit test overrides it); empty while parsing. -#}
{% macro open_status_codes() -%}
    {%- set statuses = ref('complaint_statuses') -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set result = run_query("select code from " ~ statuses ~ " where is_open order by position") -%}
    {{ return(result.columns[0].values() | list) }}
{%- endmacro %}


{#- The classification as the reader normalised it (lapor.readers.values.normalize_classification)
    when it is one of the seed's; anything else (a text the reader could not place) -> null,
    counted as pengaduan downstream. -#}
{% macro known_classification(column) -%}
    case when {{ column }} in (select code from {{ ref('classifications') }}) then {{ column }} end
{%- endmacro %}


{#- Settle limit in working days (PermenPANRB 62/2018, docs/domain.md): 5 for an aspirasi or a
    permintaan informasi, 60 for a pengaduan berkadar pengawasan, 14 for any other pengaduan;
    a missing classification counts as pengaduan. -#}
{% macro settle_limit_working_days(classification, is_supervisory) -%}
    case
        when {{ classification }} in ('aspirasi', 'permintaan_informasi') then 5
        when coalesce({{ is_supervisory }}, false) then 60
        else 14
    end
{%- endmacro %}


{#- The first month a follow-up report is expected (var followup_from, 'YYYY-MM-DD' or 'YYYY-MM'), as SQL. -#}
{% macro followup_from_month() -%}
    {%- set value = var('followup_from') | string | trim -%}
    {%- if value | length == 7 -%}{%- set value = value ~ '-01' -%}{%- endif -%}
    date_trunc('month', date '{{ value }}')::date
{%- endmacro %}
