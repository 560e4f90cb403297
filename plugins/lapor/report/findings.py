"""The findings of the report as of day D: open ones with their age, those resolved on D, and
each agency's timeline (marts.fct_findings, marts.fct_finding_events; docs/checks.md, "The
life of a finding"). Read as of D, so the report of an earlier day shows that day's state."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import psycopg

EVENT_LABELS = {"opened": "dibuka", "reminded": "pengingat", "escalated": "eskalasi",
                "weekly_summary": "ringkasan mingguan", "resolved": "selesai"}


@dataclass
class ReportFinding:
    finding_id: str
    agency_code: str
    check_name: str
    check_label: str
    subject_label: str
    severity: str
    opened_on: date
    resolved_on: date | None
    working_days_open: int
    events: list[tuple[date, str]] = field(default_factory=list)   # (day, label) up to D


@dataclass
class Findings:
    open: list[ReportFinding]
    resolved_today: list[ReportFinding]
    by_agency: dict[str, list[ReportFinding]]    # every finding opened by D, newest first

    def timeline(self, agency_code: str) -> list[ReportFinding]:
        return self.by_agency.get(agency_code, [])


def load_findings(conn: psycopg.Connection, day: date, limit_per_agency: int = 20) -> Findings:
    """The findings opened on or before D; none when the marts have no findings yet."""
    if not conn.execute("select to_regclass('marts.fct_findings')").fetchone()[0]:
        return Findings([], [], {})
    rows = conn.execute(
        """select f.finding_id, f.agency_code, f.check_name, f.check_label, f.subject_label, f.severity,
                  f.opened_on, case when f.resolved_on <= %(d)s then f.resolved_on end,
                  coalesce((select d.working_day_index from marts.dim_date d
                            where d.date_day = least(coalesce(f.resolved_on, %(d)s), %(d)s))
                           - (select d.working_day_index from marts.dim_date d where d.date_day = f.opened_on), 0)
           from marts.fct_findings f
           where f.opened_on <= %(d)s
           order by f.agency_code, f.opened_on desc, f.check_name, f.subject""", {"d": day}).fetchall()
    found = [ReportFinding(*r) for r in rows]
    events: dict[str, list[tuple[date, str]]] = {}
    for finding_id, event, event_on, number in conn.execute(
            """select finding_id, event, event_on, reminder_number from marts.fct_finding_events
               where event_on <= %s order by event_on, event""", (day,)):
        label = EVENT_LABELS.get(event, event) + (f" ke-{number}" if event in ("reminded", "escalated") else "")
        events.setdefault(finding_id, []).append((event_on, label))
    by_agency: dict[str, list[ReportFinding]] = {}
    for f in found:
        f.events = events.get(f.finding_id, [])
        mine = by_agency.setdefault(f.agency_code, [])
        if len(mine) < limit_per_agency:
            mine.append(f)
    open_now = sorted((f for f in found if f.resolved_on is None),
                      key=lambda f: (-f.working_days_open, f.agency_code, f.check_name))
    resolved = [f for f in found if f.resolved_on == day]
    return Findings(open_now, resolved, by_agency)
