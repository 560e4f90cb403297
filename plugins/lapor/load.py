"""Load landed files into the raw layer: one transaction per batch, rows streamed with COPY.

A complaints batch is (agency, export day); a follow-up batch is (agency, month, day
submitted). A batch is replaced whole or not at all: readers of the warehouse never see
half of one, and a process killed mid-load leaves the previous state. The same bytes
delivered again change nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Iterator

import psycopg
from psycopg.types.json import Jsonb

from lapor.landing import LandedFile
from lapor.readers import FileRejected, Reject, read_complaints, read_followups

log = logging.getLogger(__name__)

COMPLAINT_COLUMNS = (
    "line", "tracking_id", "status", "status_text", "submitted_at", "dispositioned_at", "first_followup_at",
    "closed_at", "last_activity_at", "title", "content", "category", "classification", "channel",
    "is_confidential", "is_anonymous", "is_supervisory", "reporter_name", "reporter_phone", "reporter_email",
    "extra", "original",
)
FOLLOWUP_COLUMNS = ("line", "tracking_id", "followup_at", "action", "result_status", "officer", "extra", "original")
JSON_COLUMNS = {"extra", "original"}
REJECT_COLUMNS = ("run_date", "agency_code", "file", "line", "tracking_id", "reason_code", "reason", "original",
                  "kind", "file_day")


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


class _RejectCollector:
    """Splits a reader's stream into rows (passed on) and rejects (kept: they are few)."""

    def __init__(self, items: Iterable[dict | Reject]):
        self.items = items
        self.rejects: list[Reject] = []

    def rows(self) -> Iterator[dict]:
        iterator = iter(self.items)
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except FileRejected:
                raise
            except Exception as exc:  # a reader bug or a file no reader foresaw: reject, never crash the run
                log.exception("reader failed")
                raise FileRejected("unreadable_file", f"The file could not be read: {type(exc).__name__}: {exc}") from exc
            if isinstance(item, Reject):
                self.rejects.append(item)
            else:
                yield item


def _value(row: dict, column: str):
    value = row.get(column)
    if column in JSON_COLUMNS:
        return Jsonb(value) if value else None
    return value


def _record_landing(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> None:
    src = landed.source
    conn.execute(
        """insert into raw.landed_files (agency_code, kind, file, sha256, size_bytes, file_day, period,
                                         landed_path, source, first_run_date)
           values (%s, %s, %s, %s, %s, %s, %s, %s, 'folder', %s)
           on conflict (file, sha256) do nothing""",
        (src.agency_code, src.kind, src.relpath, landed.sha256, landed.size_bytes, src.file_day, src.period,
         landed.relpath, run_date),
    )


def _already_rejected(conn: psycopg.Connection, landed: LandedFile) -> bool:
    return conn.execute(
        "select 1 from quality.rejected_files where file = %s and sha256 = %s",
        (landed.source.relpath, landed.sha256),
    ).fetchone() is not None


def _write_rejects(conn: psycopg.Connection, rejects: list[Reject], landed: LandedFile, run_date: date) -> None:
    if not rejects:
        return
    src = landed.source
    with conn.cursor().copy(f"copy quality.rejected_rows ({', '.join(REJECT_COLUMNS)}) from stdin") as copy:
        for r in rejects:
            copy.write_row((run_date, src.agency_code, src.relpath, r.line, r.tracking_id, r.reason_code, r.reason,
                            Jsonb(r.original), src.kind, src.file_day))


def _reject_file(conn: psycopg.Connection, landed: LandedFile, run_date: date, exc: FileRejected) -> BatchResult:
    src = landed.source
    with conn.transaction():
        conn.execute("delete from quality.rejected_files where file = %s", (src.relpath,))
        conn.execute(
            """insert into quality.rejected_files (run_date, agency_code, file, sha256, reason_code, reason, kind, file_day)
               values (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (run_date, src.agency_code, src.relpath, landed.sha256, exc.reason_code, exc.reason, src.kind, src.file_day),
        )
        if src.kind == "complaints":
            # The rows of an earlier good delivery for that day stay; the batch says what came last.
            conn.execute(
                """insert into raw.complaint_batches as b (agency_code, export_day, file, sha256, status,
                                                           rows_loaded, rows_rejected, run_date)
                   values (%s, %s, %s, %s, 'rejected', 0, 0, %s)
                   on conflict (agency_code, export_day) do update
                   set file = excluded.file, sha256 = excluded.sha256, status = 'rejected',
                       rows_loaded = 0, rows_rejected = 0, run_date = excluded.run_date""",
                (src.agency_code, src.file_day, src.relpath, landed.sha256, run_date),
            )
    log.warning("%s rejected whole: %s (%s)", src.relpath, exc.reason, exc.reason_code)
    return BatchResult(src.relpath, src.kind, "rejected", reason_code=exc.reason_code, reason=exc.reason)


def load_complaints(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> BatchResult:
    """Replace the agency's batch for the export day with this file's rows."""
    src = landed.source
    _record_landing(conn, landed, run_date)
    current = conn.execute(
        "select sha256 from raw.complaint_batches where agency_code = %s and export_day = %s",
        (src.agency_code, src.file_day),
    ).fetchone()
    if (current and current[0] == landed.sha256) or _already_rejected(conn, landed):
        return BatchResult(src.relpath, src.kind, "unchanged")

    collector = _RejectCollector(read_complaints(landed.path, agency_code=src.agency_code, export_day=src.file_day))
    try:
        with conn.transaction():
            conn.execute("create temp table incoming_complaints (like raw.complaints) on commit drop")
            columns = ("agency_code", "export_day", "file", *COMPLAINT_COLUMNS)
            with conn.cursor().copy(f"copy incoming_complaints ({', '.join(columns)}) from stdin") as copy:
                head = (src.agency_code, src.file_day, src.relpath)
                for row in collector.rows():
                    copy.write_row(head + tuple(_value(row, c) for c in COMPLAINT_COLUMNS))
            conn.execute("delete from raw.complaints where agency_code = %s and export_day = %s",
                         (src.agency_code, src.file_day))
            conn.execute("delete from quality.rejected_rows where agency_code = %s and kind = 'complaints' "
                         "and file_day = %s", (src.agency_code, src.file_day))
            conn.execute("delete from quality.rejected_files where agency_code = %s and kind = 'complaints' "
                         "and file_day = %s", (src.agency_code, src.file_day))
            _write_rejects(conn, collector.rejects, landed, run_date)
            # Duplicate tracking ids in one file: the row with the latest activity loads.
            duplicates = conn.execute(
                """with ranked as (
                       select ctid as rid, tracking_id, line,
                              row_number() over (
                                  partition by tracking_id
                                  order by greatest(last_activity_at, closed_at, first_followup_at,
                                                    dispositioned_at, submitted_at) desc nulls last, line desc
                              ) as rn,
                              first_value(line) over (
                                  partition by tracking_id
                                  order by greatest(last_activity_at, closed_at, first_followup_at,
                                                    dispositioned_at, submitted_at) desc nulls last, line desc
                              ) as kept_line
                       from incoming_complaints
                   ),
                   losers as (
                       delete from incoming_complaints i using ranked r
                       where i.ctid = r.rid and r.rn > 1
                       returning i.*, r.kept_line
                   )
                   insert into quality.rejected_rows
                       (run_date, agency_code, file, line, tracking_id, reason_code, reason, original, kind, file_day)
                   select %s, agency_code, file, line, tracking_id, 'duplicate_tracking_id',
                          format('Tracking id %%s appears more than once in this file; the row at line %%s, '
                                 'with the latest activity, was loaded instead.', tracking_id, kept_line),
                          coalesce(original, '{}'::jsonb), 'complaints', export_day
                   from losers
                   returning 1""",
                (run_date,),
            ).fetchall()
            loaded = conn.execute(
                "insert into raw.complaints select * from incoming_complaints returning 1"
            ).rowcount
            rejected = len(collector.rejects) + len(duplicates)
            conn.execute(
                """insert into raw.complaint_batches (agency_code, export_day, file, sha256, status,
                                                      rows_loaded, rows_rejected, run_date)
                   values (%s, %s, %s, %s, 'loaded', %s, %s, %s)
                   on conflict (agency_code, export_day) do update
                   set file = excluded.file, sha256 = excluded.sha256, status = 'loaded',
                       rows_loaded = excluded.rows_loaded, rows_rejected = excluded.rows_rejected,
                       run_date = excluded.run_date""",
                (src.agency_code, src.file_day, src.relpath, landed.sha256, loaded, rejected, run_date),
            )
    except FileRejected as exc:
        return _reject_file(conn, landed, run_date, exc)
    codes: dict[str, int] = {}
    for r in collector.rejects:
        codes[r.reason_code] = codes.get(r.reason_code, 0) + 1
    if duplicates:
        codes["duplicate_tracking_id"] = len(duplicates)
    return BatchResult(src.relpath, src.kind, "loaded", rows_loaded=loaded, rows_rejected=rejected,
                       reject_codes=codes)


def load_followup(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> BatchResult:
    """Replace the rows of one follow-up report (agency, month, day submitted) with this file's."""
    src = landed.source
    _record_landing(conn, landed, run_date)
    current = conn.execute(
        "select sha256 from raw.followup_reports where agency_code = %s and period = %s and submitted_on = %s",
        (src.agency_code, src.period, src.file_day),
    ).fetchone()
    if (current and current[0] == landed.sha256) or _already_rejected(conn, landed):
        return BatchResult(src.relpath, src.kind, "unchanged")

    collector = _RejectCollector(read_followups(landed.path, agency_code=src.agency_code, submitted_on=src.file_day))
    key = (src.agency_code, src.period, src.file_day)
    try:
        with conn.transaction():
            conn.execute("delete from raw.followup_rows where agency_code = %s and period = %s and submitted_on = %s",
                         key)
            columns = ("agency_code", "period", "submitted_on", "file", *FOLLOWUP_COLUMNS)
            loaded = 0
            with conn.cursor().copy(f"copy raw.followup_rows ({', '.join(columns)}) from stdin") as copy:
                for row in collector.rows():
                    copy.write_row(key + (src.relpath,) + tuple(_value(row, c) for c in FOLLOWUP_COLUMNS))
                    loaded += 1
            conn.execute("delete from quality.rejected_rows where file = %s", (src.relpath,))
            conn.execute("delete from quality.rejected_files where file = %s", (src.relpath,))
            _write_rejects(conn, collector.rejects, landed, run_date)
            conn.execute(
                """insert into raw.followup_reports (agency_code, period, submitted_on, file, sha256, status,
                                                     rows_loaded, rows_rejected, run_date)
                   values (%s, %s, %s, %s, %s, 'loaded', %s, %s, %s)
                   on conflict (agency_code, period, submitted_on) do update
                   set file = excluded.file, sha256 = excluded.sha256, rows_loaded = excluded.rows_loaded,
                       rows_rejected = excluded.rows_rejected, run_date = excluded.run_date""",
                key + (src.relpath, landed.sha256, loaded, len(collector.rejects), run_date),
            )
    except FileRejected as exc:
        return _reject_file(conn, landed, run_date, exc)
    codes: dict[str, int] = {}
    for r in collector.rejects:
        codes[r.reason_code] = codes.get(r.reason_code, 0) + 1
    return BatchResult(src.relpath, src.kind, "loaded", rows_loaded=loaded, rows_rejected=len(collector.rejects),
                       reject_codes=codes)
