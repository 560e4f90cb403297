"""What the report shows, read from the warehouse (marts and quality results) for one day.

Figures are as of the report's day D, so a day re-rendered later shows what D showed: the
follow-up grid counts only submissions made by D, the backlog series ends at D.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg

TREND_DAYS = 90
GRID_MONTHS = 12
CHANGE_WINDOWS = (30, 90)


def _rows(conn: psycopg.Connection, sql: str, params: dict) -> list[dict]:
    cur = conn.execute(sql, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class Change:
    """How a backlog figure moved since an earlier day (clipped to 1 January for prior-year figures)."""
    days: int
    since: date
    before: int
    now: int
    clipped: bool

    @property
    def delta(self) -> int:
        return self.now - self.before

    @property
    def per_week(self) -> float:
        span = (self.delta and (self.now_day - self.since).days) or 0
        return 7 * self.delta / span if span else 0.0

    now_day: date = field(default=date.min)


@dataclass
class Agency:
    code: str
    name: str
    agency_type: str | None
    has_sk: bool
    slug: str
    score: dict                      # agency_scorecard row of D (empty when missing)
    backlog: dict                    # fct_backlog_daily row of D (empty when missing)
    open_series: list[int]
    prior_series: list[int]
    prior_changes: list[Change]
    grid: dict[date, dict]           # period → {status, due_date, submitted_on, working_days_late}
    findings: list[dict]
    overdue: dict | None             # followup_overdue facts of D
    resolution: list[dict]

    @property
    def rank(self):
        return self.score.get("rank")


@dataclass
class ReportData:
    day: date
    dates: list[date]
    periods: list[date]
    agencies: list[Agency]           # in rank order (agencies without a scorecard row last)
    errors: list[dict]               # checks that could not run on D
    checks_ran: bool
    province: dict = field(default_factory=dict)

    def agency(self, code: str) -> Agency:
        return next(a for a in self.agencies if a.code == code)


def slug(code: str) -> str:
    return code.replace(".", "_")


def _changes(dates: list[date], series: list[int], day: date, clip_to_year: bool) -> list[Change]:
    out = []
    by_day = dict(zip(dates, series))
    for days in CHANGE_WINDOWS:
        since = day - timedelta(days=days)
        clipped = clip_to_year and since < date(day.year, 1, 1)
        if clipped:
            since = date(day.year, 1, 1)
        out.append(Change(days, since, by_day.get(since, 0), series[-1] if series else 0, clipped, now_day=day))
    return out


def load(conn: psycopg.Connection, day: date) -> ReportData:
    start = day - timedelta(days=TREND_DAYS)
    dates = [start + timedelta(days=i) for i in range(TREND_DAYS + 1)]
    last_period = add_months(month_start(day + timedelta(days=1)), -1)
    periods = [add_months(last_period, -i) for i in range(GRID_MONTHS - 1, -1, -1)]
    params = {"d": day, "start": start, "first_period": periods[0], "last_period": last_period,
              "resolution_from": add_months(month_start(day), -(GRID_MONTHS - 1))}

    agencies = _rows(conn, """
        select a.agency_code, a.agency_name, a.agency_type, a.has_sk, to_jsonb(s) as score, to_jsonb(b) as backlog
        from marts.dim_agency a
        left join marts.agency_scorecard s on s.agency_code = a.agency_code and s.as_of_date = %(d)s
        left join marts.fct_backlog_daily b on b.agency_code = a.agency_code and b.as_of_date = %(d)s
        order by s.rank nulls last, a.agency_code""", params)
    series: dict[str, dict[date, tuple[int, int]]] = {}
    for r in _rows(conn, """
            select agency_code, as_of_date, open_complaints, open_from_prior_years
            from marts.fct_backlog_daily where as_of_date between %(start)s and %(d)s""", params):
        series.setdefault(r["agency_code"], {})[r["as_of_date"]] = (r["open_complaints"], r["open_from_prior_years"])

    grid: dict[str, dict[date, dict]] = {}
    for r in _rows(conn, """
            select f.agency_code, f.period, f.due_date, f.submitted_on,
                   case when f.submitted_on <= %(d)s and f.submitted_on <= f.due_date then 'on_time'
                        when f.submitted_on <= %(d)s then 'late'
                        when %(d)s > f.due_date then 'missing'
                        else 'not_due' end as status,
                   (select count(*) from marts.dim_date dd
                    where dd.is_working_day and dd.date_day > f.due_date
                      and dd.date_day <= least(coalesce(f.submitted_on, %(d)s), %(d)s))::int as working_days_late
            from marts.fct_followup_reports f
            where f.period between %(first_period)s and %(last_period)s""", params):
        if r["submitted_on"] and r["submitted_on"] > day:
            r["submitted_on"] = None
        grid.setdefault(r["agency_code"], {})[r["period"]] = r

    findings: dict[str, list[dict]] = {}
    errors: dict[str, dict] = {}
    overdue: dict[str, dict] = {}
    checks = _rows(conn, """
        select r.agency_code, r.check_name, r.severity, r.details, r.facts
        from quality.check_results r
        where r.run_date = %(d)s and not r.passed
        order by case r.severity when 'error' then 0 when 'high' then 1 when 'medium' then 2 else 3 end,
                 r.agency_code, r.check_name""", params)
    checks_ran = bool(conn.execute("select exists (select 1 from quality.check_results where run_date = %(d)s)",
                                   params).fetchone()[0])
    for f in checks:
        if f["severity"] == "error":
            errors.setdefault(f["check_name"], f)
            continue
        findings.setdefault(f["agency_code"], []).append(f)
        if f["check_name"] == "followup_overdue":
            overdue[f["agency_code"]] = f["facts"]

    resolution: dict[str, list[dict]] = {}
    for r in _rows(conn, """
            select * from marts.agg_resolution_monthly
            where month between %(resolution_from)s and %(d)s order by agency_code, month""", params):
        resolution.setdefault(r["agency_code"], []).append(r)

    out = []
    for a in agencies:
        code = a["agency_code"]
        known = series.get(code, {})
        open_series = [known.get(d, (0, 0))[0] for d in dates]
        prior_series = [known.get(d, (0, 0))[1] for d in dates]
        out.append(Agency(
            code, a["agency_name"], a["agency_type"], a["has_sk"], slug(code), a["score"] or {}, a["backlog"] or {},
            open_series, prior_series, _changes(dates, prior_series, day, clip_to_year=True),
            grid.get(code, {}), findings.get(code, []), overdue.get(code), resolution.get(code, [])))

    data = ReportData(day, dates, periods, out, list(errors.values()), checks_ran)
    data.province = _province(data)
    return data


def _province(data: ReportData) -> dict:
    """The 38 agencies summed: this year's figures, today's backlog, and its 90-day series."""
    def total(rows, key):
        return sum(int(r.get(key) or 0) for r in rows)

    scores = [a.score for a in data.agencies]
    backlogs = [a.backlog for a in data.agencies]
    received, completed = total(scores, "received_ytd"), total(scores, "completed_ytd")
    open_series = [sum(col) for col in zip(*(a.open_series for a in data.agencies))] or [0]
    prior_series = [sum(col) for col in zip(*(a.prior_series for a in data.agencies))] or [0]
    statuses = ("unverified", "awaiting_followup", "in_progress", "postponed")
    ages = ("age_0_5", "age_6_14", "age_15_60", "age_61_plus")
    return {
        "has_data": any(scores),
        "received": received,
        "completed": completed,
        "rate": 100.0 * completed / received if received else None,
        "open": total(backlogs, "open_complaints"),
        "prior": total(backlogs, "open_from_prior_years"),
        "statuses": {s: total(backlogs, s) for s in statuses},
        "ages": {k: total(backlogs, k) for k in ages},
        "open_series": open_series,
        "prior_series": prior_series,
        "open_changes": _changes(data.dates, open_series, data.day, clip_to_year=False),
        "prior_changes": _changes(data.dates, prior_series, data.day, clip_to_year=True),
        "overdue_total": sum(int(a.overdue["count"]) for a in data.agencies if a.overdue),
        "overdue_agencies": sum(1 for a in data.agencies if a.overdue),
        "missing_reports": [(a, p) for a in data.agencies for p, cell in sorted(a.grid.items())
                            if cell["status"] == "missing"],
    }
