"""Pure readers of the drop-folder files (docs/inputs.md).

A file path in; canonical rows (dicts) and row rejects (`Reject`) out, as a generator.
A file that cannot be read at all raises `FileRejected`, before any row is yielded (the
header is checked first); only a CSV broken further down raises it mid-stream.
No database, no Airflow, no network.

- `columns`: the header alias tables and header matching.
- `values`: dates, booleans, statuses, classifications, tracking ids.
- `sources`: CSV, XLSX and JSON reduced to a header and numbered rows of cells.
- `rows`: typed canonical rows and the row checks.
"""
from __future__ import annotations

from .model import FILE_REASON_CODES, ROW_REASON_CODES, FileRejected, Reject
from .rows import read_complaints, read_followups

__all__ = [
    "FILE_REASON_CODES",
    "ROW_REASON_CODES",
    "FileRejected",
    "Reject",
    "read_complaints",
    "read_followups",
]
