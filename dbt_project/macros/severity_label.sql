{#- A severity's name in Bahasa Indonesia: the label_id of its row in seeds/severities.csv
    (the e-mails and the report read the same row through lapor.vocabulary); the code itself
    for a severity the seed does not know. -#}
{% macro severity_label(column) -%}
    coalesce(
        (select s.label_id from {{ ref('severities') }} s where s.severity = {{ column }}),
        {{ column }}
    )
{%- endmacro %}
