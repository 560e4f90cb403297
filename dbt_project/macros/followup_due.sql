{#-
  The follow-up limit (docs/domain.md, "Service levels"), defined once: an agency's first
  follow-up is due within var followup_sla_working_days (LAPOR_FOLLOWUP_SLA_WORKING_DAYS)
  working days after the disposition day. fct_complaints.followup_sla_breached and
  fct_complaint_followup_due (overdue as of a day, which the check followup_overdue selects)
  only compare a day with followup_late_from.
-#}

{#- The date of the working day with the given working_day_index (int_working_days), or null
    outside the calendar. Working days carry the indexes 1, 2, 3, ... without gaps, so the
    date is found by position in one array, built once per query (InitPlan). -#}
{% macro working_day_by_index(index) -%}
    ((select array_agg(wd.date_day order by wd.date_day) from {{ ref('int_working_days') }} as wd
      where wd.is_working_day)[({{ index }})])
{%- endmacro %}


{#- The follow-up limit in working days, as SQL. -#}
{% macro followup_limit_working_days() -%}
    ({{ var('followup_sla_working_days') }})::integer
{%- endmacro %}


{#- The last working day on which a first follow-up is on time: the limit-th working day
    after the disposition day (a date). -#}
{% macro followup_due_on(disposition_day) -%}
    {{ working_day_by_index(working_day_index(disposition_day) ~ ' + ' ~ followup_limit_working_days()) }}
{%- endmacro %}


{#- The first day on which the follow-up is late: the working day after followup_due_on. A
    follow-up on a day d is late when d >= this day (more than the limit of working days
    after disposition, counted as in working_days_between); with no follow-up, the complaint
    is overdue from this day on. -#}
{% macro followup_late_from(disposition_day) -%}
    {{ working_day_by_index(working_day_index(disposition_day) ~ ' + ' ~ followup_limit_working_days() ~ ' + 1') }}
{%- endmacro %}
