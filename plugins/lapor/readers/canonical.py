"""When a CSV can skip the readers' decoding: PostgreSQL's COPY parses it exactly as they would.

The loader (`lapor.load.complaints`) types, checks and rejects a complaints export's rows in
SQL, from text. A CSV's text can get there two ways: its bytes straight through
`COPY … (FORMAT csv)` (the fast path), or the rows `sources._csv_table` (Python's `csv`
module) decodes. The first is only right when PostgreSQL splits the file into the same
records and cells as the second. This module decides that, without a database:

- `plan_csv(path, schema)` reads the header line and says how to COPY the file (delimiter,
  BOM, header map), or None when the header is anything but a plain first line.
- `QuoteCheck` is fed the file's bytes as they are sent. It accepts only files whose quotes
  mean the same to both parsers: every field either has no `"` at all, or is wholly
  quoted (`"…"`, inner quotes doubled) and ends at a delimiter or a line end. A stray quote
  (`5 inch"`, `ab"c`, `"a"b`) makes PostgreSQL re-enter quoted mode where Python reads a
  literal quote, so the readers decode such a file. It also refuses the end-of-data
  marker `\\.` anywhere, which COPY would take for the end of the file.

Everything else that could make the two disagree makes COPY fail (a row with too few or
too many cells, a blank line, bytes that are not UTF-8, a NUL, an unclosed quote, mixed
line ends), and the loader then has the readers decode the file. Tests compare the two ways
on the corpus (tests/test_load_fast_path.py).
"""
from __future__ import annotations

import codecs
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from .columns import HeaderMap, Schema
from .limits import CONTROL_BYTES, Limits
from .model import FileRejected
from .sources import _sniff_delimiter, resolve_header

# The characters str.strip() removes (every c with c.isspace(); a test checks the list):
# the SQL side strips with exactly these.
PY_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_HEADER_MAX = 1 << 16


@dataclass(frozen=True)
class CsvPlan:
    delimiter: str
    header: HeaderMap
    width: int


def plan_csv(path: Path, schema: Schema) -> CsvPlan | None:
    """How to COPY this file, or None when it needs the Python reader (never raises)."""
    if path.suffix.lower() != ".csv":
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEADER_MAX)
    except OSError:
        return None
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    end = head.find(b"\n")
    if end < 0:
        return None
    raw = head[:end + 1]
    if b'"' in raw or b"\\." in raw or b"\x00" in raw:
        return None
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not line.strip() or "\r" in line[:-2]:
        return None
    delimiter = _sniff_delimiter(line, schema)
    cells = line.rstrip("\r\n").split(delimiter)
    limits = Limits.from_env()
    if len(cells) > limits.max_columns:
        return None  # the Python reader rejects it (too_many_columns) with the line it is on
    try:
        header = resolve_header(list(cells), schema, "The header line", limits)
    except FileRejected:
        return None
    return CsvPlan(delimiter, header, len(cells))


class QuoteCheck:
    """Fed a CSV's bytes in order; `ok` stays True while both parsers would agree on them.

    Quotes toggle between outside and inside a quoted field (a doubled quote inside one is
    a close and an immediate re-open). An opening quote must follow a delimiter, a line end
    or a closing quote; a closing quote must precede a delimiter, a line end, the end of
    the file or an opening quote.

    It also counts the line breaks inside quoted fields, by record (the record's number, from
    1 after the header, and its line breaks; CR LF, CR or LF count one each, as the Python
    reader counts physical lines), so the loader knows each record's first line without
    reading the cells again. A record ends at an LF outside quotes (a file the fast path
    takes ends its lines with LF or CR LF, and its header holds no quote). The counts go,
    as `record<TAB>breaks` lines in record order, to `spool`, a temporary file that stays
    on disk past 1 MB: memory does not grow with the file (`spooled()` rewinds it for a
    COPY; `breaks()` reads it back).
    """

    def __init__(self, delimiter: str) -> None:
        self.opening_after = {ord(delimiter), 0x0A, 0x0D, 0x22}
        self.closing_before = {ord(delimiter), 0x0A, 0x0D, 0x22}
        self.in_quotes = False
        self.previous = 0x0A        # the byte before the chunk: the file starts at a line start
        self.pending_close = False  # a closing quote ended the previous chunk: check this one's first byte
        self.opened = 0             # where the open quoted field started, in the current chunk
        self.spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # record<TAB>breaks lines
        self.total_breaks = 0       # line breaks in quoted cells, in all records
        self.record = 0             # the record whose breaks are being counted, not yet spooled
        self.record_breaks = 0
        self.newlines = 0           # LFs outside quotes before `mark` (the header's is the first)
        self.spanning = False       # the open quoted field started in an earlier chunk
        self.span_record = 0        # that field's record
        self.span_breaks = 0        # that field's line breaks so far
        self.span_cr = False        # its part so far ends with a CR (a CR LF split by the chunks)
        self.ok = True

    @property
    def line_breaks(self) -> bool:
        """Whether a quoted field holds a line break (records span lines)."""
        return self.total_breaks > 0

    def _add(self, record: int, breaks: int) -> None:
        if record != self.record:
            self._flush()
            self.record = record
        self.record_breaks += breaks
        self.total_breaks += breaks

    def _flush(self) -> None:
        if self.record_breaks:
            self.spool.write(b"%d\t%d\n" % (self.record, self.record_breaks))
        self.record_breaks = 0

    def spooled(self) -> IO[bytes]:
        """The spool, complete and rewound: `record<TAB>breaks` lines, records in order."""
        self._flush()
        self.spool.seek(0)
        return self.spool

    def breaks(self) -> Iterator[tuple[int, int]]:
        """(record, line breaks in its cells), for the records with any, in order."""
        for text in self.spooled():
            record, count = text.split(b"\t")
            yield int(record), int(count)

    def close(self) -> None:
        self.spool.close()

    @staticmethod
    def _count(chunk: bytes, start: int, end: int) -> int:
        cr = chunk.count(b"\r", start, end)
        lf = chunk.count(b"\n", start, end)
        return cr + lf - (chunk.count(b"\r\n", start, end) if cr and lf else 0)

    def feed(self, chunk: bytes) -> None:
        if not self.ok or not chunk:
            return
        if CONTROL_BYTES.search(chunk):
            self.ok = False  # a control character: the readers reject its row
            return
        if b"\\." in chunk or (self.previous == 0x5C and chunk[0] == 0x2E):
            self.ok = False  # COPY's end-of-data marker, or text that could be it
            return
        if self.pending_close:
            self.pending_close = False
            if chunk[0] not in self.closing_before:
                self.ok = False
                return
        size = len(chunk)
        mark = 0  # the LFs before it are counted in self.newlines
        position = chunk.find(b'"')
        while position >= 0:
            if self.in_quotes:  # closing
                if self.spanning:
                    self.spanning = False
                    found = self.span_breaks + self._count(chunk, 0, position)
                    if self.span_cr and chunk[0] == 0x0A:
                        found -= 1  # a CR LF split by the chunks: one line break
                    if found:
                        self._add(self.span_record, found)
                    mark = position
                elif chunk.find(b"\n", self.opened, position) >= 0 or chunk.find(b"\r", self.opened, position) >= 0:
                    # every LF between mark and the opening quote is outside quotes
                    self.newlines += chunk.count(b"\n", mark, self.opened)
                    record = self.newlines
                    self._add(record, self._count(chunk, self.opened, position))
                    mark = position
                if position + 1 == size:
                    self.pending_close = True
                elif chunk[position + 1] not in self.closing_before:
                    self.ok = False
                    return
            else:  # opening
                before = chunk[position - 1] if position else self.previous
                if before not in self.opening_after:
                    self.ok = False
                    return
                self.opened = position
            self.in_quotes = not self.in_quotes
            position = chunk.find(b'"', position + 1)
        if self.in_quotes:  # a quoted field runs on into the next chunk
            if self.spanning:  # through the whole chunk
                found = self._count(chunk, 0, size)
                if self.span_cr and chunk[0] == 0x0A:
                    found -= 1
                self.span_breaks += found
            else:
                self.newlines += chunk.count(b"\n", mark, self.opened)
                self.spanning = True
                self.span_record = self.newlines
                self.span_breaks = self._count(chunk, self.opened, size)
            self.span_cr = chunk[-1] == 0x0D
            self.opened = 0
        else:
            self.newlines += chunk.count(b"\n", mark)
        self.previous = chunk[-1]
