"""Alert e-mails from `quality.check_results`: a digest to the coordinator and one message
to each flagged agency's admin, in Bahasa Indonesia (HTML with a plain-text alternative).

Alerts read the warehouse, never the files. Each message has an idempotency key (run date,
recipient and findings); a key already in `quality.alerts_sent` is never sent again, so a
retried task or a re-run of the same date sends nothing new.
"""
from lapor.alerts.compose import Message, compose_messages
from lapor.alerts.send import deliver

__all__ = ["Message", "compose_messages", "deliver"]
