"""The coordinator's "run incomplete" notice: sent instead of the daily digest when the marts
of the run date D were not completely built (see `lapor.run_status`).

It says what did not finish and why (as recorded), what it means (no digest and no agency
e-mail for D, the report marked incomplete) and what to do (fix the cause, then
`lapor run --date D`; the normal e-mails then go out once). Agencies are never told.

Its idempotency key is D, the coordinator and the attempt of the night (when `prepare`
started it), so a retried alert task sends nothing new, and each failed night sends one notice.
The reason text may hold anything (a dbt error quoting a model, a registry value): the HTML
part is rendered with autoescape on, the plain-text part is plain text.
"""
from __future__ import annotations

import hashlib
import json

from jinja2 import Environment, PackageLoader, StrictUndefined

from lapor.alerts.compose import Message
from lapor.formatting import tanggal
from lapor.run_status import RunStatus
from lapor.settings import Settings

KIND = "incomplete"
STEP_LABELS = {
    "prepare": "persiapan (gudang data, kalender kerja dan daftar instansi)",
    "transform": "pembangunan data mart (dbt build)",
}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("lapor.alerts", "templates"),
        # Everything in an .html.j2 is escaped, the reason text above all; the .txt.j2 is plain text.
        autoescape=lambda name: name is None or not name.endswith(".txt.j2"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["tanggal"] = tanggal
    return env


def notice_key(status: RunStatus, recipient: str) -> str:
    raw = json.dumps([status.run_date.isoformat(), recipient, KIND, status.started_at.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()


def compose_incomplete_notice(settings: Settings, status: RunStatus, report_url: str | None = None) -> Message:
    """The notice for D's incomplete night, to the coordinator."""
    day = status.run_date
    subject = (f"[LAPOR! Jatim] PROSES TIDAK LENGKAP {tanggal(day)}: "
               "ringkasan harian dan e-mail instansi tidak dikirim")
    context = {
        "run_date": day,
        "subject": subject,
        "step": status.step,
        "step_label": STEP_LABELS.get(status.step, status.step),
        "reason": status.error,
        "rerun": f"lapor run --date {day.isoformat()}",
        "report_url": report_url,
        "log_file": str(settings.logs_dir / "lapor.log"),
    }
    env = _environment()
    return Message(
        KIND, settings.coordinator_email, subject,
        env.get_template("incomplete.txt.j2").render(context),
        env.get_template("incomplete.html.j2").render(context),
        None, day, notice_key(status, settings.coordinator_email))
