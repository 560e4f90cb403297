-- agency_scorecard has exactly the agency-days of fct_backlog_daily, with the same open complaints.
select
    coalesce(backlog.agency_code, scorecard.agency_code) as agency_code,
    coalesce(backlog.as_of_date, scorecard.as_of_date) as as_of_date
from {{ ref('fct_backlog_daily') }} as backlog
full outer join {{ ref('agency_scorecard') }} as scorecard
    on backlog.agency_code = scorecard.agency_code
    and backlog.as_of_date = scorecard.as_of_date
where backlog.agency_code is null
    or scorecard.agency_code is null
    or backlog.open_complaints <> scorecard.open_complaints
