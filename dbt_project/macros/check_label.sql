{#- A check's name in Bahasa Indonesia: the label_id of its row in seeds/coordinator_checks.csv
    (the e-mails read the same row through lapor.vocabulary); the name itself for a check the
    seed does not know. -#}
{% macro check_label(column) -%}
    coalesce(
        (select c.label_id from {{ ref('coordinator_checks') }} c where c.check_name = {{ column }}),
        {{ column }}
    )
{%- endmacro %}
