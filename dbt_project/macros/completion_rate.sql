{#-
  The completion rate (docs/domain.md, "Complaint lifecycle"), defined once: of the complaints
  received, the share completed, as a percentage with two decimals; empty when nothing was
  received. agency_scorecard (per agency and day) and agg_province_daily (the agencies summed)
  use it; the metric completion_rate (_metrics.yml) is the same formula over the scorecard's
  counts, unrounded (tests/test_report.py compares them).
-#}

{#- completed / received as a fraction (numeric), null when nothing was received. -#}
{% macro completion_ratio(completed, received) -%}
    ({{ completed }})::numeric / nullif({{ received }}, 0)
{%- endmacro %}


{#- 100 x completed / received, rounded to two decimals. -#}
{% macro completion_rate(completed, received) -%}
    round(100 * ({{ completion_ratio(completed, received) }}), 2)
{%- endmacro %}
