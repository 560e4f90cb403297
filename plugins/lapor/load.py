"""Load landed files into the raw layer: one transaction per batch, rows streamed with COPY.

A complaints batch is (agency, export day); a follow-up batch is (agency, month, day
submitted). A batch is replaced whole or not at all: readers of the warehouse never see
half of one, and a process killed mid-load leaves the previous state. The same bytes
delivered again change nothing.

A complaints export in well-formed UTF-8 CSV (what agencies' systems and the generators
write) takes the fast path: its bytes are COPYed as they are into a temporary table and
typed, checked and rejected in SQL by the readers' rules (`_load_complaints_sql`). Every
other file, and any CSV the fast path is unsure of, is read by the Python readers
(`_load_complaints_python`). Both give the same rows, rejects and batch records
(tests/test_load_fast_path.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Iterable, Iterator

import json
import time

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from lapor.landing import LandedFile
from lapor.readers import FileRejected, Reject, read_complaints, read_followups
from lapor.readers.model import Note
from lapor.readers.canonical import PY_WHITESPACE, CsvPlan, QuoteCheck, plan_csv
from lapor.readers.limits import SHOWN_CHARS, Limits, visible
from lapor.readers.columns import COMPLAINT_DATES, COMPLAINTS, map_headers
from lapor.readers.values import (
    UnreadableValue,
    clean_text,
    clean_tracking_id,
    is_blank,
    normalize_classification,
    normalize_status,
    parse_bool,
    parse_datetime,
    WIB,
    same_code,
)

log = logging.getLogger(__name__)

COMPLAINT_COLUMNS = (
    "line", "tracking_id", "status", "status_text", "submitted_at", "dispositioned_at", "first_followup_at",
    "closed_at", "last_activity_at", "title", "content", "category", "classification", "channel",
    "is_confidential", "is_anonymous", "is_supervisory", "reporter_name", "reporter_phone", "reporter_email",
    "extra", "original",
)
FOLLOWUP_COLUMNS = ("line", "tracking_id", "followup_at", "action", "result_status", "officer", "extra", "original")
JSON_COLUMNS = {"extra", "original"}
# The cells whose text typing can lose (an unreadable optional date, a boolean or a
# classification that does not read): a loaded row keeps `original` only when one of them
# had a non-blank text that came out empty. A rejected row always keeps it.
LOSSY_COLUMNS = tuple(c for c in COMPLAINT_DATES if c != "submitted_at") + (
    "is_confidential", "is_anonymous", "is_supervisory", "classification")
TEMP_BUFFERS = "256MB"  # the temporary table of a large file in memory, not through 8 MB of buffers
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

    def __init__(self, items: Iterable[dict | Reject | Note]):
        self.items = items
        self.rejects: list[Reject] = []
        self.notes: list[Note] = []

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
            elif isinstance(item, Note):
                self.notes.append(item)
            else:
                yield item


def _value(row: dict, column: str):
    value = row.get(column)
    if column in JSON_COLUMNS:
        return Jsonb(value) if value else None
    return value


class _LostText:
    """Whether typing lost a non-blank cell of a loaded complaint row (LOSSY_COLUMNS): that
    row keeps its `original` in raw.complaints; every other loaded row stores none."""

    def __init__(self) -> None:
        self.columns: dict[tuple, list[tuple[str, str]]] = {}  # the row's header names -> (column, name)

    def __call__(self, row: dict) -> bool:
        original = row.get("original")
        if not original:
            return False
        names = tuple(original)
        columns = self.columns.get(names)
        if columns is None:
            index = map_headers(list(names), COMPLAINTS).index
            columns = self.columns[names] = [(c, names[index[c]]) for c in LOSSY_COLUMNS if c in index]
        return any(row.get(column) is None and not is_blank(original[name]) for column, name in columns)


def _roomy_temp_buffers(conn: psycopg.Connection) -> None:
    """Raise this transaction's temp_buffers, which a session can do only before it first
    uses a temporary table (a later try fails, harmlessly: the session keeps what it has)."""
    try:
        with conn.transaction():
            conn.execute(f"set local temp_buffers = '{TEMP_BUFFERS}'")
    except psycopg.errors.InvalidParameterValue:
        pass


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
        # a file the loader failed on (load_failed) is tried again: the cause may be fixed
        "select 1 from quality.rejected_files where file = %s and sha256 = %s and reason_code <> 'load_failed'",
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


def _write_notes(conn: psycopg.Connection, notes: list[Note], src, run_date: date) -> None:
    """A loaded file's warnings (quality.input_warnings), replacing its batch's earlier ones."""
    _clear_notes(conn, src)
    for note in notes:
        conn.execute(
            """insert into quality.input_warnings (run_date, agency_code, file, kind, file_day, reason_code, reason)
               values (%s, %s, %s, %s, %s, %s, %s)""",
            (run_date, src.agency_code, src.relpath, src.kind, src.file_day, note.reason_code, note.reason))


def _clear_notes(conn: psycopg.Connection, src) -> None:
    if src.kind == "complaints":  # the batch (agency, export day), whichever file it came from
        conn.execute("delete from quality.input_warnings where agency_code = %s and kind = 'complaints' "
                     "and file_day = %s", (src.agency_code, src.file_day))
    else:
        conn.execute("delete from quality.input_warnings where file = %s and kind = 'followup'", (src.relpath,))


def _reject_file(conn: psycopg.Connection, landed: LandedFile, run_date: date, exc: FileRejected) -> BatchResult:
    return reject_source(conn, landed.source, landed.sha256, run_date, exc)


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
            # The rows of an earlier good delivery for that day stay; the batch says what came last.
            conn.execute(
                """insert into raw.complaint_batches as b (agency_code, export_day, file, sha256, status,
                                                           rows_loaded, rows_rejected, run_date)
                   values (%s, %s, %s, %s, 'rejected', 0, 0, %s)
                   on conflict (agency_code, export_day) do update
                   set file = excluded.file, sha256 = excluded.sha256, status = 'rejected',
                       rows_loaded = 0, rows_rejected = 0, run_date = excluded.run_date""",
                (src.agency_code, src.file_day, src.relpath, sha256, run_date),
            )
    log.warning("%s rejected whole: %s (%s)", src.relpath, exc.reason, exc.reason_code)
    return BatchResult(src.relpath, src.kind, "rejected", reason_code=exc.reason_code, reason=exc.reason)


def already_refused(conn: psycopg.Connection, src, reason_code: str) -> bool:
    """Whether this file was already rejected, unread, for the same reason (a link left in the
    folder is not recorded again every night: its first rejection stands)."""
    return conn.execute(
        "select 1 from quality.rejected_files where file = %s and sha256 is null and reason_code = %s",
        (src.relpath, reason_code)).fetchone() is not None


def load_complaints(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> BatchResult:
    """Replace the agency's batch for the export day with this file's rows."""
    src = landed.source
    _record_landing(conn, landed, run_date)
    current = conn.execute(
        "select sha256 from raw.complaint_batches where agency_code = %s and export_day = %s and status = 'loaded'",
        (src.agency_code, src.file_day),
    ).fetchone()
    if (current and current[0] == landed.sha256) or _already_rejected(conn, landed):
        return BatchResult(src.relpath, src.kind, "unchanged")

    plan = plan_csv(landed.path, COMPLAINTS) if FAST_PATH and conn.info.encoding == "utf-8" else None
    if plan is not None:
        try:
            with conn.transaction():
                return _load_complaints_sql(conn, landed, run_date, plan)
        except (_NotCanonical, psycopg.errors.DataError) as exc:
            # COPY refused the file (cells per row, encoding, quotes) or the checks found
            # something only the Python readers handle: they read it, with the same rules.
            log.info("%s: read by the Python readers (%s)", src.relpath, str(exc).splitlines()[0])
    return _load_complaints_python(conn, landed, run_date)


def _load_complaints_python(conn: psycopg.Connection, landed: LandedFile, run_date: date) -> BatchResult:
    src = landed.source
    collector = _RejectCollector(read_complaints(landed.path, agency_code=src.agency_code, export_day=src.file_day))
    try:
        with conn.transaction():
            _roomy_temp_buffers(conn)
            # every row's original (a duplicate's reject keeps it), and whether the loaded row keeps it
            conn.execute("create temp table incoming_complaints (like raw.complaints, keep_original boolean) "
                         "on commit drop")
            columns = ("agency_code", "export_day", "file", *COMPLAINT_COLUMNS)
            lost = _LostText()
            with conn.cursor().copy(f"copy incoming_complaints ({', '.join(columns)}, keep_original) "
                                    "from stdin") as copy:
                head = (src.agency_code, src.file_day, src.relpath)
                for row in collector.rows():
                    copy.write_row(head + tuple(_value(row, c) for c in COMPLAINT_COLUMNS) + (lost(row),))
            conn.execute("delete from raw.complaints where agency_code = %s and export_day = %s",
                         (src.agency_code, src.file_day))
            conn.execute("delete from quality.rejected_rows where agency_code = %s and kind = 'complaints' "
                         "and file_day = %s", (src.agency_code, src.file_day))
            conn.execute("delete from quality.rejected_files where agency_code = %s and kind = 'complaints' "
                         "and file_day = %s", (src.agency_code, src.file_day))
            _write_rejects(conn, collector.rejects, landed, run_date)
            _write_notes(conn, collector.notes, src, run_date)
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
                   from losers""",
                (run_date,),
            ).rowcount
            kept = ", ".join(columns[:-1])
            loaded = conn.execute(f"insert into raw.complaints ({', '.join(columns)}) "
                                  f"select {kept}, case when keep_original then original end "
                                  "from incoming_complaints").rowcount
            rejected = len(collector.rejects) + duplicates
            _record_batch(conn, landed, run_date, loaded, rejected)
    except FileRejected as exc:
        return _reject_file(conn, landed, run_date, exc)
    codes: dict[str, int] = {}
    for r in collector.rejects:
        codes[r.reason_code] = codes.get(r.reason_code, 0) + 1
    if duplicates:
        codes["duplicate_tracking_id"] = duplicates
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
            _write_notes(conn, collector.notes, src, run_date)
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


# --- The fast path: a well-formed UTF-8 CSV is COPYed as it is and read in SQL -------------
#
# `readers.canonical` decides that COPY splits the file into the same records and cells as
# the Python CSV reader. The cells land as text in a temporary table; the statements below
# apply `readers.rows._ComplaintBuilder`'s rules to them: the same typed values, the same
# checks in the same order, the same reason sentences. Values with few distinct texts
# (statuses, booleans, classifications, agency codes) and dates in a form other than plain
# `YYYY-MM-DD[ HH:MM[:SS]]` are read by the Python functions themselves, once per distinct
# text, and handed to SQL as a map. Whatever falls outside that (too many distinct odd
# dates, a field longer than the CSV reader allows) sends the file to the Python readers.

FAST_PATH = True
_CHUNK = 1 << 20
_MAX_MAPPED = 20_000  # distinct texts read in Python per file; more and the file takes the Python path
_UNREADABLE = "-infinity"  # a date text the Python parser refuses


class _NotCanonical(Exception):
    """The file needs the Python readers."""


def _load_complaints_sql(conn: psycopg.Connection, landed: LandedFile, run_date: date, plan: CsvPlan) -> BatchResult:
    src = landed.source
    started = time.perf_counter()
    cells = [f"c{i + 1}" for i in range(plan.width)]
    # for this transaction only (put back at the end, for a caller with an outer transaction)
    settings = conn.execute("select current_setting('work_mem'), current_setting('TimeZone'), "
                            "current_setting('DateStyle')").fetchone()
    conn.execute("set local work_mem = '64MB'")  # the survey's distinct counts and duplicates' ranking sort in memory
    conn.execute("set local timezone = 'Asia/Jakarta'")  # a timestamp without a zone is WIB
    conn.execute("set local datestyle = 'ISO, YMD'")  # timestamps written as read (plain_timestamp)
    _roomy_temp_buffers(conn)
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
                    raise _NotCanonical("quotes or text that COPY would read differently")
                copy.write(chunk)
    query = _ComplaintQuery(conn, plan, cells, src.agency_code, src.file_day, check)
    query.read_line_breaks(check)
    check.close()
    query.read_odd_values()

    conn.execute("delete from raw.complaints where agency_code = %s and export_day = %s",
                 (src.agency_code, src.file_day))
    conn.execute("delete from quality.rejected_rows where agency_code = %s and kind = 'complaints' "
                 "and file_day = %s", (src.agency_code, src.file_day))
    conn.execute("delete from quality.rejected_files where agency_code = %s and kind = 'complaints' "
                 "and file_day = %s", (src.agency_code, src.file_day))
    _clear_notes(conn, src)  # a file on this path is clean UTF-8: no notes
    head = sql.SQL("{}, {}, {}").format(sql.Literal(src.agency_code), sql.Literal(src.file_day),
                                        sql.Literal(src.relpath))
    # Duplicate tracking ids (rare): rank the rows that pass the checks as the Python path
    # does, so that only the row with the latest activity is written (raw.complaints'
    # delete trigger would record the others as retracted complaints).
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
    rejected = sum(codes.values())
    _record_batch(conn, landed, run_date, loaded, rejected)
    conn.execute("drop table incoming_complaints")
    if query.line_breaks:
        conn.execute("drop table incoming_lines, incoming_breaks")
    conn.execute("select set_config('work_mem', %s, true), set_config('TimeZone', %s, true), "
                 "set_config('DateStyle', %s, true)", settings)
    log.info("%s: %d rows loaded, %d rejected by COPY and SQL in %.2f s", src.relpath, loaded, rejected,
             time.perf_counter() - started)
    return BatchResult(src.relpath, src.kind, "loaded", rows_loaded=loaded, rows_rejected=rejected,
                       reject_codes=codes)


def _record_batch(conn: psycopg.Connection, landed: LandedFile, run_date: date, loaded: int, rejected: int) -> None:
    src = landed.source
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


def _lit(value) -> sql.Composable:
    return sql.Literal(value)


class _ComplaintQuery:
    """The SQL that reads `incoming_complaints` as `readers.rows._ComplaintBuilder` reads cells."""

    def __init__(self, conn: psycopg.Connection, plan: CsvPlan, cells: list[str], agency_code: str,
                 export_day: date, check: QuoteCheck) -> None:
        self.conn = conn
        self.plan = plan
        self.cells = cells
        self.agency_code = agency_code
        self.export_day = export_day
        self.line_breaks = check.line_breaks  # the lines are in incoming_lines (read_line_breaks)
        self.names = plan.header.names
        self.ws = _lit(PY_WHITESPACE)
        self.maps: dict[str, dict] = {}

    # cells and columns
    def cell(self, column: str) -> sql.Composable | None:
        position = self.plan.header.index.get(column)
        return None if position is None else sql.Identifier(self.cells[position])

    def name(self, column: str) -> str:
        return visible(self.plan.header.name_of(column), SHOWN_CHARS)

    def clean(self, column: str) -> sql.Composable:
        cell = self.cell(column)
        if cell is None:
            return sql.SQL("null::text")
        return sql.SQL("nullif({}, '')").format(self.trimmed(cell))

    def trimmed(self, cell: sql.Composable) -> sql.Composable:
        """btrim(cell, PY_WHITESPACE), which walks every character of the cell; a cell whose first
        character and last byte are printable ASCII (most) has no whitespace to trim (the
        database is UTF-8: a last byte below 128 is a whole character)."""
        return sql.SQL("case when ascii({c}) between 33 and 127 and "
                       "get_byte(convert_to({c}, 'UTF8'), octet_length({c}) - 1) between 33 and 127 "
                       "then {c} else btrim({c}, {ws}) end").format(c=cell, ws=self.ws)

    def shown(self, column: str) -> sql.Composable:
        """readers.rows._shown: stripped, line breaks as U+FFFD (a file on this path has no
        other control character), cut to SHOWN_CHARS with an ellipsis."""
        text = sql.SQL("translate(btrim({}, {}), E'\\r\\n', {})").format(
            self.cell(column), self.ws, _lit("\ufffd\ufffd"))
        return sql.SQL("(case when char_length({t}) <= {n} then {t} else left({t}, {m}) || '…' end)").format(
            t=text, n=_lit(SHOWN_CHARS), m=_lit(SHOWN_CHARS - 1))

    def mapped(self, key: str, column: str) -> sql.Composable:
        """The Python reading of this cell's text, from the map `key`."""
        return sql.SQL("({}::jsonb ->> {})").format(_lit(json.dumps(self.maps.get(key, {}))), self.cell(column))

    def plain_timestamp(self, cell: sql.Composable) -> sql.Composable:
        """`YYYY-MM-DD[ HH:MM[:SS]]` that PostgreSQL reads as `datetime.fromisoformat` does.

        The text must be how PostgreSQL writes the timestamp it reads from it (DateStyle ISO):
        that rules out what PostgreSQL takes and Python refuses (hour 24, second 60, stray
        characters in place of digits) without a regular expression (several times slower).
        """
        return sql.SQL(
            "(case when {c} like '____-__-__%' and octet_length({c}) in (10, 16, 19) "
            "and pg_input_is_valid({c}, 'timestamp') "
            "then left({c}::timestamp::text, octet_length({c})) = {c} else false end)").format(c=cell)

    # the Python readings of the texts SQL does not read itself
    def read_odd_values(self) -> None:
        # the few texts of statuses, classifications, booleans and agency codes: one scan for all
        keyed = [(key, self.cell(column)) for key, column in (
            ("status", "status"), ("classification", "classification"), ("bool", "is_confidential"),
            ("bool", "is_anonymous"), ("bool", "is_supervisory"), ("agency", "agency_code"))
            if self.cell(column) is not None]
        combinations = self.conn.execute(sql.SQL("select distinct {} from incoming_complaints limit {}").format(
            sql.SQL(", ").join(cell for _, cell in keyed), _lit(_MAX_MAPPED + 1))).fetchall()
        if len(combinations) > _MAX_MAPPED:
            raise _NotCanonical("too many distinct texts to read one by one")
        rows = {(key, row[i]) for row in combinations for i, (key, _) in enumerate(keyed)}
        # the tracking ids with a dot and the dates in another form than plain: in the survey's scan
        tracking, dates = self.survey()
        rows.update(("tracking", text) for text in tracking)
        rows.update(("date", text) for text in dates)
        if len(rows) > _MAX_MAPPED:
            raise _NotCanonical("too many distinct texts to read one by one")
        maps: dict[str, dict] = {k: {} for k in ("status", "status_reason", "classification", "bool", "agency",
                                                 "tracking", "date")}
        status_name = self.name("status")
        for key, text in rows:
            if key == "status":
                status = normalize_status(text)
                maps["status"][text] = status
                if status is None:
                    maps["status_reason"][text] = (
                        f"Status column '{status_name}' is empty; every complaint needs a LAPOR! status."
                        if is_blank(text) else f"Status '{text.strip()}' is not a known LAPOR! status.")
            elif key == "classification":
                maps["classification"][text] = normalize_classification(text)
            elif key == "bool":
                maps["bool"][text] = parse_bool(text)
            elif key == "agency":
                row_agency = clean_text(text)
                if row_agency is not None and not same_code(row_agency, self.agency_code):
                    maps["agency"][text] = (
                        f"Agency code '{visible(row_agency, SHOWN_CHARS)}' in column '{self.name('agency_code')}' "
                        f"is not {self.agency_code}, the agency whose folder holds the file.")
            elif key == "tracking":
                maps["tracking"][text] = clean_tracking_id(text)
            else:
                try:
                    parsed = parse_datetime(text)
                except UnreadableValue:
                    maps["date"][text] = _UNREADABLE
                else:
                    maps["date"][text] = None if parsed is None else parsed.isoformat()
        self.maps = maps
        # the non-blank texts typing loses, by column (a map's keys: `?` finds them)
        unreadable = {text: True for text, value in maps["date"].items() if value == _UNREADABLE}
        unread_bools = {text: True for text, value in maps["bool"].items() if value is None and not is_blank(text)}
        self.lost_texts = {column: unreadable for column in COMPLAINT_DATES}
        self.lost_texts.update({column: unread_bools for column in LOSSY_COLUMNS if column.startswith("is_")})
        self.lost_texts["classification"] = {text: True for text, value in maps["classification"].items()
                                             if value is None and not is_blank(text)}

    # the statement's parts
    def date(self, column: str) -> sql.Composable:
        """The cell as `parse_datetime` reads it. Every non-empty text that is not a plain
        timestamp is in the date map (`read_odd_values`), so a text not in it is plain: the
        session's time zone is WIB, so the cast reads it as WIB, as the readers do."""
        cell = self.cell(column)
        if cell is None:
            return sql.SQL("null::timestamptz")
        if self.maps["date"]:
            value = sql.SQL("case when {cell} = '' then null when {map} ? {cell} then {mapped}::timestamptz "
                            "else {cell}::timestamptz end").format(
                cell=cell, map=_lit(json.dumps(self.maps["date"])), mapped=self.mapped("date", column))
        else:
            value = sql.SQL("case when {cell} = '' then null else {cell}::timestamptz end").format(cell=cell)
        if column == "submitted_at":
            return value  # -infinity: unreadable, rejected below
        return sql.SQL("nullif({}, {}::timestamptz)").format(value, _lit(_UNREADABLE))

    def tracking_id(self) -> sql.Composable:
        if not self.maps["tracking"]:
            return self.clean("tracking_id")
        return sql.SQL("case when strpos({cell}, '.') > 0 then {mapped} else {clean} end").format(
            cell=self.cell("tracking_id"), mapped=self.mapped("tracking", "tracking_id"),
            clean=self.clean("tracking_id"))

    def read_line_breaks(self, check: QuoteCheck) -> None:
        """The line breaks `QuoteCheck` counted in the cells, by record (`incoming_breaks`), and
        from them every record's first line (`incoming_lines`: n, line_at)."""
        if not self.line_breaks:
            return
        self.conn.execute("create temp table incoming_breaks (record integer, breaks integer) on commit drop")
        with self.conn.cursor().copy("copy incoming_breaks (record, breaks) from stdin") as copy:
            spool = check.spooled()
            while chunk := spool.read(_CHUNK):
                copy.write(chunk)
        # every record's line, by a join (a lookup per record was ~0.9 s at 150k records)
        self.conn.execute(sql.SQL(
            "create temp table incoming_lines on commit drop as "
            "select n, n + 1 + coalesce(sum(breaks) over (order by n rows between unbounded preceding "
            "and 1 preceding), 0) as line_at "
            "from generate_series(1, {}) n left join incoming_breaks on record = n").format(_lit(check.newlines + 1)))
        self.conn.execute("analyze incoming_lines")

    def line(self) -> sql.Composable:
        """The physical line where the record starts: the header is line 1, and a record takes
        one line more for each line break in the cells of the records before it (n counts the
        records from 1; `read_line_breaks`)."""
        return sql.SQL("line_at" if self.line_breaks else "n + 1")

    def lines_join(self) -> sql.Composable:
        return sql.SQL(" left join incoming_lines using (n)" if self.line_breaks else "")

    @property
    def checked(self) -> sql.Composable:
        """Every non-blank row: line, typed values, and its reason code and sentence if it cannot load."""
        return sql.SQL("select *, check_code as code, check_reason as reason from ({}) checked_rows").format(
            self._checked())

    def _checked(self) -> sql.Composable:
        blank = sql.SQL(" and ").join(sql.SQL("btrim({}, {}) = ''").format(sql.Identifier(c), self.ws)
                                      for c in self.cells)
        dates = sql.SQL(", ").join(sql.SQL("{} as {}").format(self.date(c), sql.Identifier(c))
                                   for c in COMPLAINT_DATES)
        agency = self.cell("agency_code")
        wrong_agency = sql.SQL("null::text") if agency is None else self.mapped("agency", "agency_code")
        # a date later than the export day: from the next day's midnight WIB on
        day_after = _lit(datetime.combine(self.export_day + timedelta(days=1), dtime(), tzinfo=WIB))
        after = sql.SQL(" ").join(
            sql.SQL("when {date} >= {day_after} then concat({a}, {shown}, {b})").format(
                date=sql.Identifier(c), day_after=day_after, shown=self.shown(c), a=_lit("Date '"),
                b=_lit(f"' in column '{self.name(c)}' is later than the export day {self.export_day.isoformat()}."))
            for c in COMPLAINT_DATES if self.cell(c) is not None)
        closed = (sql.SQL("when closed_at < submitted_at then concat({a}, {closed}, {b}, {submitted}, {c})").format(
            a=_lit("Closing date '"), closed=self.shown("closed_at"),
            b=_lit(f"' in column '{self.name('closed_at')}' is earlier than the submission date '"),
            submitted=self.shown("submitted_at"), c=_lit(f"' in column '{self.name('submitted_at')}'."))
            if self.cell("closed_at") is not None else sql.SQL(""))
        status_cell = self.cell("status")
        return sql.SQL(
            """select s.*,
                   case when tid is null then 'missing_tracking_id'
                        when status is null then 'unknown_status'
                        when submitted_at = '-infinity' or submitted_at is null then 'unreadable_date'
                        when wrong_agency is not null then 'wrong_agency'
                        {after_code}
                        {closed_code}
                   end as check_code,
                   case when tid is null then {missing}
                        when status is null then {status_reason}
                        when submitted_at = '-infinity' then concat({sub_a}, {sub_shown}, {sub_b})
                        when submitted_at is null then {sub_empty}
                        when wrong_agency is not null then wrong_agency
                        {after}
                        {closed}
                   end as check_reason
               from (
                   select *, {line} as line
                   from (
                       select incoming_complaints.*, {tid} as tid,
                              {status} as status, {dates}, {wrong_agency} as wrong_agency{line_at}
                       from incoming_complaints{lines_join}
                       offset 0
                   ) typed
                   where not (tid is null and {blank})  -- a blank record: skipped, as the reader skips it
                   offset 0
               ) s""").format(
            after_code=sql.SQL(" ").join(
                sql.SQL("when {} >= {} then 'date_after_export_day'").format(sql.Identifier(c), day_after)
                for c in COMPLAINT_DATES if self.cell(c) is not None),
            closed_code=(sql.SQL("when closed_at < submitted_at then 'closed_before_submitted'")
                         if self.cell("closed_at") is not None else sql.SQL("")),
            missing=_lit(f"The tracking id column '{self.name('tracking_id')}' is empty."),
            status_reason=self.mapped("status_reason", "status"),
            sub_a=_lit("Submission date '"), sub_shown=self.shown("submitted_at"),
            sub_b=_lit(f"' in column '{self.name('submitted_at')}' is not a readable date."),
            sub_empty=_lit(f"Submission date column '{self.name('submitted_at')}' is empty; it is required."),
            after=after, closed=closed, line=self.line(), tid=self.tracking_id(),
            line_at=sql.SQL(", line_at" if self.line_breaks else ""), lines_join=self.lines_join(),
            status=self.mapped("status", "status"), dates=dates, wrong_agency=wrong_agency, blank=blank,
        )

    @property
    def ranked(self) -> sql.Composable:
        """`checked`, where a row that passes the checks but whose tracking id a row with later
        activity (or, on a tie, a later line) also has is rejected as a duplicate."""
        return sql.SQL(
            """select *,
                      case when check_code is null and rank > 1 then 'duplicate_tracking_id'
                           else check_code end as code,
                      case when check_code is null and rank > 1 then
                          format('Tracking id %s appears more than once in this file; the row at line %s, '
                                 'with the latest activity, was loaded instead.', tid, kept_line)
                           else check_reason end as reason
               from (
                   select *, row_number() over w as rank, first_value(line) over w as kept_line
                   from ({checked}) checked_rows
                   window w as (partition by tid, check_code is null
                                order by greatest(last_activity_at, closed_at, first_followup_at,
                                                  dispositioned_at, submitted_at) desc nulls last, line desc)
               ) ranked_rows""").format(checked=self._checked())

    def survey(self) -> tuple[set[str], set[str]]:
        """One scan: a field too long for the CSV reader, the non-blank records, repeated tracking
        ids, and the texts that only the Python functions read (tracking ids with a dot, dates in
        another form than plain; at most _MAX_MAPPED + 1 of each column's)."""
        ws = self.ws
        limit = Limits.from_env().max_cell_chars  # longer in octets: the Python reader decides, in characters
        too_long = sql.SQL(" or ").join(sql.SQL("octet_length({}) > {}").format(sql.Identifier(c), _lit(limit))
                                        for c in self.cells)
        blank = sql.SQL(" and ").join(sql.SQL("{} = ''").format(self.trimmed(sql.Identifier(c)))
                                      for c in self.cells)
        tracking = self.cell("tracking_id")
        # equal tracking ids have equal keys (`3007395.0` and `3007395` too): a superset of the duplicates
        key = sql.SQL("nullif(case when strpos({c}, '.') > 0 then regexp_replace(btrim({c}, {ws}), '[.]0*$', '') "
                      "else {trimmed} end, '')").format(c=tracking, ws=ws, trimmed=self.trimmed(tracking))
        date_cells = [self.cell(c) for c in COMPLAINT_DATES if self.cell(c) is not None]
        cut = _lit(_MAX_MAPPED + 1)
        odd = [sql.SQL("(array_agg(distinct {c}) filter (where strpos({c}, '.') > 0))[1:{cut}]").format(
            c=tracking, cut=cut)]
        odd += [sql.SQL("(array_agg(distinct {c}) filter (where {c} <> '' and not {plain}))[1:{cut}]").format(
            c=c, plain=self.plain_timestamp(c), cut=cut) for c in date_cells]
        found = self.conn.execute(sql.SQL(
            """select bool_or(too_long), count(*) filter (where not blank), count(distinct key), count(key), {odd}
               from (select {too_long} as too_long, {blank} as blank, {key} as key, {cells}
                     from incoming_complaints offset 0) t""").format(
            too_long=too_long, blank=blank, key=key, odd=sql.SQL(", ").join(odd),
            cells=sql.SQL(", ").join([tracking, *date_cells]))).fetchone()
        too_long_found, self.records, distinct_ids, ids, odd_ids, *odd_dates = found
        if too_long_found:
            raise _NotCanonical("a field longer than the CSV reader's limit")
        self.has_duplicates = distinct_ids < ids  # a superset of the duplicates that load
        return set(odd_ids or ()), {text for texts in odd_dates for text in texts or ()}

    def original(self, loaded: bool = False) -> sql.Composable:
        """The row as read; for a loaded row, only when typing lost a non-blank cell (LOSSY_COLUMNS)."""
        whole = self._object(range(self.plan.width))
        if not loaded:
            return whole
        lost = []
        for column in LOSSY_COLUMNS:
            cell = self.cell(column)
            if cell is not None and self.lost_texts[column]:
                lost.append(sql.SQL("{}::jsonb ? {}").format(_lit(json.dumps(self.lost_texts[column])), cell))
        if not lost:
            return sql.SQL("null::jsonb")
        return sql.SQL("case when {} then {} end").format(sql.SQL(" or ").join(lost), whole)

    def _object(self, positions) -> sql.Composable:
        """{header name: cell text}, as the readers' `original`/`extra` dicts (jsonb_object: the quickest)."""
        positions = list(positions)
        return sql.SQL("jsonb_object({}::text[], array[{}])").format(
            _lit([self.names[i] for i in positions]),
            sql.SQL(", ").join(sql.Identifier(self.cells[i]) for i in positions))

    @property
    def values(self) -> sql.Composable:
        """The row of raw.complaints, in COMPLAINT_COLUMNS order."""
        out = []
        for column in COMPLAINT_COLUMNS:
            if column == "line":
                out.append(sql.SQL("line"))
            elif column == "tracking_id":
                out.append(sql.SQL("tid"))
            elif column == "status":
                out.append(sql.SQL("status"))
            elif column == "status_text":
                out.append(self.clean("status"))
            elif column in COMPLAINT_DATES:
                out.append(sql.Identifier(column))
            elif column == "classification":
                out.append(self.mapped("classification", column) if self.cell(column) is not None
                           else sql.SQL("null::text"))
            elif column.startswith("is_"):
                out.append(sql.SQL("{}::boolean").format(self.mapped("bool", column)) if self.cell(column) is not None
                           else sql.SQL("null::boolean"))
            elif column == "extra":
                extra = self.plan.header.extra
                out.append(self._object(extra) if extra else sql.SQL("null::jsonb"))
            elif column == "original":
                out.append(self.original(loaded=True))
            else:
                out.append(self.clean(column))
        return sql.SQL(", ").join(out)
