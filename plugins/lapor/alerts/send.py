"""Delivers messages once: over SMTP (`LAPOR_SMTP_URL`) or as .eml files in the outbox."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

from lapor.alerts.compose import Message
from lapor.settings import Settings

log = logging.getLogger(__name__)


class AlertError(RuntimeError):
    pass


def to_email(message: Message, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = f"<{message.key[:32]}@lapor-jatim>"
    email["Date"] = format_datetime(datetime.now(timezone.utc))
    email["X-Lapor-Idempotency-Key"] = message.key
    email["X-Lapor-Run-Date"] = message.run_date.isoformat()
    if message.agency_code:
        email["X-Lapor-Agency"] = message.agency_code
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
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
        client.send_message(email)


def _outbox_write(outbox: Path, message: Message, email: EmailMessage) -> Path:
    folder = outbox / message.run_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{message.kind}-{(message.agency_code or 'koordinator').replace('.', '_')}-{message.key[:12]}.eml"
    path = folder / name
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(email))
    tmp.replace(path)
    return path


def deliver(conn: psycopg.Connection, settings: Settings, messages: list[Message]) -> dict:
    """Send each message whose key was never sent; returns counts and where they went."""
    sent, skipped = [], 0
    transport = "smtp" if settings.smtp_url else "outbox"
    for message in messages:
        with conn.transaction():
            claimed = conn.execute(
                """insert into quality.alerts_sent (idempotency_key, run_date, recipient, agency_code, subject, transport)
                   values (%s, %s, %s, %s, %s, %s) on conflict (idempotency_key) do nothing returning 1""",
                (message.key, message.run_date, message.recipient, message.agency_code, message.subject, transport),
            ).fetchone()
            if not claimed:
                skipped += 1
                continue
            for check_name, print_ in message.fingerprints:
                conn.execute(
                    """insert into quality.alert_findings (recipient, agency_code, check_name, fingerprint, run_date,
                                                           idempotency_key)
                       values (%s, %s, %s, %s, %s, %s) on conflict do nothing""",
                    (message.recipient, message.agency_code, check_name, print_, message.run_date, message.key))
            # Sent inside the claim's transaction: if sending fails the claim is rolled back.
            email = to_email(message, settings.mail_from)
            if settings.smtp_url:
                _smtp_send(settings.smtp_url, email)
                sent.append(message.recipient)
            else:
                sent.append(str(_outbox_write(settings.outbox_dir, message, email)))
    log.info("alerts: %d sent via %s, %d already sent before", len(sent), transport, skipped)
    return {"transport": transport, "sent": sent, "already_sent": skipped}
