{#- Open and closed statuses (docs/domain.md). -#}
{% macro open_statuses() -%}
    ('unverified', 'awaiting_followup', 'in_progress', 'postponed')
{%- endmacro %}

{% macro closed_statuses() -%}
    ('completed', 'archived')
{%- endmacro %}


{#- Classification as exported (any case, spaces or underscores) -> pengaduan | aspirasi |
    permintaan_informasi; empty or unrecognised -> null (counted as pengaduan downstream). -#}
{% macro normalize_classification(column) -%}
    case
        when lower({{ column }}) like '%aspirasi%' then 'aspirasi'
        when lower({{ column }}) like '%informasi%' then 'permintaan_informasi'
        when lower({{ column }}) like '%pengaduan%' then 'pengaduan'
    end
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
    {%- set value = var('followup_from', '2020-01-01') | string | trim -%}
    {%- if value | length == 7 -%}{%- set value = value ~ '-01' -%}{%- endif -%}
    date_trunc('month', date '{{ value }}')::date
{%- endmacro %}
