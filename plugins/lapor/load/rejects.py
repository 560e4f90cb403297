"""Rejects: rows a file's reader turned away, files rejected whole, and a file's warnings."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import date
from typing import Iterable, Iterator

import psycopg
from psycopg.types.json import Jsonb

from lapor.readers import FileRejected, Reject
from lapor.readers.model import Note

from .batches import BatchResult, record_complaint_batch

log = logging.getLogger(__name__)

REJECT_COLUMNS = ("run_date", "agency_code", "file", "line", "tracking_id", "reason_code", "reason", "original",
                  "kind", "file_day")


class RejectCollector:
    """Splits a reader's stream into rows (passed on) and rejects and notes (kept: they are few)."""

    def __init__(self, items: Iterable):
        self.items = items
        self.rejects: list[Reject] = []
        self.notes: list[Note] = []

    def rows(self) -> Iterator:
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
            elif isinstance(item, Note):
                self.notes.append(item)
            else:
                yield item

    def codes(self) -> dict[str, int]:
        return dict(Counter(r.reason_code for r in self.rejects))


def write_rejects(conn: psycopg.Connection, rejects: list[Reject], src, run_date: date) -> None:
    if not rejects:
        return
    with conn.cursor().copy(f"copy quality.rejected_rows ({', '.join(REJECT_COLUMNS)}) from stdin") as copy:
        for r in rejects:
            copy.write_row((run_date, src.agency_code, src.relpath, r.line, r.tracking_id, r.reason_code, r.reason,
                            Jsonb(r.original), src.kind, src.file_day))


def write_notes(conn: psycopg.Connection, notes: list[Note], src, run_date: date) -> None:
    """A loaded file's warnings (quality.input_warnings); the batch's earlier ones are cleared with it."""
    for note in notes:
        conn.execute(
            """insert into quality.input_warnings (run_date, agency_code, file, kind, file_day, reason_code, reason)
               values (%s, %s, %s, %s, %s, %s, %s)""",
            (run_date, src.agency_code, src.relpath, src.kind, src.file_day, note.reason_code, note.reason))


def reject_source(conn: psycopg.Connection, src, sha256: str | None, run_date: date,
                  exc: FileRejected) -> BatchResult:
    """Record a file rejected whole. `sha256` is None for a file that was never read (a
    symlink, a file over a limit, one whose landing failed): nothing of it was kept."""
    with conn.transaction():
        conn.execute("delete from quality.rejected_files where file = %s", (src.relpath,))
        conn.execute(
            """insert into quality.rejected_files (run_date, agency_code, file, sha256, reason_code, reason, kind, file_day)
               values (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (run_date, src.agency_code, src.relpath, sha256, exc.reason_code, exc.reason, src.kind, src.file_day),
        )
        if src.kind == "complaints":
            record_complaint_batch(conn, src, sha256, run_date, None)
    log.warning("%s rejected whole: %s (%s)", src.relpath, exc.reason, exc.reason_code)
    return BatchResult(src.relpath, src.kind, "rejected", reason_code=exc.reason_code, reason=exc.reason)


def already_refused(conn: psycopg.Connection, src, reason_code: str) -> bool:
    """Whether this file was already rejected, unread, for the same reason (a link left in the
    folder is not recorded again every night: its first rejection stands)."""
    return conn.execute(
        "select 1 from quality.rejected_files where file = %s and sha256 is null and reason_code = %s",
        (src.relpath, reason_code)).fetchone() is not None
