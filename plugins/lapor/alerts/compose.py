"""Builds the alert messages of a run date from the recorded check results."""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import psycopg
from jinja2 import Environment, PackageLoader, StrictUndefined

from lapor import vocabulary
from lapor.formatting import angka, severity_rank, tanggal
from lapor.registry import is_plain_address
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
    # a check's Bahasa name, read from the seed at each call (lapor.vocabulary, coordinator_checks.csv)
    env.globals["check_label"] = vocabulary.check_label
    # a severity's Bahasa name, likewise (severities.csv)
    env.globals["severity_label"] = vocabulary.severity_label
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
    images: tuple = ()           # lapor.alerts.chart.InlineImage the HTML part shows by Content-ID
    cc: tuple[str, ...] = ()     # an escalation: the coordinator and the agency head
    notices: list = field(default_factory=list)   # lapor.alerts.findings.Notice this message tells


def _key(run_date: date, recipient: str, kind: str, payload: object) -> str:
    raw = json.dumps([run_date.isoformat(), recipient, kind, payload], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def compose_messages(conn: psycopg.Connection, settings: Settings, run_date: date,
                     report_url: str | None = None, key_chart=None) -> list[Message]:
    """The digest (with the backlog chart, a lapor.alerts.chart.InlineImage, when given) and
    the agency messages, from the life of the findings (lapor.alerts.findings)."""
    from lapor.alerts.findings import due_notices, escalated_on, findings_around, is_open, late_without_finding

    errors: dict[str, dict] = {}
    for check, details in conn.execute(
            """select check_name, min(details) from quality.check_results
               where run_date = %s and not passed and severity = 'error' group by 1 order by 1""", (run_date,)):
        errors[check] = {"check_name": check, "details": details}
    suite_failures = [{"suite": r[0], "expectation": r[1], "target": r[2]} for r in conn.execute(
        """select suite, expectation, target from quality.suite_results
           where run_date = %s and not success order by suite, expectation, target""", (run_date,))]
    # what in the drop folder was not read, or read with a doubt, on D (quality.input_warnings)
    input_warnings = [{"agency_code": r[0], "file": r[1], "reason_code": r[2], "reason": r[3]} for r in conn.execute(
        """select agency_code, file, reason_code, reason from quality.input_warnings
           where run_date = %s order by agency_code nulls first, file, reason_code""", (run_date,))]
    contacts = {r[0]: {"admin_email": r[1], "head_email": r[2]} for r in conn.execute(
        "select agency_code, admin_email, head_email from ref.agencies")}

    found = findings_around(conn, settings, run_date)
    order = lambda f: (severity_rank(f.severity), f.agency_code, f.check_name, f.subject)   # noqa: E731
    open_now = sorted((f for f in found if is_open(f, run_date)), key=order)
    opened = [f for f in open_now if f.opened_on == run_date]
    resolved = sorted((f for f in found if f.resolved_on == run_date), key=order)
    late_only = late_without_finding(conn, run_date, found)
    notices = due_notices(conn, settings, run_date, found)
    # agencies without an address hear nothing; their notices are not recorded either
    notices = [n for n in notices if contacts.get(n.finding.agency_code, {}).get("admin_email")]
    already = escalated_on(conn, run_date)
    first_escalations = {n.finding.finding_id for n in notices
                         if n.escalated and n.seq == settings.escalation_after_reminders + 1}
    escalated = [f for f in open_now if f.finding_id in already | first_escalations]

    messages: list[Message] = []
    if open_now or resolved or late_only or errors or suite_failures or input_warnings:
        counts = [f"{len(opened)} temuan baru" if opened else "",
                  f"{len(escalated)} eskalasi" if escalated else "",
                  f"{len(errors)} pemeriksaan gagal" if errors else "",
                  f"{len(suite_failures)} uji kualitas data gagal" if suite_failures else "",
                  f"{len(input_warnings)} peringatan berkas" if input_warnings else ""]
        counts = [c for c in counts if c]
        subject = (f"[LAPOR! Jatim] Pemantauan {tanggal(run_date)}: "
                   + (", ".join(counts) if counts else "tidak ada temuan baru")
                   + f" ({len(open_now)} temuan terbuka)")
        context = {"run_date": run_date, "errors": list(errors.values()), "suite_failures": suite_failures,
                   "input_warnings": input_warnings, "report_url": report_url, "subject": subject,
                   "key_chart": key_chart,
                   "opened": [f.as_context() for f in opened],
                   "resolved": [f.as_context() for f in resolved] + late_only,
                   "escalated": [f.as_context() for f in escalated],
                   "open_findings": [f.as_context() for f in open_now],
                   "open_agencies": len({f.agency_code for f in open_now})}
        messages.append(Message(
            "digest", settings.coordinator_email, subject,
            render("digest.txt.j2", context), render("digest.html.j2", context),
            None, run_date,
            _key(run_date, settings.coordinator_email, "digest",
                 [[f.finding_id for f in opened], [f.finding_id for f in resolved],
                  [(r["agency_code"], r["resolution"].get("period")) for r in late_only],
                  [f.finding_id for f in escalated], [f.finding_id for f in open_now], sorted(errors),
                  suite_failures, [(w["file"], w["reason_code"]) for w in input_warnings]]),
            images=(key_chart,) if key_chart else ()))

    by_agency: dict[str, list] = {}
    for notice in notices:
        by_agency.setdefault(notice.finding.agency_code, []).append(notice)
    for code in sorted(by_agency):
        mine = sorted(by_agency[code], key=lambda n: order(n.finding))
        recipient = contacts[code]["admin_email"]
        name = mine[0].finding.agency_name
        kinds = {("escalation" if n.escalated else n.kind) for n in mine}
        cc: tuple[str, ...] = ()
        if "escalation" in kinds:
            subject = f"[LAPOR! Jatim] ESKALASI: temuan {name} belum diselesaikan – {tanggal(run_date)}"
            head = contacts[code]["head_email"]
            cc = tuple(a for a in dict.fromkeys([settings.coordinator_email, head])
                       if a and is_plain_address(a) and a != recipient)
        elif "reminder" in kinds:
            subject = f"[Pengingat] [LAPOR! Jatim] Temuan pemantauan {name} – {tanggal(run_date)}"
        elif "opened" in kinds:
            subject = f"[LAPOR! Jatim] Temuan pemantauan {name} – {tanggal(run_date)}"
        elif "weekly" in kinds:
            subject = f"[LAPOR! Jatim] Ringkasan mingguan {name} – {tanggal(run_date)}"
        else:
            subject = f"[LAPOR! Jatim] Terima kasih: temuan {name} sudah selesai – {tanggal(run_date)}"

        def part(kind: str, escalated: bool = False) -> list[dict]:
            return [dict(n.finding.as_context(), seq=n.seq) for n in mine
                    if n.kind == kind and n.escalated == escalated]

        context = {"run_date": run_date, "agency": {"agency_code": code, "agency_name": name},
                   "subject": subject, "escalations": part("reminder", True), "opened": part("opened"),
                   "reminders": part("reminder"), "weekly": part("weekly"), "resolved": part("resolved"),
                   "reminder_days": settings.reminder_days, "cc": cc}
        messages.append(Message(
            "agency", recipient, subject,
            render("agency.txt.j2", context), render("agency.html.j2", context),
            code, run_date,
            _key(run_date, recipient, "agency", sorted(n.identity for n in mine)),
            cc=cc, notices=mine))
    return messages
