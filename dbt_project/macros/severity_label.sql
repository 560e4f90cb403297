{#- A severity's name in Bahasa Indonesia: the label_id of its row in seeds/severities.csv
    (the e-mails and the report read the same row through lapor.vocabulary); the code itself
    for a severity the seed does not know. -#}
{% macro severity_label(column) -%}
    coalesce(
        (select s.label_id from {{ ref('severities') }} s where s.severity = {{ column }}),
        {{ column }}
    )
{%- endmacro %}

{#- A severity's place in the order findings are shown (the position of its row in
    seeds/severities.csv: error first, then high, medium, low, as the e-mails sort them); after
    every known one for a severity the seed does not know. -#}
{% macro severity_order(column) -%}
    coalesce(
        (select s.position from {{ ref('severities') }} s where s.severity = {{ column }}),
        (select max(s.position) + 1 from {{ ref('severities') }} s)
    )
{%- endmacro %}
