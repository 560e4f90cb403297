"""Complaints exports into raw.complaints: one path, whatever the file's format.

A file's records land as text in the temporary table `incoming_complaints`, and one set of
statements types, checks and rejects them (`complaint_sql`, the only place the row rules
live). The text gets there one of two ways, both streaming:

- a canonical UTF-8 CSV (what agencies' systems and the generators write) is COPYed as its
  own bytes: `readers.canonical` decides that PostgreSQL splits it into the same records and
  cells as the CSV reader would (the quick way; tests/test_load_fast_path.py compares both);
- every other file (another encoding or dialect, XLSX, JSON), and any CSV the quick way is
  unsure of, is decoded by the readers into text rows, which are COPYed in.
"""
from __future__ import annotations

import logging
import time
from datetime import date

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from lapor.landing import LandedFile
from lapor.readers import FileRejected, read_complaints
from lapor.readers.canonical import CsvPlan, QuoteCheck, plan_csv
from lapor.readers.columns import COMPLAINTS
from lapor.settings import TIMEZONE

from .batches import (BatchResult, clear_complaint_batch, record_complaint_batch, record_landing,
                      roomy_temp_buffers, unchanged)
from .complaint_sql import COMPLAINT_COLUMNS, ComplaintQuery
from .complaint_values import TooLong
from .rejects import RejectCollector, reject_source, write_notes, write_rejects

log = logging.getLogger(__name__)

FAST_PATH = True  # False: every file is decoded by the readers (tests compare the two ways)
_CHUNK = 1 << 20


class NotCanonical(Exception):
    """The file's bytes cannot be COPYed as they are: the readers decode it."""


def load_complaints(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> BatchResult:
    """Replace the agency's batch for the export day with this file's rows."""
    src = landed.source
    record_landing(conn, landed, run_date)
    if unchanged(conn, landed):
        return BatchResult(src.relpath, src.kind, "unchanged")
    plan = plan_csv(landed.path, COMPLAINTS) if FAST_PATH and conn.info.encoding == "utf-8" else None
    if plan is not None:
        try:
            with conn.transaction():
                return _load(conn, landed, run_date, lambda: _copy_bytes(conn, landed, plan))
        except (NotCanonical, TooLong, psycopg.errors.DataError) as exc:
            # COPY refused the file (cells per row, encoding, quotes) or saw what only the
            # readers decode right: they decode it
            log.info("%s: decoded by the readers (%s)", src.relpath, str(exc).splitlines()[0])
    try:
        with conn.transaction():
            return _load(conn, landed, run_date, lambda: _copy_decoded(conn, landed))
    except FileRejected as exc:
        return reject_source(conn, src, landed.sha256, run_date, exc)


def _load(conn: psycopg.Connection, landed: LandedFile, run_date: date, fill) -> BatchResult:
    """Fill `incoming_complaints` (`fill` returns the query over it and the readers' rejects and
    notes), then replace the batch: rows that pass, rejects with their reasons, the batch record."""
    src = landed.source
    started = time.perf_counter()
    # for this transaction only (put back at the end, for a caller with an outer transaction)
    settings = conn.execute("select current_setting('work_mem'), current_setting('TimeZone'), "
                            "current_setting('DateStyle')").fetchone()
    conn.execute("set local work_mem = '64MB'")  # the survey's distinct counts and duplicates' ranking sort in memory
    conn.execute(sql.SQL("set local timezone = {}").format(sql.Literal(TIMEZONE)))  # a timestamp without a zone is WIB
    conn.execute("set local datestyle = 'ISO, YMD'")  # timestamps written as read (plain_timestamp)
    roomy_temp_buffers(conn)
    query, collector = fill()
    if query is not None:
        query.read_values()
    clear_complaint_batch(conn, src)
    write_rejects(conn, collector.rejects, src, run_date)
    write_notes(conn, collector.notes, src, run_date)
    codes = collector.codes()
    loaded = 0
    if query is not None:
        loaded, found = _insert(conn, query, src, run_date)
        for code, count in found.items():
            codes[code] = codes.get(code, 0) + count
    rejected = sum(codes.values())
    record_complaint_batch(conn, src, landed.sha256, run_date, loaded, rejected)
    conn.execute("drop table if exists incoming_complaints, incoming_lines, incoming_breaks, value_map")
    conn.execute("select set_config('work_mem', %s, true), set_config('TimeZone', %s, true), "
                 "set_config('DateStyle', %s, true)", settings)
    log.info("%s: %d rows loaded, %d rejected in %.2f s", src.relpath, loaded, rejected,
             time.perf_counter() - started)
    return BatchResult(src.relpath, src.kind, "loaded", rows_loaded=loaded, rows_rejected=rejected,
                       reject_codes=codes)


def _insert(conn: psycopg.Connection, query: ComplaintQuery, src, run_date: date) -> tuple[int, dict[str, int]]:
    head = sql.SQL("{}, {}, {}").format(sql.Literal(src.agency_code), sql.Literal(src.file_day),
                                        sql.Literal(src.relpath))
    # Duplicate tracking ids (rare): rank the rows that pass the checks, so that only the row
    # with the latest activity is written (raw.complaints' delete trigger would record the
    # others as retracted complaints).
    checked = query.ranked if query.has_duplicates else query.checked
    loaded = conn.execute(sql.SQL(
        """insert into raw.complaints (agency_code, export_day, file, {columns})
           select {head}, {values} from ({checked}) checked where code is null""").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, COMPLAINT_COLUMNS)), head=head,
        values=query.values, checked=checked)).rowcount
    codes: dict[str, int] = {}
    if loaded < query.records:  # some rows cannot load: record why
        for code, count in conn.execute(sql.SQL(
            """with r as (
                   insert into quality.rejected_rows
                       (agency_code, file_day, file, run_date, line, tracking_id, reason_code, reason, original, kind)
                   select {head}, {run_date}, line, tid, code, reason, {original}, 'complaints'
                   from ({checked}) checked where code is not null
                   returning reason_code)
               select reason_code, count(*) from r group by reason_code""").format(
            head=head, run_date=sql.Literal(run_date), original=query.original(), checked=checked)):
            codes[code] = count
    return loaded, codes


def _copy_bytes(conn: psycopg.Connection, landed: LandedFile, plan: CsvPlan) -> tuple[ComplaintQuery, RejectCollector]:
    """The quick way: the file's own bytes through `COPY … (format csv)`."""
    cells = [f"c{i + 1}" for i in range(plan.width)]
    conn.execute(f"create temp table incoming_complaints (n integer generated always as identity, "
                 f"{', '.join(c + ' text' for c in cells)}) on commit drop")
    check = QuoteCheck(plan.delimiter)
    names = sql.SQL(", ").join(map(sql.Identifier, cells))
    copy_sql = sql.SQL("copy incoming_complaints ({}) from stdin (format csv, header true, delimiter {}, "
                       "force_not_null ({}))").format(names, sql.Literal(plan.delimiter), names)
    with conn.cursor() as cursor:
        with cursor.copy(copy_sql) as copy, open(landed.path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                check.feed(chunk)
                if not check.ok:
                    raise NotCanonical("quotes or text that COPY would read differently")
                copy.write(chunk)
    try:
        _read_line_breaks(conn, check)
    finally:
        check.close()
    src = landed.source
    query = ComplaintQuery(conn, plan.header, src.agency_code, src.file_day, decoded=False,
                           line_breaks=check.line_breaks)
    return query, RejectCollector(())


def _read_line_breaks(conn: psycopg.Connection, check: QuoteCheck) -> None:
    """The line breaks `QuoteCheck` counted in the cells, by record (`incoming_breaks`), and
    from them every record's first line (`incoming_lines`: n, line_at)."""
    if not check.line_breaks:
        return
    conn.execute("create temp table incoming_breaks (record integer, breaks integer) on commit drop")
    with conn.cursor().copy("copy incoming_breaks (record, breaks) from stdin") as copy:
        spool = check.spooled()
        while chunk := spool.read(_CHUNK):
            copy.write(chunk)
    # every record's line, by a join (a lookup per record was ~0.9 s at 150k records)
    conn.execute(sql.SQL(
        "create temp table incoming_lines on commit drop as "
        "select n, n + 1 + coalesce(sum(breaks) over (order by n rows between unbounded preceding "
        "and 1 preceding), 0) as line_at "
        "from generate_series(1, {}) n left join incoming_breaks on record = n").format(
        sql.Literal(check.newlines + 1)))
    conn.execute("analyze incoming_lines")


def _copy_decoded(conn: psycopg.Connection, landed: LandedFile) -> tuple[ComplaintQuery | None, RejectCollector]:
    """Every other way: the readers decode the file into text rows, COPYed in as text."""
    src = landed.source
    collector = RejectCollector(read_complaints(landed.path))
    rows = collector.rows()
    header = next(rows, None)
    if header is None:  # no header and no rows (a JSON `[]`): an empty export
        return None, collector
    cells = [f"c{i + 1}" for i in range(len(header.names))]
    conn.execute(f"create temp table incoming_complaints (n integer generated always as identity, "
                 f"src_line integer, {', '.join(c + ' text' for c in cells)}, overflow jsonb) on commit drop")
    with conn.cursor().copy(f"copy incoming_complaints (src_line, {', '.join(cells)}, overflow) from stdin") as copy:
        for row in rows:
            copy.write_row((row.line, *row.cells, Jsonb(row.overflow) if row.overflow else None))
    return ComplaintQuery(conn, header, src.agency_code, src.file_day, decoded=True), collector
