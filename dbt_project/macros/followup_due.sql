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


{#- The day a dispositioned complaint stops being overdue, whether or not it ever was: its first
    follow-up or its closing, whichever came first; null while neither has happened. Written on
    fct_complaints' own columns: fct_complaint_followup_due.overdue_until is this expression, and
    followup_pending_index() indexes the same expression, so that PostgreSQL finds the
    complaints overdue on a day (the check followup_overdue) through the index. -#}
{% macro followup_pending_until() -%}
    least({{ wib_date('first_followup_at') }}, closed_on)
{%- endmacro %}


{#- Post-hook of fct_complaints: a partial index on followup_pending_until() over the
    dispositioned complaints, with statistics on the expression. Without them the check
    followup_overdue read every complaint every night (5 s of 10 million at national scale);
    with them it reads the dispositioned complaints still without follow-up (68 thousand
    there), 0.09 s. The statistics are what make PostgreSQL choose the index: without them it
    guesses that a third of the table is pending. The names carry the table's oid: a full
    refresh builds a new table beside the old one, which is dropped only after the swap, so a
    fixed name would find the old table's index and leave the new one without. -#}
{% macro followup_pending_index() -%}
do $lapor$
declare
    target regclass := to_regclass('{{ this.include(database=False) }}');
    name text := '{{ this.identifier }}_followup_pending_' || target::oid::text;
begin
    if to_regclass(format('%I.%I', '{{ this.schema }}', name)) is null then
        execute format($sql$create index %I on %s (({{ followup_pending_until() }}))
                           where dispositioned_at is not null$sql$, name, target);
        execute format($sql$create statistics if not exists %I.%I on ({{ followup_pending_until() }})
                           from %s$sql$, '{{ this.schema }}', name, target);
        execute format('analyze %s', target);
    end if;
end
$lapor$
{%- endmacro %}
