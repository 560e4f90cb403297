"""Rows of a file: complaints as text (`read_complaints`, typed and checked by the loader in
SQL), follow-up reports typed and checked here (`read_followups`, docs/inputs.md)."""
from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from .columns import COMPLAINTS, FOLLOWUPS, HeaderMap, Schema
from .limits import CONTROL, SHOWN_CHARS, control_name, visible
from .model import Note, Reject, missing_tracking_id
from .sources import has_typed_cells, iter_table
from .values import Cell, UnreadableValue, clean_text, clean_tracking_id, parse_datetime


def _as_text(cell: Cell) -> str | None:
    """A cell as the text kept in `original` (spreadsheet dates as ISO text)."""
    if cell is None or isinstance(cell, str):
        return cell
    return cell.isoformat()


def _shown(cell: Cell) -> str:
    """A cell as quoted in a reason: stripped, line breaks as U+FFFD, at most SHOWN_CHARS."""
    text = _as_text(cell)
    return "" if text is None else visible(text.strip(), SHOWN_CHARS)


@dataclass
class TextRow:
    """One record of a file as text, ready to COPY: `cells` in header order, exactly as many as
    the header has (None where the record has no cell, or JSON a null), spreadsheet dates as
    ISO text; the cells beyond the header in `overflow` (`column_<n>` -> text), else None."""

    line: int
    cells: list[str | None]
    overflow: dict[str, str | None] | None = None


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

    def text_row(self, line: int, cells: list[Cell]) -> TextRow:
        width, count = self.width, len(cells)
        texts = [_as_text(c) for c in cells] if self.typed else cells
        if count <= width:
            return TextRow(line, texts + [None] * (width - count))
        original = self.original(cells)
        return TextRow(line, texts[:width], {k: original[k] for k in list(original)[width:]})

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


def read_complaints(path: Path) -> Iterator[HeaderMap | TextRow | Reject | Note]:
    """A complaints export decoded into text: its `HeaderMap` first, then a `TextRow` for each
    record (a `Reject` for one holding a control character) and any `Note`.

    Nothing here types a value or checks a row: the loader does, once, in SQL
    (`lapor.load.complaint_sql`), for every format alike. Raises `FileRejected` when the file
    cannot be read as a complaints export at all: on the first `next()`, before any row, for a
    bad header or an unreadable file; a CSV that turns out broken further down (a quoted field
    never closed) raises it after the rows before the break, so treat one file's rows as one batch.
    """
    path = Path(path)
    items = iter_table(path, COMPLAINTS)
    with closing(items):
        header = next(items, None)  # the header is checked here, before any row is read
        if header is None:
            return
        yield header  # type: ignore[misc]
        table = _Table(header, typed=has_typed_cells(path))  # type: ignore[arg-type]
        for item in items:
            if isinstance(item, Note):
                yield item
                continue
            line, cells = item  # type: ignore[misc]
            yield _control_reject(table, line, cells) or table.text_row(line, cells)


def read_followups(path: Path, *, agency_code: str, submitted_on: date) -> Iterator[dict | Reject]:
    """Canonical follow-up report rows, and a `Reject` for each row that cannot load.

    `FileRejected` is raised as in `read_complaints`. `agency_code` is accepted for symmetry
    with the complaints loader; follow-up reports have no agency column to check. A report
    with a header and no rows yields nothing.
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
                      missing_tracking_id(table.name("tracking_id")), original)

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
