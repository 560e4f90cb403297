"""Follow-up reports into raw.followup_rows: one report (agency, month, day submitted) per batch.

The readers type and check a report's rows (`lapor.readers.rows.read_followups`, the only
home of those rules); the rows are streamed with COPY.
"""
from __future__ import annotations

from datetime import date

import psycopg
from psycopg.types.json import Jsonb

from lapor.landing import LandedFile
from lapor.readers import FileRejected, read_followups

from .batches import BatchResult, clear_followup_batch, record_followup_batch, record_landing, unchanged
from .rejects import RejectCollector, reject_source, write_notes, write_rejects

FOLLOWUP_COLUMNS = ("line", "tracking_id", "followup_at", "action", "result_status", "officer", "extra", "original")


def load_followup(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> BatchResult:
    """Replace the rows of one follow-up report (agency, month, day submitted) with this file's."""
    src = landed.source
    record_landing(conn, landed, run_date)
    if unchanged(conn, landed):
        return BatchResult(src.relpath, src.kind, "unchanged")

    collector = RejectCollector(read_followups(landed.path, agency_code=src.agency_code, submitted_on=src.file_day))
    head = (src.agency_code, src.period, src.file_day, src.relpath)
    try:
        with conn.transaction():
            clear_followup_batch(conn, src)
            columns = ("agency_code", "period", "submitted_on", "file", *FOLLOWUP_COLUMNS)
            loaded = 0
            with conn.cursor().copy(f"copy raw.followup_rows ({', '.join(columns)}) from stdin") as copy:
                for row in collector.rows():
                    copy.write_row(head + tuple(
                        (Jsonb(row[c]) if row[c] else None) if c in ("extra", "original") else row[c]
                        for c in FOLLOWUP_COLUMNS))
                    loaded += 1
            write_rejects(conn, collector.rejects, src, run_date)
            write_notes(conn, collector.notes, src, run_date)
            record_followup_batch(conn, landed, run_date, loaded, len(collector.rejects))
    except FileRejected as exc:
        return reject_source(conn, src, landed.sha256, run_date, exc)
    return BatchResult(src.relpath, src.kind, "loaded", rows_loaded=loaded, rows_rejected=len(collector.rejects),
                       reject_codes=collector.codes())
