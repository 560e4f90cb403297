"""Pure readers of the drop-folder files (docs/inputs.md).

A file path in; rows and row rejects (`Reject`) out, as a generator: a complaints export as
text (`TextRow`s after its `HeaderMap`: the loader types and checks them in SQL, the one place
its row rules live), a follow-up report as typed, checked rows.
A file that cannot be read at all raises `FileRejected`, before any row is yielded (the
header is checked first); only a CSV broken further down raises it mid-stream.
No database, no Airflow, no network.

- `columns`: the header alias tables and header matching.
- `values`: dates, booleans, statuses, classifications, tracking ids (the loader asks them
  for every text of a file that SQL does not read itself).
- `sources`: CSV, XLSX and JSON reduced to a header and numbered rows of cells.
- `rows`: complaints as text rows; follow-up rows typed and checked.
- `canonical`: when PostgreSQL's COPY may parse a CSV itself (the loader's quick decoding).
"""
from __future__ import annotations

from .model import FILE_REASON_CODES, ROW_REASON_CODES, FileRejected, Reject
from .rows import TextRow, read_complaints, read_followups

__all__ = [
    "FILE_REASON_CODES",
    "ROW_REASON_CODES",
    "FileRejected",
    "Reject",
    "TextRow",
    "read_complaints",
    "read_followups",
]
