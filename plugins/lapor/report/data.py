"""What the report shows, read from the warehouse (marts and quality results) for one day.

Figures are as of the report's day D, so a day re-rendered after later runs still shows D:
the scorecard and backlog rows of D, the backlog series up to D, the follow-up grid counting
only reports submitted by D, and the checks recorded for D.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg

from lapor.formatting import severity_rank

TREND_DAYS = 90
GRID_MONTHS = 12
CHANGE_WINDOWS = (30, 90)
BACKLOG_COUNTS = ("open_complaints", "unverified", "awaiting_followup", "in_progress", "postponed",
                  "age_0_5", "age_6_14", "age_15_60", "age_61_plus", "open_from_prior_years")


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
    """How a backlog figure moved over the `days` before D."""
    days: int
    since: date
    until: date
    before: int
    now: int

    @property
    def delta(self) -> int:
        return self.now - self.before

    @property
    def per_week(self) -> float:
        return 7 * self.delta / self.days


@dataclass
class Agency:
    code: str
    name: str
    agency_type: str | None
    has_sk: bool
    slug: str
    score: dict                      # agency_scorecard row of D (empty when missing)
    backlog: dict                    # fct_backlog_daily row of D (zeros when missing)
    open_series: list[int | None]    # per day of ReportData.dates; None after the warehouse's last day
    prior_series: list[int | None]   # open complaints submitted before 1 January of D's year
    prior_changes: list[Change | None]
    grid: dict[date, dict]           # period → {status, due_date, submitted_on, working_days_late}
    findings: list[dict]
    overdue: dict | None             # followup_overdue facts of D
    resolution: list[dict]

    @property
    def rank(self):
        return self.score.get("rank")

    @property
    def ages(self) -> list[int]:
        return [int(self.backlog[k] or 0) for k in BACKLOG_COUNTS[5:9]]


@dataclass
class ReportData:
    day: date
    dates: list[date]
    periods: list[date]
    agencies: list[Agency]           # in rank order (agencies without a scorecard row last)
    errors: list[dict]               # checks that could not run on D
    checks_ran: bool
    province: dict = field(default_factory=dict)

    @property
    def flagged(self) -> list[Agency]:
        """Agencies with findings on D: most severe first, then most findings, then by code."""
        return sorted((a for a in self.agencies if a.findings), key=lambda a: (
            min(severity_rank(f["severity"]) for f in a.findings), -len(a.findings), a.code))


def slug(code: str) -> str:
    return code.replace(".", "_")


def _changes(dates: list[date], series: list[int | None], day: date) -> list[Change | None]:
    by_day = dict(zip(dates, series))
    out: list[Change | None] = []
    for days in CHANGE_WINDOWS:
        since = day - timedelta(days=days)
        before, now = by_day.get(since), by_day.get(day)
        out.append(None if before is None or now is None else Change(days, since, day, before, now))
    return out


def _sum(columns) -> list[int | None]:
    return [None if any(v is None for v in col) else sum(col) for col in columns]


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
    # each month's status on D (marts.fct_followup_report_status); a missing report's working
    # days late grow with D: D's working_day_index minus the due date's
    for r in _rows(conn, """
            select s.agency_code, s.period, s.due_date, s.submitted_on, s.report_status as status,
                   coalesce(s.working_days_late, dd.working_day_index - s.due_working_day_index)::int
                       as working_days_late
            from marts.fct_followup_report_status s
            left join marts.dim_date dd on dd.date_day = %(d)s
            where s.period between %(first_period)s and %(last_period)s
              and s.valid_from <= %(d)s and (s.valid_to is null or s.valid_to > %(d)s)""", params):
        grid.setdefault(r["agency_code"], {})[r["period"]] = r

    findings: dict[str, list[dict]] = {}
    errors: dict[str, dict] = {}
    overdue: dict[str, dict] = {}
    checks = sorted(_rows(conn, """
        select r.agency_code, r.check_name, r.severity, r.details, r.facts
        from quality.check_results r
        where r.run_date = %(d)s and not r.passed""", params),
        key=lambda r: (severity_rank(r["severity"]), r["agency_code"], r["check_name"]))
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
    horizon = conn.execute("select max(as_of_date) from marts.fct_backlog_daily where as_of_date <= %(d)s",
                           params).fetchone()[0] or start - timedelta(days=1)

    out = []
    for a in agencies:
        code = a["agency_code"]
        known = series.get(code, {})
        # before an agency's first day nothing was open (0); after the warehouse's last day nothing is known (None)
        open_series = [None if d > horizon else known.get(d, (0, 0))[0] for d in dates]
        # One cohort over the whole window, even across New Year: complaints submitted before 1 January of D's
        # year. On a day of an earlier year every open complaint belongs to it.
        prior_series = [None if d > horizon else known.get(d, (0, 0))[0 if d.year < day.year else 1] for d in dates]
        out.append(Agency(
            code, a["agency_name"], a["agency_type"], a["has_sk"], slug(code), a["score"] or {},
            {**dict.fromkeys(BACKLOG_COUNTS, 0), **(a["backlog"] or {})},
            open_series, prior_series, _changes(dates, prior_series, day),
            grid.get(code, {}), findings.get(code, []), overdue.get(code), resolution.get(code, [])))

    data = ReportData(day, dates, periods, out, list(errors.values()), checks_ran)
    province = _rows(conn, "select * from marts.agg_province_daily where as_of_date = %(d)s", params)
    data.province = _province(data, province[0] if province else {})
    return data


def _province(data: ReportData, summed: dict) -> dict:
    """The 38 agencies summed: this year's figures and completion rate (marts.agg_province_daily),
    today's backlog, and its 90-day series."""
    def total(rows, key):
        return sum(int(r.get(key) or 0) for r in rows)

    scores = [a.score for a in data.agencies]
    backlogs = [a.backlog for a in data.agencies]
    rate = summed.get("completion_rate")
    open_series = _sum(zip(*(a.open_series for a in data.agencies))) or [None] * len(data.dates)
    prior_series = _sum(zip(*(a.prior_series for a in data.agencies))) or [None] * len(data.dates)
    statuses = BACKLOG_COUNTS[1:5]
    ages = BACKLOG_COUNTS[5:9]
    return {
        "has_data": any(scores),
        "received": int(summed.get("received_ytd") or 0),
        "completed": int(summed.get("completed_ytd") or 0),
        "rate": None if rate is None else float(rate),
        "open": total(backlogs, "open_complaints"),
        "prior": total(backlogs, "open_from_prior_years"),
        "statuses": {s: total(backlogs, s) for s in statuses},
        "ages": {k: total(backlogs, k) for k in ages},
        "open_series": open_series,
        "prior_series": prior_series,
        "open_changes": _changes(data.dates, open_series, data.day),
        "prior_changes": _changes(data.dates, prior_series, data.day),
        "overdue_total": sum(int(a.overdue["count"]) for a in data.agencies if a.overdue),
        "overdue_agencies": sum(1 for a in data.agencies if a.overdue),
        "missing_reports": [(a, p) for a in data.agencies for p, cell in sorted(a.grid.items())
                            if cell["status"] == "missing"],
    }
