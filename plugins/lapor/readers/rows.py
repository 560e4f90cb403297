"""Canonical rows from table rows: typed values, and the row checks of docs/inputs.md."""
from __future__ import annotations

from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import Iterator

from .columns import COMPLAINT_DATES, COMPLAINTS, FOLLOWUPS, HeaderMap, Schema
from .limits import CONTROL, SHOWN_CHARS, control_name, visible
from .model import Note, Reject
from .sources import has_typed_cells, iter_table
from .values import (
    Cell,
    UnreadableValue,
    clean_text,
    clean_tracking_id,
    is_blank,
    normalize_classification,
    normalize_status,
    parse_bool,
    parse_datetime,
    same_code,
)

_TEXT_COLUMNS = ("title", "content", "category", "channel", "reporter_name", "reporter_phone", "reporter_email")
_BOOL_COLUMNS = ("is_confidential", "is_anonymous", "is_supervisory")


def _as_text(cell: Cell) -> str | None:
    """A cell as the text kept in `original` (spreadsheet dates as ISO text)."""
    if cell is None or isinstance(cell, str):
        return cell
    return cell.isoformat()


def _shown(cell: Cell) -> str:
    """A cell as quoted in a reason: stripped, line breaks as U+FFFD, at most SHOWN_CHARS."""
    text = _as_text(cell)
    return "" if text is None else visible(text.strip(), SHOWN_CHARS)


class _Table:
    """Column positions, names and the `original`/`extra` dicts for the rows of one file.

    The row builders append one None to a row's cells after taking `original`, so an
    absent column (position -1) reads as None without a branch on every cell access.
    """

    def __init__(self, header: HeaderMap, typed: bool) -> None:
        self.header = header
        self.names = header.names
        self.width = len(header.names)
        self.typed = typed  # XLSX cells may be date objects; CSV and JSON cells are text or None
        self.extra = [(header.names[i], i) for i in header.extra]

    def pos(self, column: str) -> int:
        return self.header.index.get(column, -1)

    def name(self, column: str) -> str:
        """A column's header as quoted in a reason (at most SHOWN_CHARS characters)."""
        return visible(self.header.name_of(column), SHOWN_CHARS)

    def original(self, cells: list[Cell]) -> dict[str, str | None]:
        """The row as read: header name -> text, None for a cell the row lacks."""
        names, width, count = self.names, self.width, len(cells)
        texts = [_as_text(c) for c in cells] if self.typed else cells
        row = dict(zip(names, texts))
        if count < width:
            row.update(dict.fromkeys(names[count:]))
        elif count > width:  # cells beyond the header
            for i in range(width, count):
                key = f"column_{i + 1}"
                while key in row:
                    key += "'"
                row[key] = texts[i]
        return row

    def extras(self, original: dict[str, str | None]) -> dict[str, str | None]:
        extra = {name: original[name] for name, _ in self.extra}
        if len(original) > self.width:
            for key in list(original)[self.width:]:
                extra[key] = original[key]
        return extra


def _table_rows(path: Path, schema: Schema) -> Iterator[Note | tuple[_Table, int, list[Cell]]]:
    path = Path(path)
    items = iter_table(path, schema)
    with closing(items):
        header = next(items, None)  # the header is checked here, before any row is read
        if header is None:
            return
        table = _Table(header, typed=has_typed_cells(path))  # type: ignore[arg-type]
        for item in items:
            if isinstance(item, Note):
                yield item
                continue
            line, cells = item  # type: ignore[misc]
            yield table, line, cells


def _control_reject(table: _Table, line: int, cells: list[Cell]) -> Reject | None:
    """A row with a control character in a cell is not text and does not load (NUL cannot even
    be stored); its `original` shows each control character as U+FFFD."""
    texts = [c for c in cells if isinstance(c, str)]
    if not CONTROL.search("".join(texts)):
        return None
    position = next(i for i, c in enumerate(cells) if isinstance(c, str) and CONTROL.search(c))
    name = visible(table.names[position], SHOWN_CHARS) if position < table.width else f"column_{position + 1}"
    original = {k: CONTROL.sub("\ufffd", v) if isinstance(v, str) else v for k, v in table.original(cells).items()}
    tracking = table.pos("tracking_id")
    tracking_id = clean_tracking_id(cells[tracking]) if 0 <= tracking < len(cells) else None
    if tracking_id is not None and CONTROL.search(tracking_id):
        tracking_id = None
    return Reject(line, tracking_id, "control_character",
                  f"Column '{name}' holds a control character ({control_name(cells[position])}), "
                  "which is not text; the row is not loaded.", original)


def read_complaints(path: Path, *, agency_code: str, export_day: date) -> Iterator[dict | Reject]:
    """Canonical complaint rows, and a `Reject` for each row that cannot load.

    Raises `FileRejected` when the file cannot be read as a complaints export at all:
    on the first `next()`, before any row, for a bad header or an unreadable file; a CSV
    that turns out broken further down (a quoted field never closed) raises it after
    the rows before the break, so treat one file's rows as one batch.
    """
    build = None
    for item in _table_rows(path, COMPLAINTS):
        if isinstance(item, Note):
            yield item
            continue
        table, line, cells = item
        if build is None:
            build = _ComplaintBuilder(table, agency_code, export_day)
        yield _control_reject(table, line, cells) or build(line, cells)


class _ComplaintBuilder:
    def __init__(self, table: _Table, agency_code: str, export_day: date) -> None:
        self.table = table
        self.agency_code = agency_code
        self.export_day = export_day
        self.p_tracking = table.pos("tracking_id")
        self.p_status = table.pos("status")
        self.p_agency = table.pos("agency_code")
        self.p_classification = table.pos("classification")
        self.dates = [(c, table.pos(c)) for c in COMPLAINT_DATES]
        self.texts = [(c, table.pos(c)) for c in _TEXT_COLUMNS]
        self.bools = [(c, table.pos(c)) for c in _BOOL_COLUMNS]

    def __call__(self, line: int, cells: list[Cell]) -> dict | Reject:
        table = self.table
        original = table.original(cells)
        cells.append(None)  # position -1: an absent column

        tracking_id = clean_tracking_id(cells[self.p_tracking])
        if tracking_id is None:
            return Reject(line, None, "missing_tracking_id",
                          f"The tracking id column '{table.name('tracking_id')}' is empty.", original)

        status_cell = cells[self.p_status]
        status = normalize_status(status_cell)
        if status is None:
            if is_blank(status_cell):
                reason = f"Status column '{table.name('status')}' is empty; every complaint needs a LAPOR! status."
            else:
                reason = f"Status '{_shown(status_cell)}' is not a known LAPOR! status."
            return Reject(line, tracking_id, "unknown_status", reason, original)

        dates: dict[str, datetime | None] = {}
        for column, position in self.dates:
            value = cells[position]
            try:
                dates[column] = parse_datetime(value)
            except UnreadableValue:
                if column == "submitted_at":
                    return Reject(line, tracking_id, "unreadable_date",
                                  f"Submission date '{_shown(value)}' in column '{table.name(column)}' "
                                  "is not a readable date.", original)
                dates[column] = None  # an optional date: left empty, the raw layer keeps the text
        submitted = dates["submitted_at"]
        if submitted is None:
            return Reject(line, tracking_id, "unreadable_date",
                          f"Submission date column '{table.name('submitted_at')}' is empty; it is required.",
                          original)

        row_agency = clean_text(cells[self.p_agency])
        if row_agency is not None and not same_code(row_agency, self.agency_code):
            return Reject(line, tracking_id, "wrong_agency",
                          f"Agency code '{visible(row_agency, SHOWN_CHARS)}' in column '{table.name('agency_code')}' "
                          f"is not {self.agency_code}, the agency whose folder holds the file.", original)

        export_day = self.export_day
        for column, position in self.dates:
            value = dates[column]
            if value is not None and value.date() > export_day:
                return Reject(line, tracking_id, "date_after_export_day",
                              f"Date '{_shown(cells[position])}' in column '{table.name(column)}' "
                              f"is later than the export day {export_day.isoformat()}.", original)

        closed = dates["closed_at"]
        if closed is not None and closed < submitted:
            return Reject(line, tracking_id, "closed_before_submitted",
                          f"Closing date '{_shown(cells[table.pos('closed_at')])}' in column "
                          f"'{table.name('closed_at')}' is earlier than the submission date "
                          f"'{_shown(cells[table.pos('submitted_at')])}' "
                          f"in column '{table.name('submitted_at')}'.",
                          original)

        row: dict = {
            "line": line,
            "tracking_id": tracking_id,
            "status": status,
            "status_text": clean_text(status_cell),
            **dates,
        }
        for column, position in self.texts:
            row[column] = clean_text(cells[position])
        row["classification"] = normalize_classification(cells[self.p_classification])
        for column, position in self.bools:
            row[column] = parse_bool(cells[position])
        row["extra"] = table.extras(original)
        row["original"] = original
        return row


def read_followups(path: Path, *, agency_code: str, submitted_on: date) -> Iterator[dict | Reject]:
    """Canonical follow-up report rows, and a `Reject` for each row that cannot load.

    `FileRejected` is raised as in `read_complaints`. `agency_code` is accepted for symmetry with `read_complaints`; follow-up reports have
    no agency column to check. A report with a header and no rows yields nothing.
    """
    for item in _table_rows(path, FOLLOWUPS):
        if isinstance(item, Note):
            yield item
            continue
        table, line, cells = item
        yield _control_reject(table, line, cells) or _followup(table, line, cells, submitted_on)


def _followup(table: _Table, line: int, cells: list[Cell], submitted_on: date) -> dict | Reject:
    original = table.original(cells)
    cells.append(None)  # position -1: an absent column

    tracking_id = clean_tracking_id(cells[table.pos("tracking_id")])
    if tracking_id is None:
        return Reject(line, None, "missing_tracking_id",
                      f"The tracking id column '{table.name('tracking_id')}' is empty.", original)

    value = cells[table.pos("followup_at")]
    try:
        followup_at = parse_datetime(value)
    except UnreadableValue:
        return Reject(line, tracking_id, "unreadable_date",
                      f"Follow-up date '{_shown(value)}' in column '{table.name('followup_at')}' "
                      "is not a readable date.", original)
    if followup_at is None:
        return Reject(line, tracking_id, "unreadable_date",
                      f"Follow-up date column '{table.name('followup_at')}' is empty; it is required.",
                      original)
    if followup_at.date() > submitted_on:
        return Reject(line, tracking_id, "date_after_export_day",
                      f"Follow-up date '{_shown(value)}' in column '{table.name('followup_at')}' "
                      f"is later than the day the report was submitted, {submitted_on.isoformat()}.",
                      original)

    return {
        "line": line,
        "tracking_id": tracking_id,
        "followup_at": followup_at,
        "action": clean_text(cells[table.pos("action")]),
        "result_status": clean_text(cells[table.pos("result_status")]),
        "officer": clean_text(cells[table.pos("officer")]),
        "extra": table.extras(original),
        "original": original,
    }
