{#-
  Daily counts from intervals, without expanding every complaint to every day.

  `pieces` is a relation of (agency_code, measure, piece_from, piece_to): something that
  counts towards `measure` on the days piece_from <= day < piece_to (piece_to null = still
  counting; piece_from null or piece_from >= piece_to = never). Each piece becomes +1 on
  piece_from and -1 on piece_to; the running sum of those changes over an agency's days
  (`agency_days`: agency_code, as_of_date, one row per day without gaps) is the count on
  each day. Changes before an agency's first day count on that day.

  `pieces` is read once (so PostgreSQL streams it instead of materialising it), and the
  changes are summed per agency, measure and day before they are pivoted and summed up.

  Returns a select of agency_code, as_of_date and one integer column per measure.
-#}
{% macro running_counts(pieces, agency_days, measures) -%}
    select
        days.agency_code,
        days.as_of_date,
        {%- for measure in measures %}
        coalesce(sum(daily_changes.{{ measure }}) over running, 0)::integer as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ agency_days }} as days
    left join (
        select
            changes.agency_code,
            greatest(changes.change_on, first_days.first_day) as as_of_date,
            {%- for measure in measures %}
            sum(changes.change) filter (where changes.measure = '{{ measure }}') as {{ measure }}{{ ',' if not loop.last }}
            {%- endfor %}
        from (
            select
                pieces.agency_code,
                pieces.measure,
                ends.change_on,
                sum(ends.change) as change
            from {{ pieces }} as pieces
            cross join lateral (
                values (pieces.piece_from, 1), (pieces.piece_to, -1)
            ) as ends (change_on, change)
            where pieces.piece_from is not null
                and (pieces.piece_to is null or pieces.piece_from < pieces.piece_to)
                and ends.change_on is not null
            group by pieces.agency_code, pieces.measure, ends.change_on
        ) as changes
        inner join (
            select agency_code, min(as_of_date) as first_day
            from {{ agency_days }}
            group by agency_code
        ) as first_days
            on changes.agency_code = first_days.agency_code
        group by 1, 2
    ) as daily_changes
        on days.agency_code = daily_changes.agency_code
        and days.as_of_date = daily_changes.as_of_date
    window running as (
        partition by days.agency_code
        order by days.as_of_date
        rows between unbounded preceding and current row
    )
{%- endmacro %}
