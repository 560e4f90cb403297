"""The row rules of a complaints export, written once, in SQL, over `incoming_complaints`.

`incoming_complaints` holds a file's records as text, one column per header cell (`c1`…),
whichever way they came: COPYed from the file's own bytes (a canonical UTF-8 CSV) or from
the rows the readers decoded (any other CSV, XLSX, JSON; its cells may be null, and it has
the record's line and the cells beyond the header). The statements here type each row, check
it (docs/inputs.md, "Row checks": the first failing check names the reason), pick the winner
among rows sharing a tracking id, and say what a loaded row keeps of the text as read. The
few texts SQL does not read itself are read by `lapor.readers.values` (`complaint_values`).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dtime

import psycopg
from psycopg import sql

from lapor.readers.canonical import PY_WHITESPACE
from lapor.readers.columns import COMPLAINT_DATES, HeaderMap
from lapor.readers.limits import SHOWN_CHARS, visible
from lapor.readers.model import missing_tracking_id
from lapor.readers.values import WIB

from .complaint_values import UNREADABLE, ValueMaps, read_values

COMPLAINT_COLUMNS = (
    "line", "tracking_id", "status", "status_text", "submitted_at", "dispositioned_at", "first_followup_at",
    "closed_at", "last_activity_at", "title", "content", "category", "classification", "channel",
    "is_confidential", "is_anonymous", "is_supervisory", "reporter_name", "reporter_phone", "reporter_email",
    "extra", "original",
)
# The cells whose text typing can lose (an unreadable optional date, a boolean or a
# classification that does not read): a loaded row keeps `original` only when one of them
# had a non-blank text that came out empty. A rejected row always keeps it.
LOSSY_COLUMNS = tuple(c for c in COMPLAINT_DATES if c != "submitted_at") + (
    "is_confidential", "is_anonymous", "is_supervisory", "classification")


def _lit(value) -> sql.Composable:
    return sql.Literal(value)


class ComplaintQuery:
    """The SQL that types, checks and ranks the rows of `incoming_complaints`."""

    def __init__(self, conn: psycopg.Connection, header: HeaderMap, agency_code: str, export_day: date, *,
                 decoded: bool, line_breaks: bool = False) -> None:
        self.conn = conn
        self.header = header
        self.cells = [f"c{i + 1}" for i in range(len(header.names))]
        self.agency_code = agency_code
        self.export_day = export_day
        self.decoded = decoded  # from the readers: nullable cells, src_line, overflow
        self.line_breaks = line_breaks  # COPYed bytes whose cells hold line breaks: lines in incoming_lines
        self.names = header.names
        self.ws = _lit(PY_WHITESPACE)
        self.records = 0
        self.has_duplicates = False
        self.maps: ValueMaps = ValueMaps(self)

    def read_values(self) -> None:
        self.maps = read_values(self)

    # cells and columns
    def text(self, position: int) -> sql.Composable:
        cell = sql.Identifier(self.cells[position])
        return sql.SQL("coalesce({}, '')").format(cell) if self.decoded else cell

    def cell(self, column: str) -> sql.Composable | None:
        position = self.header.index.get(column)
        return None if position is None else self.text(position)

    def name(self, column: str) -> str:
        return visible(self.header.name_of(column), SHOWN_CHARS)

    def clean(self, column: str) -> sql.Composable:
        cell = self.cell(column)
        if cell is None:
            return sql.SQL("null::text")
        return sql.SQL("nullif({}, '')").format(self.trimmed(cell))

    def trimmed(self, cell: sql.Composable) -> sql.Composable:
        """btrim(cell, PY_WHITESPACE), which walks every character of the cell; a cell whose first
        character and last byte are printable ASCII (most) has no whitespace to trim."""
        return sql.SQL("case when ascii({c}) between 33 and 127 and "
                       "get_byte(convert_to({c}, 'UTF8'), octet_length({c}) - 1) between 33 and 127 "
                       "then {c} else btrim({c}, {ws}) end").format(c=cell, ws=self.ws)

    def shown(self, column: str) -> sql.Composable:
        """A cell as quoted in a reason: stripped, line breaks as U+FFFD (no other control
        character reaches SQL: the readers reject its row), cut to SHOWN_CHARS with an ellipsis."""
        text = sql.SQL("translate(btrim({}, {}), E'\\r\\n', {})").format(
            self.cell(column), self.ws, _lit("\ufffd\ufffd"))
        return sql.SQL("(case when char_length({t}) <= {n} then {t} else left({t}, {m}) || '…' end)").format(
            t=text, n=_lit(SHOWN_CHARS), m=_lit(SHOWN_CHARS - 1))

    def mapped(self, key: str, column: str) -> sql.Composable:
        """The Python reading of this cell's text, from the map `key`."""
        return self.maps.value(key, self.cell(column))

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

    def date(self, column: str) -> sql.Composable:
        """The cell as `parse_datetime` reads it. Every non-empty text that is not a plain
        timestamp is in the date map, so a text not in it is plain: the session's time zone is
        WIB, so the cast reads it as WIB, as the parser does."""
        cell = self.cell(column)
        if cell is None:
            return sql.SQL("null::timestamptz")
        if self.maps.any("date"):
            value = sql.SQL("case when {cell} = '' then null when {has} then {mapped}::timestamptz "
                            "else {cell}::timestamptz end").format(
                cell=cell, has=self.maps.has("date", cell), mapped=self.mapped("date", column))
        else:
            value = sql.SQL("case when {cell} = '' then null else {cell}::timestamptz end").format(cell=cell)
        if column == "submitted_at":
            return value  # -infinity: unreadable, rejected below
        return sql.SQL("nullif({}, {}::timestamptz)").format(value, _lit(UNREADABLE))

    def tracking_id(self) -> sql.Composable:
        if not self.maps.any("tracking"):
            return self.clean("tracking_id")
        return sql.SQL("case when strpos({cell}, '.') > 0 then {mapped} else {clean} end").format(
            cell=self.cell("tracking_id"), mapped=self.mapped("tracking", "tracking_id"),
            clean=self.clean("tracking_id"))

    def line(self) -> sql.Composable:
        """The physical line where the record starts: given by the readers; for COPYed bytes the
        header is line 1, and a record takes one line more for each line break in the cells of
        the records before it (n counts the records from 1; incoming_lines)."""
        return sql.SQL("src_line" if self.decoded else "line_at" if self.line_breaks else "n + 1")

    @property
    def checked(self) -> sql.Composable:
        """Every non-blank row: line, typed values, and its reason code and sentence if it cannot load."""
        return sql.SQL("select *, check_code as code, check_reason as reason from ({}) checked_rows").format(
            self._checked())

    def _checked(self) -> sql.Composable:
        blank = sql.SQL(" and ").join(sql.SQL("btrim({}, {}) = ''").format(self.text(i), self.ws)
                                      for i in range(len(self.cells)))
        dates = sql.SQL(", ").join(sql.SQL("{} as {}").format(self.date(c), sql.Identifier(c))
                                   for c in COMPLAINT_DATES)
        wrong_agency = (sql.SQL("null::text") if self.cell("agency_code") is None
                        else self.mapped("agency", "agency_code"))
        # a date later than the export day: from the next day's midnight WIB on
        day_after = _lit(datetime.combine(self.export_day + timedelta(days=1), dtime(), tzinfo=WIB))
        present = [c for c in COMPLAINT_DATES if self.cell(c) is not None]
        after_code = sql.SQL(" ").join(
            sql.SQL("when {} >= {} then 'date_after_export_day'").format(sql.Identifier(c), day_after)
            for c in present)
        after = sql.SQL(" ").join(
            sql.SQL("when {date} >= {day_after} then concat({a}, {shown}, {b})").format(
                date=sql.Identifier(c), day_after=day_after, shown=self.shown(c), a=_lit("Date '"),
                b=_lit(f"' in column '{self.name(c)}' is later than the export day {self.export_day.isoformat()}."))
            for c in present)
        has_closed = self.cell("closed_at") is not None
        closed_code = sql.SQL("when closed_at < submitted_at then 'closed_before_submitted'" if has_closed else "")
        closed = (sql.SQL("when closed_at < submitted_at then concat({a}, {closed}, {b}, {submitted}, {c})").format(
            a=_lit("Closing date '"), closed=self.shown("closed_at"),
            b=_lit(f"' in column '{self.name('closed_at')}' is earlier than the submission date '"),
            submitted=self.shown("submitted_at"), c=_lit(f"' in column '{self.name('submitted_at')}'."))
            if has_closed else sql.SQL(""))
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
                   where not (tid is null and {blank})  -- a blank record: skipped, as the readers skip it
                   offset 0
               ) s""").format(
            after_code=after_code, closed_code=closed_code,
            missing=_lit(missing_tracking_id(self.name("tracking_id"))),
            status_reason=self.mapped("status_reason", "status"),
            sub_a=_lit("Submission date '"), sub_shown=self.shown("submitted_at"),
            sub_b=_lit(f"' in column '{self.name('submitted_at')}' is not a readable date."),
            sub_empty=_lit(f"Submission date column '{self.name('submitted_at')}' is empty; it is required."),
            after=after, closed=closed, line=self.line(), tid=self.tracking_id(),
            line_at=sql.SQL(", line_at" if self.line_breaks else ""),
            lines_join=sql.SQL(" left join incoming_lines using (n)" if self.line_breaks else ""),
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

    def original(self, loaded: bool = False) -> sql.Composable:
        """The row as read; for a loaded row, only when typing lost a non-blank cell (LOSSY_COLUMNS)."""
        whole = self._object(range(len(self.cells)))
        if self.decoded:
            whole = sql.SQL("({} || coalesce(overflow, '{{}}'::jsonb))").format(whole)
        if not loaded:
            return whole
        lost = [self.maps.loses(column, self.cell(column)) for column in LOSSY_COLUMNS
                if self.cell(column) is not None]
        lost = [test for test in lost if test is not None]
        if not lost:
            return sql.SQL("null::jsonb")
        return sql.SQL("case when {} then {} end").format(sql.SQL(" or ").join(lost), whole)

    def extra(self) -> sql.Composable:
        """The columns no contract column names, and (decoded rows) the cells beyond the header."""
        extra = self.header.extra
        overflow = sql.SQL("overflow" if self.decoded else "null::jsonb")
        if not extra:
            return overflow
        if not self.decoded:
            return self._object(extra)
        return sql.SQL("({} || coalesce(overflow, '{{}}'::jsonb))").format(self._object(extra))

    def _object(self, positions) -> sql.Composable:
        """{header name: cell text}, as a row's `original`/`extra` (jsonb_object: the quickest)."""
        positions = list(positions)
        return sql.SQL("jsonb_object({}::text[], array[{}])").format(
            _lit([self.names[i] for i in positions]),
            sql.SQL(", ").join(sql.Identifier(self.cells[i]) for i in positions))

    @property
    def values(self) -> sql.Composable:
        """The row of raw.complaints, in COMPLAINT_COLUMNS order."""
        out = []
        for column in COMPLAINT_COLUMNS:
            if column in ("line", "status") or column in COMPLAINT_DATES:
                out.append(sql.Identifier(column))
            elif column == "tracking_id":
                out.append(sql.SQL("tid"))
            elif column == "status_text":
                out.append(self.clean("status"))
            elif column == "classification":
                out.append(self.mapped("classification", column) if self.cell(column) is not None
                           else sql.SQL("null::text"))
            elif column.startswith("is_"):
                out.append(sql.SQL("{}::boolean").format(self.mapped("bool", column)) if self.cell(column) is not None
                           else sql.SQL("null::boolean"))
            elif column == "extra":
                out.append(self.extra())
            elif column == "original":
                out.append(self.original(loaded=True))
            else:
                out.append(self.clean(column))
        return sql.SQL(", ").join(out)
