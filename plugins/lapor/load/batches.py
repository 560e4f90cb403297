"""Batches: what the warehouse records of each delivered file, and the deletes that replace one.

A complaints batch is (agency, export day); a follow-up batch is (agency, month, day
submitted). A batch is replaced whole or not at all, inside the caller's transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import psycopg

from lapor.landing import LandedFile

TEMP_BUFFERS = "256MB"  # the temporary table of a large file in memory, not through 8 MB of buffers


@dataclass
class BatchResult:
    file: str
    kind: str
    outcome: str                      # loaded | unchanged | rejected
    rows_loaded: int = 0
    rows_rejected: int = 0
    reason_code: str | None = None
    reason: str | None = None
    reject_codes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def record_landing(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> None:
    src = landed.source
    conn.execute(
        """insert into raw.landed_files (agency_code, kind, file, sha256, size_bytes, file_day, period,
                                         landed_path, source, first_run_date)
           values (%s, %s, %s, %s, %s, %s, %s, %s, 'folder', %s)
           on conflict (file, sha256) do nothing""",
        (src.agency_code, src.kind, src.relpath, landed.sha256, landed.size_bytes, src.file_day, src.period,
         landed.relpath, run_date),
    )


def unchanged(conn: psycopg.Connection, landed: LandedFile) -> bool:
    """Whether these bytes are what the batch already holds, or were already rejected whole."""
    src = landed.source
    if src.kind == "complaints":
        current = conn.execute("select sha256 from raw.complaint_batches where agency_code = %s "
                               "and export_day = %s and status = 'loaded'", (src.agency_code, src.file_day))
    else:
        current = conn.execute("select sha256 from raw.followup_reports where agency_code = %s and period = %s "
                               "and submitted_on = %s", (src.agency_code, src.period, src.file_day))
    found = current.fetchone()
    if found and found[0] == landed.sha256:
        return True
    return conn.execute(
        # a file the loader failed on (load_failed) is tried again: the cause may be fixed
        "select 1 from quality.rejected_files where file = %s and sha256 = %s and reason_code <> 'load_failed'",
        (src.relpath, landed.sha256),
    ).fetchone() is not None


def clear_complaint_batch(conn: psycopg.Connection, src) -> None:
    """Take away what the batch (agency, export day) holds, whichever file it came from: its rows,
    their rejects and the file's rejection and warnings."""
    key = (src.agency_code, src.file_day)
    conn.execute("delete from raw.complaints where agency_code = %s and export_day = %s", key)
    for table in ("quality.rejected_rows", "quality.rejected_files", "quality.input_warnings"):
        conn.execute(f"delete from {table} where agency_code = %s and kind = 'complaints' and file_day = %s", key)


def record_complaint_batch(conn: psycopg.Connection, src, sha256: str | None, run_date: date,
                           loaded: int | None, rejected: int = 0) -> None:
    """The batch's record: `loaded` rows (None: the file was rejected whole; the rows of an earlier
    good delivery for that day stay, and the batch says what came last)."""
    status = "rejected" if loaded is None else "loaded"
    conn.execute(
        """insert into raw.complaint_batches (agency_code, export_day, file, sha256, status,
                                              rows_loaded, rows_rejected, run_date)
           values (%s, %s, %s, %s, %s, %s, %s, %s)
           on conflict (agency_code, export_day) do update
           set file = excluded.file, sha256 = excluded.sha256, status = excluded.status,
               rows_loaded = excluded.rows_loaded, rows_rejected = excluded.rows_rejected,
               run_date = excluded.run_date""",
        (src.agency_code, src.file_day, src.relpath, sha256, status, loaded or 0, rejected, run_date),
    )


def clear_followup_batch(conn: psycopg.Connection, src) -> None:
    """Take away the rows of one follow-up report (agency, month, day submitted) and the file's
    rejects, rejection and warnings."""
    conn.execute("delete from raw.followup_rows where agency_code = %s and period = %s and submitted_on = %s",
                 (src.agency_code, src.period, src.file_day))
    for table in ("quality.rejected_rows", "quality.rejected_files"):
        conn.execute(f"delete from {table} where file = %s", (src.relpath,))
    conn.execute("delete from quality.input_warnings where file = %s and kind = 'followup'", (src.relpath,))


def record_followup_batch(conn: psycopg.Connection, landed: LandedFile, run_date: date,
                          loaded: int, rejected: int) -> None:
    src = landed.source
    conn.execute(
        """insert into raw.followup_reports (agency_code, period, submitted_on, file, sha256, status,
                                             rows_loaded, rows_rejected, run_date)
           values (%s, %s, %s, %s, %s, 'loaded', %s, %s, %s)
           on conflict (agency_code, period, submitted_on) do update
           set file = excluded.file, sha256 = excluded.sha256, rows_loaded = excluded.rows_loaded,
               rows_rejected = excluded.rows_rejected, run_date = excluded.run_date""",
        (src.agency_code, src.period, src.file_day, src.relpath, landed.sha256, loaded, rejected, run_date),
    )


def roomy_temp_buffers(conn: psycopg.Connection) -> None:
    """Raise this transaction's temp_buffers, which a session can do only before it first
    uses a temporary table (a later try fails, harmlessly: the session keeps what it has)."""
    try:
        with conn.transaction():
            conn.execute(f"set local temp_buffers = '{TEMP_BUFFERS}'")
    except psycopg.errors.InvalidParameterValue:
        pass
