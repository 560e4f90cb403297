-- The days the daily marts cover: for each agency with complaints, every day from its
-- earliest complaint's submission date (WIB) to the horizon, whether or not an export
-- arrived that day.
with

horizon as (
    select horizon_date from {{ ref('int_horizon') }}
),

complaints as (
    select agency_code, submitted_on from {{ ref('int_complaints__latest') }}
),

calendar as (
    select date_day from {{ ref('int_working_days') }}
),

agencies as (
    select agency_code, min(submitted_on) as first_day
    from complaints
    group by agency_code
)

select
    agencies.agency_code,
    calendar.date_day as as_of_date
from agencies
inner join calendar
    on calendar.date_day >= agencies.first_day
    and calendar.date_day <= (select horizon_date from horizon)
