"""The life of a finding, and what the mail of a run date tells of it (docs/checks.md).

A finding is one subject of one agency flagged by one check on consecutive runs of that check
(the view `quality.findings`, derived from `quality.check_results` alone). On run date D:

- a finding *opened* on D is told to the agency that night (`opened`);
- an open finding is told again once `LAPOR_REMINDER_DAYS` working days have passed since it
  opened or since the last mail about it (`reminder` 1, 2, …); the reminder after
  `LAPOR_ESCALATION_AFTER_REMINDERS` of them is an *escalation* (different wording, the
  coordinator and the agency head in copy), and so is every later one;
- `followup_overdue` (chronic by nature) gets no reminders: while it stays open it is summarised
  once a week, on `LAPOR_WEEKLY_SUMMARY_DAY` (`weekly`), and it sends no thank-you;
- a finding *resolved* on D that the agency was told about gets a short thank-you (`resolved`).

Every notice is keyed by (finding, kind, seq) in `quality.finding_notices`, written with the
message's claim: a notice already there is never composed again, so a re-run of any date sends
nothing twice. Working days are marts.dim_date's (the policy applied).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import psycopg

from lapor import vocabulary
from lapor.settings import Settings

WEEKLY_CHECKS = frozenset({"followup_overdue"})


@dataclass
class LiveFinding:
    finding_id: str
    agency_code: str
    agency_name: str
    check_name: str
    subject: str
    subject_label: str
    opened_on: date
    last_seen_on: date
    resolved_on: date | None
    severity: str
    details: str
    facts: dict
    working_days_open: int = 0
    resolution: dict = field(default_factory=dict)     # for a resolved followup_report_missing: the late report

    def as_context(self) -> dict:
        """What the templates read (`_labels.finding` takes check_name, facts, details)."""
        return {"finding_id": self.finding_id, "agency_code": self.agency_code, "agency_name": self.agency_name,
                "check_name": self.check_name, "subject": self.subject, "subject_label": self.subject_label,
                "opened_on": self.opened_on, "resolved_on": self.resolved_on, "severity": self.severity,
                "details": self.details, "facts": self.facts, "working_days_open": self.working_days_open,
                "resolution": self.resolution}


@dataclass
class Notice:
    finding: LiveFinding
    kind: str             # opened | reminder | resolved | weekly
    seq: int = 0
    escalated: bool = False

    @property
    def identity(self) -> tuple[str, str, int]:
        return (self.finding.finding_id, self.kind, self.seq)


def working_day_index(conn: psycopg.Connection, settings: Settings, days: set[date]) -> dict[date, int]:
    """Each day's position among working days: the difference of two is the working days after
    the first up to and including the second. From marts.dim_date; before its first build,
    from ref.calendar with the same policy."""
    if not days:
        return {}
    if conn.execute("select to_regclass('marts.dim_date')").fetchone()[0]:
        rows = conn.execute("select date_day, working_day_index from marts.dim_date where date_day = any(%s)",
                            (sorted(days),)).fetchall()
    else:
        rows = conn.execute(
            """select day, idx from (
                   select day, sum(case when not is_weekend and not is_public_holiday
                                             and not (is_cuti_bersama and %s) then 1 else 0 end)
                               over (order by day)::integer as idx
                   from ref.calendar) c
               where day = any(%s)""", (settings.cuti_bersama_is_holiday, sorted(days))).fetchall()
    return dict(rows)


def _subject_facts(check_name: str, subject: str, facts: dict) -> dict:
    """The facts of one subject: a missing-report finding is about one month."""
    facts = dict(facts or {})
    month = vocabulary.subject_month(check_name, subject)  # the subjects: coordinator_checks.csv
    if month is not None:
        facts["months"] = [m for m in facts.get("months", []) if str(m.get("period", ""))[:7] == month]
    return facts


def _missing_report_subject(month: dict) -> str | None:
    """The subject of the followup_report_missing finding about the month of a late report."""
    return vocabulary.finding_subject("followup_report_missing", str(month.get("period", ""))[:7])


def findings_around(conn: psycopg.Connection, settings: Settings, day: date) -> list[LiveFinding]:
    """The findings open on D or resolved on D, with their working days open as of D."""
    rows = conn.execute(
        """select f.finding_id, f.agency_code, a.agency_name, f.check_name, f.subject, f.subject_label,
                  f.opened_on, f.last_seen_on, f.resolved_on, f.severity, f.details, f.facts
           from quality.findings f join ref.agencies a using (agency_code)
           where f.opened_on <= %(d)s and (f.resolved_on is null or f.resolved_on >= %(d)s)
           order by f.agency_code, f.check_name, f.subject, f.opened_on""",
        {"d": day}).fetchall()
    found = [LiveFinding(*r[:11], _subject_facts(r[3], r[4], r[11])) for r in rows]
    index = working_day_index(conn, settings, {f.opened_on for f in found} | {day})
    for f in found:
        f.working_days_open = max(0, index.get(day, 0) - index.get(f.opened_on, 0))
    late = {}
    for code, facts in conn.execute(
            """select agency_code, facts from quality.check_results
               where run_date = %s and check_name = 'followup_report_late' and not passed""", (day,)):
        for month in (facts or {}).get("months", []):
            late[(code, _missing_report_subject(month))] = month
    for f in found:
        if f.resolved_on == day:
            f.resolution = late.get((f.agency_code, f.subject), {})
    return found


def late_without_finding(conn: psycopg.Connection, day: date, found: list[LiveFinding]) -> list[dict]:
    """The reports that arrived late on D with no missing-report finding ending that night (the
    night they were missing was never run): the digest lists them with the resolved ones."""
    ended = {(f.agency_code, f.subject) for f in found if f.resolved_on == day}
    out = []
    for code, name, facts in conn.execute(
            """select r.agency_code, a.agency_name, r.facts from quality.check_results r
               join ref.agencies a using (agency_code)
               where r.run_date = %s and r.check_name = 'followup_report_late' and not r.passed
               order by r.agency_code""", (day,)):
        for month in (facts or {}).get("months", []):
            if (code, _missing_report_subject(month)) not in ended:
                out.append({"agency_code": code, "agency_name": name, "check_name": "followup_report_missing",
                            "facts": {"months": [month]}, "resolution": month, "details": ""})
    return out


def is_open(f: LiveFinding, day: date) -> bool:
    return f.opened_on <= day and (f.resolved_on is None or f.resolved_on > day)


def due_notices(conn: psycopg.Connection, settings: Settings, day: date,
                found: list[LiveFinding]) -> list[Notice]:
    """The notices D owes the agencies and has not sent (none, on a re-run)."""
    ids = [f.finding_id for f in found]
    told: dict[str, list[tuple]] = {}
    for finding_id, kind, seq, escalated, run_date in conn.execute(
            """select finding_id, kind, seq, escalated, run_date from quality.finding_notices
               where finding_id = any(%s)""", (ids,)):
        told.setdefault(finding_id, []).append((kind, seq, escalated, run_date))
    bases = {f.opened_on for f in found} | {r[3] for notices in told.values() for r in notices} | {day}
    index = working_day_index(conn, settings, bases)
    notices: list[Notice] = []
    for f in found:
        mine = told.get(f.finding_id, [])
        sent = {(kind, seq) for kind, seq, _, _ in mine}
        if f.resolved_on == day:
            if f.check_name not in WEEKLY_CHECKS and mine and ("resolved", 0) not in sent:
                notices.append(Notice(f, "resolved"))
            continue
        if not is_open(f, day):
            continue
        if f.opened_on == day:
            if ("opened", 0) not in sent:
                notices.append(Notice(f, "opened"))
            continue
        if f.check_name in WEEKLY_CHECKS:
            if day.isoweekday() == settings.weekly_summary_day:
                year, week, _ = day.isocalendar()
                if ("weekly", year * 100 + week) not in sent:
                    notices.append(Notice(f, "weekly", year * 100 + week))
            continue
        last = max([f.opened_on] + [run_date for kind, _, _, run_date in mine if kind in ("opened", "reminder")])
        if last > day or index.get(day, 0) - index.get(last, 0) < settings.reminder_days:
            continue
        seq = 1 + sum(1 for kind, _, _, _ in mine if kind == "reminder")
        notices.append(Notice(f, "reminder", seq, escalated=seq > settings.escalation_after_reminders))
    return notices


def escalated_on(conn: psycopg.Connection, day: date) -> set[str]:
    """The findings whose first escalation was sent on D (so a re-run's digest names them too)."""
    return {r[0] for r in conn.execute(
        """select finding_id from quality.finding_notices n where escalated and run_date = %s
             and not exists (select 1 from quality.finding_notices e where e.finding_id = n.finding_id
                             and e.escalated and e.run_date < n.run_date)""", (day,))}
