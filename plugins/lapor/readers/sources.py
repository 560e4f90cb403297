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
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

from .columns import HeaderMap, Schema, describe_required, map_headers, missing_required
from .limits import CONTROL, Limits, control_name, visible
from .model import FileRejected, Note
from .values import Cell

TableItem = HeaderMap | Note | tuple[int, list[Cell]]

_CHUNK = 1 << 18
_HEADER_SEARCH_ROWS = 6  # an XLSX header may follow up to 5 title rows
_SHOWN_HEADERS = 25

# cp1252 leaves five bytes undefined; read them as Latin-1 rather than fail the file.
codecs.register_error(
    "lapor_latin1", lambda err: (err.object[err.start:err.end].decode("latin-1"), err.end)
)
# A UTF-8 file with a few stray bytes (a cell pasted from a Windows program): the bytes that
# are not UTF-8 are read as cp1252, the rest as UTF-8, and the file gets a `mixed_encoding` note.
codecs.register_error(
    "lapor_cp1252", lambda err: (err.object[err.start:err.end].decode("cp1252", errors="lapor_latin1"), err.end)
)


def has_typed_cells(path: Path) -> bool:
    """Whether cells may be date objects (XLSX) rather than only text or None (CSV, JSON)."""
    return path.suffix.lower() == ".xlsx"


def iter_table(path: Path, schema: Schema, limits: Limits | None = None) -> Iterator[TableItem]:
    """The file's header, then its rows; a `Note` may follow the header (CSV encoding)."""
    limits = limits or Limits.from_env()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_table(path, schema, limits)
    if suffix == ".xlsx":
        return _xlsx_table(path, schema, limits)
    if suffix == ".json":
        return _json_table(path, schema, limits)
    raise FileRejected(
        "unreadable_file",
        f"The file extension '{visible(path.suffix, 20)}' is not one of .csv, .xlsx or .json.",
    )


def _too_many_columns(count: int, where: str, limits: Limits) -> FileRejected:
    return FileRejected(
        "too_many_columns",
        f"{where} has {count:,} columns; the limit (LAPOR_MAX_COLUMNS) is {limits.max_columns:,}.",
    )


def _cell_too_large(size: int, where: str, limits: Limits) -> FileRejected:
    return FileRejected(
        "cell_too_large",
        f"A cell {where} holds {size:,} characters; the limit (LAPOR_MAX_CELL_CHARS) is {limits.max_cell_chars:,}.",
    )


def _width(cells: list) -> int:
    """Cells up to the last non-blank one (a spreadsheet pads its rows to the sheet's width)."""
    width = len(cells)
    while width and (cells[width - 1] is None or cells[width - 1] == ""):
        width -= 1
    return width


def _check_cells(cells: list, where: str, limits: Limits) -> None:
    """Width and cell size of one row of an XLSX or JSON file (the CSV reader checks its own)."""
    if len(cells) > limits.max_columns and _width(cells) > limits.max_columns:
        raise _too_many_columns(_width(cells), where, limits)
    longest = max((len(c) for c in cells if isinstance(c, str)), default=0)
    if longest > limits.max_cell_chars:
        raise _cell_too_large(longest, f"in {where.lower()}", limits)


# --- header -------------------------------------------------------------------------

def _shown(headers: Iterable[object]) -> str:
    texts = [str(h).strip() for h in headers if h is not None and str(h).strip()]
    if not texts:
        return "none"
    shown = ", ".join(f"'{visible(t, 60)}'" for t in texts[:_SHOWN_HEADERS])
    return shown + (f" and {len(texts) - _SHOWN_HEADERS} more" if len(texts) > _SHOWN_HEADERS else "")


def resolve_header(headers: list[object], schema: Schema, where: str = "The header",
                   limits: Limits | None = None) -> HeaderMap:
    """Map a header row; raise too_many_columns, control_character, no_header (no required
    column) or missing_required_column."""
    limits = limits or Limits.from_env()
    if _width(headers) > limits.max_columns:
        raise _too_many_columns(_width(headers), where, limits)
    for position, header in enumerate(headers, start=1):
        if isinstance(header, str) and CONTROL.search(header):
            raise FileRejected(
                "control_character",
                f"{where} holds a control character ({control_name(header)}) in its column {position}; "
                "a header must be text.",
            )
        if isinstance(header, str) and len(header) > limits.max_cell_chars:
            raise _cell_too_large(len(header), f"of {where.lower()}", limits)
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

def _detect_encoding(path: Path) -> tuple[str, str, int]:
    """(encoding, errors, stray bytes) for the whole file: UTF-8 (BOM stripped) if it all
    decodes; cp1252 if no byte of it reads as UTF-8 text beyond ASCII (a Windows export);
    UTF-8 with its stray bytes read as cp1252 when both are there (`stray bytes` > 0).

    Reads the file once in chunks, so memory does not grow with its size.
    """
    with path.open("rb") as handle:
        first = handle.read(_CHUNK)
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", "strict", 0
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        chunk, stray, utf8_text = first, 0, False
        while True:
            text = decoder.decode(chunk, final=not chunk)
            if not text.isascii():
                replaced = text.count("\ufffd")
                stray += replaced
                utf8_text = utf8_text or len(text.encode("utf-8")) - len(text) > 2 * replaced
            if not chunk:
                break
            chunk = handle.read(_CHUNK)
    if not stray:
        return "utf-8-sig", "strict", 0
    if not utf8_text:
        return "cp1252", "lapor_latin1", 0
    return "utf-8-sig", "lapor_cp1252", stray


def _sniff_delimiter(line: str, schema: Schema) -> str:
    """`,` or `;`: whichever splits the header line into more recognised columns."""
    def score(delimiter: str) -> tuple[int, int]:
        try:
            cells = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:  # split by the wrong one, a wide header is one cell over the size limit
            return -1, 0
        return schema.recognised(cells), len(cells)

    return max((",", ";"), key=score)  # max keeps the first on a tie: ","


# Fed to the CSV reader after the last line: it comes back as a record of its own unless
# the file ends inside a quoted field, which would otherwise swallow the rest of the file
# into one cell without a word. Drawn at random for each file read, so that no file can hold
# it: a fixed marker written into a file as a line of its own ended the reading there, and
# every row after it was gone without a word.
def _end_marker() -> str:
    return f"\x00lapor:end-of-file:{secrets.token_hex(16)}\x00"


def _csv_table(path: Path, schema: Schema, limits: Limits) -> Iterator[TableItem]:
    try:
        encoding, errors, stray = _detect_encoding(path)
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
            csv.field_size_limit(limits.max_cell_chars)
            end = _end_marker()
            reader = csv.reader(
                itertools.chain([first], lines, [end]), delimiter=_sniff_delimiter(first, schema)
            )
            header = next(reader)
            if header and header[-1].endswith(end):
                raise FileRejected("unreadable_file", "A quoted field in the header line is never closed.")
            yield resolve_header(list(header), schema, "The header line", limits)
            if stray:
                yield Note("mixed_encoding",
                           f"The file is UTF-8, but in {stray:,} place(s) its bytes are not; those bytes were read "
                           "as Windows-1252 (cp1252) characters. Check the rows with unusual letters.")
            previous = reader.line_num
            max_columns = limits.max_columns
            for cells in reader:
                start = skipped + previous + 1
                previous = reader.line_num
                if len(cells) > max_columns:
                    raise _too_many_columns(len(cells), f"The record starting on line {start}", limits)
                if cells and cells[-1].endswith(end):
                    if len(cells) == 1 and cells[0] == end:
                        break
                    raise FileRejected(
                        "unreadable_file",
                        f"A quoted field in the record starting on line {start} is never closed, "
                        "so the rest of the file cannot be read.",
                    )
                if cells and not _blank(cells):
                    yield start, cells
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise FileRejected(
                    "cell_too_large",
                    f"A cell near line {skipped + previous + 1} holds more than {limits.max_cell_chars:,} "
                    f"characters, the limit (LAPOR_MAX_CELL_CHARS).",
                ) from None
            raise FileRejected(
                "unreadable_file", f"The file is not readable CSV near line {skipped + previous + 1}: {exc}."
            ) from None
        except UnicodeError as exc:
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


def check_xlsx_size(path: Path, limits: Limits) -> None:
    """Unpack the workbook once, counting, before a spreadsheet library holds it in memory:
    more than LAPOR_MAX_UNCOMPRESSED_MB unpacked, or an XML text longer than any cell may be
    (a zip bomb: a few hundred KB that unpack to one 200 MB cell), rejects the file. The
    sizes a zip declares are not trusted: the bytes are counted as they come. A file that is
    not a zip at all is left to the spreadsheet libraries to refuse."""
    import zipfile

    budget = limits.max_uncompressed_bytes
    # A cell of N characters is at least N bytes of XML text without a '<'; a run of 4 bytes
    # per allowed character is certainly too long (shorter ones are checked cell by cell).
    longest_text = 4 * limits.max_cell_chars
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with archive:
        total = 0
        for info in archive.infolist():
            if info.is_dir():
                continue
            run = 0
            try:
                with archive.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        total += len(chunk)
                        if total > budget:
                            raise FileRejected(
                                "uncompressed_too_large",
                                f"The workbook unpacks to more than {limits.max_uncompressed_mb:,} MB, the limit "
                                "(LAPOR_MAX_UNCOMPRESSED_MB).")
                        pieces = chunk.split(b"<")  # the text between two tags is one piece
                        if len(pieces) == 1:
                            run += len(chunk)
                            longest = run
                        else:
                            longest = max(run + len(pieces[0]), max(map(len, pieces[1:]), default=0))
                            run = len(pieces[-1])
                        if longest > longest_text:
                            raise FileRejected(
                                "cell_too_large",
                                f"A text in the workbook is longer than {limits.max_cell_chars:,} characters, the "
                                "limit for a cell (LAPOR_MAX_CELL_CHARS).")
            except FileRejected:
                raise
            except Exception:  # noqa: BLE001 - a broken member: the libraries say what is wrong
                return


def _xlsx_table(path: Path, schema: Schema, limits: Limits) -> Iterator[TableItem]:
    if not path.exists():
        raise FileRejected("unreadable_file", f"The file cannot be read: {path} does not exist.")
    check_xlsx_size(path, limits)
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
        header_map = resolve_header(texts[header_at], schema, where, limits)
        yield header_map
        line = header_at + 1
        for row in itertools.chain(texts[header_at + 1:], ([_xlsx_cell(v) for v in r] for r in rows)):
            line += 1
            _check_cells(row, f"Row {line} of the first sheet", limits)
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


def _json_table(path: Path, schema: Schema, limits: Limits) -> Iterator[TableItem]:
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
    yield resolve_header(list(headers), schema, "The JSON objects' keys", limits)
    for position, item in enumerate(data, start=1):
        cells = [_json_cell(item[k]) if k in item else None for k in headers]
        _check_cells(cells, f"Item {position} of the JSON array", limits)
        if not _blank(cells):
            yield position, cells
