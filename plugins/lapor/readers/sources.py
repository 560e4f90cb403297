"""The three file formats, reduced to one shape: a header, then numbered rows of cells.

`iter_table(path, schema)` is a generator. Its first item is the resolved `HeaderMap`
(the header is checked before any row is read, so a whole-file problem raises
`FileRejected` first); every later item is `(line, cells)`. A cell is text or None, or a
`date`/`datetime` object from a spreadsheet date cell. Entirely blank rows are skipped.
A file that has a valid format but no rows and no header at all (a JSON `[]`) yields
nothing.
"""
from __future__ import annotations

import codecs
import csv
import itertools
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

from .columns import HeaderMap, Schema, describe_required, map_headers, missing_required
from .model import FileRejected
from .values import Cell

TableItem = HeaderMap | tuple[int, list[Cell]]

_CHUNK = 1 << 18
_HEADER_SEARCH_ROWS = 6  # an XLSX header may follow up to 5 title rows
_SHOWN_HEADERS = 25

# cp1252 leaves five bytes undefined; read them as Latin-1 rather than fail the file.
codecs.register_error(
    "lapor_latin1", lambda err: (err.object[err.start:err.end].decode("latin-1"), err.end)
)


def has_typed_cells(path: Path) -> bool:
    """Whether cells may be date objects (XLSX) rather than only text or None (CSV, JSON)."""
    return path.suffix.lower() == ".xlsx"


def iter_table(path: Path, schema: Schema) -> Iterator[TableItem]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_table(path, schema)
    if suffix == ".xlsx":
        return _xlsx_table(path, schema)
    if suffix == ".json":
        return _json_table(path, schema)
    raise FileRejected(
        "unreadable_file",
        f"The file extension '{path.suffix}' is not one of .csv, .xlsx or .json.",
    )


# --- header -------------------------------------------------------------------------

def _shown(headers: Iterable[object]) -> str:
    texts = [str(h).strip() for h in headers if h is not None and str(h).strip()]
    if not texts:
        return "none"
    shown = ", ".join(f"'{t}'" for t in texts[:_SHOWN_HEADERS])
    return shown + (f" and {len(texts) - _SHOWN_HEADERS} more" if len(texts) > _SHOWN_HEADERS else "")


def resolve_header(headers: list[object], schema: Schema, where: str = "The header") -> HeaderMap:
    """Map a header row; raise no_header (no required column) or missing_required_column."""
    header_map = map_headers(headers, schema)
    missing = missing_required(header_map, schema)
    if len(missing) == len(schema.required):
        raise FileRejected(
            "no_header",
            f"{where} names none of the required {schema.name} columns "
            f"({', '.join(describe_required(c, schema) for c in schema.required)}); "
            f"headers found: {_shown(headers)}.",
        )
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise FileRejected(
            "missing_required_column",
            f"Required {schema.name} column{plural} "
            f"{', '.join(describe_required(c, schema) for c in missing)} missing; "
            f"headers found: {_shown(headers)}.",
        )
    return header_map


def _blank(cells: list[Cell]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


# --- CSV ----------------------------------------------------------------------------

def _detect_encoding(path: Path) -> tuple[str, str]:
    """(encoding, errors) for the whole file: UTF-8 (BOM stripped) if it all decodes, else cp1252.

    Reads the file once in chunks, so memory does not grow with its size.
    """
    with path.open("rb") as handle:
        first = handle.read(_CHUNK)
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", "strict"
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk = first
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = handle.read(_CHUNK)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252", "lapor_latin1"
    return "utf-8-sig", "strict"


def _sniff_delimiter(line: str, schema: Schema) -> str:
    """`,` or `;`: whichever splits the header line into more recognised columns."""
    def score(delimiter: str) -> tuple[int, int]:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        return schema.recognised(cells), len(cells)

    return max((",", ";"), key=score)  # max keeps the first on a tie: ","


# Fed to the CSV reader after the last line: it comes back as a record of its own unless
# the file ends inside a quoted field, which would otherwise swallow the rest of the file
# into one cell without a word.
_END = "\x00lapor:end-of-file\x00"


def _csv_table(path: Path, schema: Schema) -> Iterator[TableItem]:
    try:
        encoding, errors = _detect_encoding(path)
        handle = path.open(encoding=encoding, errors=errors, newline="")
    except (OSError, UnicodeError) as exc:
        raise FileRejected("unreadable_file", f"The file cannot be read: {exc}.") from None
    with handle:
        skipped = 0  # blank physical lines before the header
        previous = 0  # physical lines (after `skipped`) the reader has consumed
        try:
            lines = iter(handle)
            first = None
            for physical in lines:
                if physical.strip():
                    first = physical
                    break
                skipped += 1
            if first is None:
                raise FileRejected("no_header", "The file is empty: it has no header row.")
            reader = csv.reader(
                itertools.chain([first], lines, [_END]), delimiter=_sniff_delimiter(first, schema)
            )
            header = next(reader)
            if header and header[-1].endswith(_END):
                raise FileRejected("unreadable_file", "A quoted field in the header line is never closed.")
            yield resolve_header(list(header), schema, "The header line")
            previous = reader.line_num
            for cells in reader:
                start = skipped + previous + 1
                previous = reader.line_num
                if cells and cells[-1].endswith(_END):
                    if len(cells) == 1 and cells[0] == _END:
                        break
                    raise FileRejected(
                        "unreadable_file",
                        f"A quoted field in the record starting on line {start} is never closed, "
                        "so the rest of the file cannot be read.",
                    )
                if cells and not _blank(cells):
                    yield start, cells
        except (csv.Error, UnicodeError) as exc:
            raise FileRejected(
                "unreadable_file", f"The file is not readable CSV near line {skipped + previous + 1}: {exc}."
            ) from None


# --- XLSX ---------------------------------------------------------------------------

def _xlsx_cell(value: Any) -> Cell:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _calamine_rows(path: Path) -> Iterator[list[Any]]:
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    try:
        sheet = workbook.get_sheet_by_index(0)
        # iter_rows starts at the sheet's first row (leading empty rows included), so the
        # n-th row it gives is the sheet's row n.
        yield from sheet.iter_rows()
    finally:
        workbook.close()


def _openpyxl_rows(path: Path) -> Iterator[list[Any]]:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(min_row=1, values_only=True):
            yield list(row)
    finally:
        workbook.close()


def _open_xlsx(path: Path) -> tuple[Iterator[list[Any]], list[list[Any]]]:
    """The first sheet's rows (row 1 first) and its first rows already read.

    python-calamine first; openpyxl when calamine is missing or cannot open the file.
    """
    failures: list[str] = []
    for rows_of in (_calamine_rows, _openpyxl_rows):
        try:
            rows = rows_of(path)
            head = list(itertools.islice(rows, _HEADER_SEARCH_ROWS))
            return rows, head
        except ImportError:
            continue
        except Exception as exc:  # noqa: BLE001 - every library error means "cannot read"
            failures.append(f"{type(exc).__name__}: {exc}")
    reason = failures[0] if failures else "no spreadsheet library is available"
    raise FileRejected("unreadable_file", f"The file is not a readable XLSX workbook ({reason}).")


def _xlsx_table(path: Path, schema: Schema) -> Iterator[TableItem]:
    if not path.exists():
        raise FileRejected("unreadable_file", f"The file cannot be read: {path} does not exist.")
    rows, head = _open_xlsx(path)
    try:
        texts = [[_xlsx_cell(v) for v in row] for row in head]
        complete = [i for i, row in enumerate(texts) if schema.required_found(row) == len(schema.required)]
        if complete:
            header_at = complete[0]
        else:
            # the most nearly complete candidate explains the rejection best
            scores = [schema.required_found(row) for row in texts]
            best = max(scores, default=0)
            if best == 0:
                first_filled = next((row for row in texts if not _blank(row)), [])
                if not first_filled:
                    raise FileRejected("no_header", "The first sheet is empty: it has no header row.")
                raise FileRejected(
                    "no_header",
                    f"None of the first {_HEADER_SEARCH_ROWS} rows of the first sheet names a required "
                    f"{schema.name} column "
                    f"({', '.join(describe_required(c, schema) for c in schema.required)}); "
                    f"first row found: {_shown(first_filled)}.",
                )
            header_at = scores.index(best)
        where = f"Row {header_at + 1} of the first sheet"
        header_map = resolve_header(texts[header_at], schema, where)
        yield header_map
        line = header_at + 1
        for row in itertools.chain(texts[header_at + 1:], ([_xlsx_cell(v) for v in r] for r in rows)):
            line += 1
            if not _blank(row):
                yield line, row
    except FileRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - a sheet that breaks while being read
        raise FileRejected("unreadable_file", f"The workbook broke while being read: {exc}.") from None
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


# --- JSON ---------------------------------------------------------------------------

def _json_cell(value: Any) -> Cell:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _json_table(path: Path, schema: Schema) -> Iterator[TableItem]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileRejected("unreadable_file", f"The file cannot be read: {exc}.") from None
    try:
        try:
            data = json.loads(raw)
        except UnicodeDecodeError:
            data = json.loads(raw.decode("cp1252", errors="lapor_latin1"))
    except (ValueError, RecursionError) as exc:
        if not raw.strip():
            raise FileRejected("unreadable_file", "The file is empty: it holds no JSON.") from None
        raise FileRejected("unreadable_file", f"The file is not valid JSON: {exc}.") from None
    del raw
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise FileRejected(
            "unreadable_file",
            "The JSON is neither an array of objects nor an object whose 'data' member is one.",
        )
    keys: dict[str, None] = {}
    for position, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise FileRejected(
                "unreadable_file",
                f"Item {position} of the JSON array is a {type(item).__name__}, not an object.",
            )
        keys.update(dict.fromkeys(item))
    if not data:
        return  # an empty export: nothing to read, nothing wrong
    headers = list(keys)
    yield resolve_header(list(headers), schema, "The JSON objects' keys")
    for position, item in enumerate(data, start=1):
        cells = [_json_cell(item[k]) if k in item else None for k in headers]
        if not _blank(cells):
            yield position, cells
