-- The working-day macros find a day's index by its position in int_working_days:
-- that needs exactly one row per day between the first and the last.
select count(*) as days, min(date_day) as first_day, max(date_day) as last_day
from {{ ref('int_working_days') }}
having count(*) <> max(date_day) - min(date_day) + 1
