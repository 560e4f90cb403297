"""Delivers messages once: over SMTP (`LAPOR_SMTP_URL`) or as .eml files in the outbox."""
from __future__ import annotations

import logging
import smtplib
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

from lapor.alerts.compose import Message
from lapor.registry import CONTROL, is_plain_address
from lapor.settings import Settings

log = logging.getLogger(__name__)


class AlertError(RuntimeError):
    pass


def one_line(text: str) -> str:
    """`text` with every control character and line break as a space, runs of spaces as one."""
    return " ".join(CONTROL.sub(" ", text).split())


# Headers are not folded below the RFC 5322 limit of 998 characters: Python's folding at 78
# moved a 72-character subject whole onto a continuation line ("Subject:" then " [LAPOR! ..."),
# which clients that do not unfold it show with a leading space.
MAIL_POLICY = policy.default.clone(max_line_length=998)


def to_email(message: Message, sender: str) -> EmailMessage:
    """The message as MIME. Raises AlertError for a recipient that is not one plain address
    (a header never carries a line break); the subject is put on one line."""
    if not is_plain_address(message.recipient):
        raise AlertError(f"the recipient {message.recipient!r} is not one plain e-mail address")
    email = EmailMessage(policy=MAIL_POLICY)
    email["From"] = sender
    email["To"] = message.recipient
    for copy in message.cc:
        if not is_plain_address(copy):
            raise AlertError(f"the copy recipient {copy!r} is not one plain e-mail address")
    if message.cc:
        email["Cc"] = ", ".join(message.cc)
    email["Subject"] = one_line(message.subject)
    email["Message-ID"] = f"<{message.key[:32]}@lapor-jatim>"
    email["Date"] = format_datetime(datetime.now(timezone.utc))
    email["X-Lapor-Idempotency-Key"] = message.key
    email["X-Lapor-Run-Date"] = message.run_date.isoformat()
    if message.agency_code:
        email["X-Lapor-Agency"] = message.agency_code
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    if message.images:
        html = email.get_body(("html",))
        for image in message.images:   # multipart/related: the HTML shows them by Content-ID
            html.add_related(image.png, maintype="image", subtype="png", cid=f"<{image.content_id}>",
                             disposition="inline", filename=image.content_id.split("@")[0] + ".png")
    return email


def _smtp_send(url: str, email: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise AlertError(f"LAPOR_SMTP_URL must start with smtp:// or smtps://, not {parts.scheme}://")
    options = parse_qs(parts.query)
    host, port = parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 25)
    client_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with client_class(host, port, timeout=30) as client:
        if options.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"}:
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        refused = client.send_message(email)
        if refused:                  # only when some of several recipients were refused
            raise smtplib.SMTPRecipientsRefused(refused)


def _outbox_write(outbox: Path, message: Message, email: EmailMessage) -> Path:
    folder = outbox / message.run_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{message.kind}-{(message.agency_code or 'koordinator').replace('.', '_')}-{message.key[:12]}.eml"
    path = folder / name
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(email))
    tmp.replace(path)
    return path


def _record_failure(conn: psycopg.Connection, message: Message, error: str) -> None:
    with conn.transaction():
        conn.execute(
            """insert into quality.alerts_failed (run_date, recipient, agency_code, subject, error, idempotency_key)
               values (%s, %s, %s, %s, %s, %s)""",
            (message.run_date, message.recipient.replace("\x00", "\\x00"), message.agency_code,
             message.subject.replace("\x00", "\\x00"), error, message.key))


def _describe(exc: BaseException) -> str:
    """One line (at most 500 characters) saying why a message was not sent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
                         for code, reply in exc.recipients.values())
        text = f"the SMTP server refused the recipient: {text}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return one_line(text)[:500]


def deliver(conn: psycopg.Connection, settings: Settings, messages: list[Message]) -> dict:
    """Send each message whose key was never sent; returns counts and where they went.

    A message that cannot be sent (a recipient refused, an address that is not one, the server
    gone) costs that message only: its claim is rolled back, the failure is recorded in
    `quality.alerts_failed`, every other message is still sent, and then AlertError names the
    recipients that were not reached, so the task fails and its retry sends only those."""
    sent, skipped = [], 0
    failed: list[tuple[Message, str]] = []
    transport = "smtp" if settings.smtp_url else "outbox"
    for message in messages:
        try:
            with conn.transaction():
                claimed = conn.execute(
                    """insert into quality.alerts_sent (idempotency_key, run_date, recipient, agency_code, subject,
                                                        transport)
                       values (%s, %s, %s, %s, %s, %s) on conflict (idempotency_key) do nothing returning 1""",
                    (message.key, message.run_date, message.recipient, message.agency_code, message.subject,
                     transport),
                ).fetchone()
                if not claimed:
                    skipped += 1
                    continue
                for notice in message.notices:      # what the message tells of each finding (findings.py)
                    conn.execute(
                        """insert into quality.finding_notices (finding_id, kind, seq, escalated, run_date, recipient,
                                                                 idempotency_key)
                           values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing""",
                        (*notice.identity, notice.escalated, message.run_date, message.recipient, message.key))
                # Sent inside the claim's transaction: if sending fails the claim is rolled back.
                email = to_email(message, settings.mail_from)
                if settings.smtp_url:
                    _smtp_send(settings.smtp_url, email)
                    sent.append(message.recipient)
                else:
                    sent.append(str(_outbox_write(settings.outbox_dir, message, email)))
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise                    # the warehouse itself is gone: nothing more can be claimed
        except Exception as exc:     # this message only
            error = _describe(exc)
            log.error("alerts: the %s message to %r (%s) was not sent: %s",
                      message.kind, message.recipient, message.agency_code or "koordinator", error)
            _record_failure(conn, message, error)
            failed.append((message, error))
    log.info("alerts: %d sent via %s, %d already sent before, %d failed", len(sent), transport, skipped,
             len(failed))
    if failed:
        if not conn.autocommit:
            conn.commit()            # what was sent stays claimed, what failed stays recorded
        names = "; ".join(f"{m.recipient!r} ({m.agency_code or 'koordinator'}): {error}" for m, error in failed)
        raise AlertError(f"{len(failed)} of {len(messages)} alert e-mail(s) not sent (recorded in "
                         f"quality.alerts_failed; a retry sends only these): {names}")
    return {"transport": transport, "sent": sent, "already_sent": skipped}
