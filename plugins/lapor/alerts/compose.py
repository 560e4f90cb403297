"""Builds the alert messages of a run date from the recorded check results."""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import psycopg
from jinja2 import Environment, PackageLoader, StrictUndefined

from lapor.formatting import angka, severity_rank, tanggal
from lapor.settings import Settings


@functools.cache
def _environment(kind: str = "html") -> Environment:
    """The templates' environment for one kind of part: "html" or "text".

    Autoescaping is decided per environment, not per file name: in the HTML environment
    every template and every macro it imports (`_labels.j2` too) escapes what it prints, so
    a value from an agency's file, the registry or a reason text is text in every HTML part,
    whatever template or macro it passes through. The text environment never escapes."""
    if kind not in ("html", "text"):
        raise ValueError(f"kind must be html or text, not {kind!r}")
    env = Environment(
        loader=PackageLoader("lapor.alerts", "templates"),
        autoescape=kind == "html",
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["tanggal"] = tanggal
    env.filters["angka"] = angka
    return env


def render(template: str, context: dict) -> str:
    """Render a template of lapor/alerts/templates: `*.html.j2` (or `*.html`) in the HTML
    environment (always escaped), anything else as plain text."""
    kind = "html" if template.endswith((".html.j2", ".html")) else "text"
    return _environment(kind).get_template(template).render(context)


@dataclass
class Message:
    kind: str                    # digest | agency
    recipient: str
    subject: str
    text: str
    html: str
    agency_code: str | None
    run_date: date
    key: str = field(default="")
    fingerprints: list[tuple[str, str]] = field(default_factory=list)   # (check_name, fingerprint) told
    images: tuple = ()           # lapor.alerts.chart.InlineImage the HTML part shows by Content-ID


def fingerprint(check_name: str, facts: dict) -> str:
    """What makes a finding the same finding on another day (not its growing counts)."""
    facts = facts or {}
    identity = {
        "followup_report_missing": [m.get("period") for m in facts.get("months", [])],
        "followup_report_late": [(m.get("period"), m.get("submitted_on")) for m in facts.get("months", [])],
        "followup_overdue": sorted(c.get("tracking_id") for c in facts.get("cases", [])),
        "export_missing": facts.get("export_day"),
        "export_unreadable": [facts.get("file"), facts.get("reason_code")],
        "sk_missing": [facts.get("sk_number"), facts.get("sk_date")],
        "ingest_failed": [facts.get("run_date"), facts.get("status")],
        "followup_unreadable": sorted((f.get("file"), f.get("reason_code")) for f in facts.get("files", [])),
    }.get(check_name, facts)
    raw = json.dumps([check_name, identity], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _key(run_date: date, recipient: str, kind: str, payload: object) -> str:
    raw = json.dumps([run_date.isoformat(), recipient, kind, payload], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def compose_messages(conn: psycopg.Connection, settings: Settings, run_date: date,
                     report_url: str | None = None, key_chart=None) -> list[Message]:
    """The digest (with the backlog chart, a lapor.alerts.chart.InlineImage, when given) and
    the agency messages."""
    rows = conn.execute(
        """select r.check_name, r.agency_code, a.agency_name, a.admin_email, r.severity, r.details, r.facts,
                  exists (select 1 from quality.check_results p
                          where p.check_name = r.check_name and p.agency_code = r.agency_code and not p.passed
                            and p.run_date = (select max(run_date) from quality.check_results
                                              where run_date < r.run_date)) as was_flagged
           from quality.check_results r
           join ref.agencies a using (agency_code)
           where r.run_date = %s and not r.passed
           order by r.agency_code, r.check_name""",
        (run_date,),
    ).fetchall()
    resolved = conn.execute(
        """select p.check_name, p.agency_code, a.agency_name
           from quality.check_results p join ref.agencies a using (agency_code)
           join quality.check_results r on r.check_name = p.check_name and r.agency_code = p.agency_code
                                        and r.run_date = %(d)s and r.passed
           where not p.passed and p.severity <> 'error'
             and p.run_date = (select max(run_date) from quality.check_results where run_date < %(d)s)
           order by p.agency_code, p.check_name""",
        {"d": run_date},
    ).fetchall()
    suite_failures = [{"suite": r[0], "expectation": r[1], "target": r[2]} for r in conn.execute(
        """select suite, expectation, target from quality.suite_results
           where run_date = %s and not success order by suite, expectation, target""", (run_date,))]
    # what in the drop folder was not read, or read with a doubt, on D (quality.input_warnings)
    input_warnings = [{"agency_code": r[0], "file": r[1], "reason_code": r[2], "reason": r[3]} for r in conn.execute(
        """select agency_code, file, reason_code, reason from quality.input_warnings
           where run_date = %s order by agency_code nulls first, file, reason_code""", (run_date,))]
    errors: dict[str, dict] = {}
    agencies: dict[str, dict] = {}
    for check, code, name, email, severity, details, facts, was_flagged in rows:
        if severity == "error":
            errors.setdefault(check, {"check_name": check, "details": details})
            continue
        entry = agencies.setdefault(code, {"agency_code": code, "agency_name": name, "admin_email": email,
                                           "findings": []})
        entry["findings"].append({"check_name": check, "severity": severity, "details": details,
                                  "facts": facts, "is_new": not was_flagged})
    for entry in agencies.values():
        entry["findings"].sort(key=lambda f: (severity_rank(f["severity"]), f["check_name"]))
    ordered = sorted(agencies.values(), key=lambda a: (
        min(severity_rank(f["severity"]) for f in a["findings"]), -len(a["findings"]), a["agency_code"]))
    for rank, entry in enumerate(ordered, start=1):
        entry["rank"] = rank

    messages: list[Message] = []
    if ordered or errors or suite_failures or input_warnings:
        subject = (f"[LAPOR! Jatim] Pemantauan {tanggal(run_date)}: {len(ordered)} instansi perlu ditindaklanjuti"
                   + (f", {len(errors)} pemeriksaan gagal" if errors else "")
                   + (f", {len(suite_failures)} uji kualitas data gagal" if suite_failures else "")
                   + (f", {len(input_warnings)} peringatan berkas" if input_warnings else ""))
        context = {"run_date": run_date, "agencies": ordered, "errors": list(errors.values()),
                   "suite_failures": suite_failures, "input_warnings": input_warnings,
                   "resolved": [{"check_name": c, "agency_code": a, "agency_name": n} for c, a, n in resolved],
                   "report_url": report_url, "subject": subject, "key_chart": key_chart}
        messages.append(Message(
            "digest", settings.coordinator_email, subject,
            render("digest.txt.j2", context), render("digest.html.j2", context),
            None, run_date,
            _key(run_date, settings.coordinator_email, "digest",
                 [ordered and [(a["agency_code"], [(f["check_name"], f["details"]) for f in a["findings"]])
                               for a in ordered], sorted(errors), suite_failures,
                  [(w["file"], w["reason_code"]) for w in input_warnings]]),
            images=(key_chart,) if key_chart else ()))
    for entry in ordered:
        if not entry["admin_email"]:
            continue
        # An agency hears of a finding once, then as a reminder every `reminder_days` days.
        told = []
        for f in entry["findings"]:
            f["fingerprint"] = fingerprint(f["check_name"], f["facts"])
            last = conn.execute(
                """select max(run_date) from quality.alert_findings
                   where recipient = %s and check_name = %s and fingerprint = %s and run_date < %s""",
                (entry["admin_email"], f["check_name"], f["fingerprint"], run_date)).fetchone()[0]
            if last is not None and (run_date - last).days < settings.reminder_days:
                continue
            f["is_reminder"] = last is not None
            told.append(f)
        if not told:
            continue
        subject = f"[LAPOR! Jatim] Temuan pemantauan {entry['agency_name']} – {tanggal(run_date)}"
        if all(f["is_reminder"] for f in told):
            subject = "[Pengingat] " + subject
        context = {"run_date": run_date, "agency": entry, "findings": told, "subject": subject}
        messages.append(Message(
            "agency", entry["admin_email"], subject,
            render("agency.txt.j2", context), render("agency.html.j2", context),
            entry["agency_code"], run_date,
            _key(run_date, entry["admin_email"], "agency", [(f["check_name"], f["details"]) for f in told]),
            [(f["check_name"], f["fingerprint"]) for f in told]))
    return messages
