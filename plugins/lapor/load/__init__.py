"""Load landed files into the raw layer: one transaction per batch, rows streamed with COPY.

A complaints batch is (agency, export day); a follow-up batch is (agency, month, day
submitted). A batch is replaced whole or not at all: readers of the warehouse never see
half of one, and a process killed mid-load leaves the previous state. The same bytes
delivered again change nothing.

- `batches`: the batch records and the deletes that replace a batch.
- `complaints`: a complaints export, any format, to raw.complaints (one path).
- `complaint_sql`: the row rules of a complaints export, in SQL, written once.
- `complaint_values`: the texts SQL does not read itself, read by `lapor.readers.values`.
- `followup`: a follow-up report to raw.followup_rows.
- `rejects`: rejected rows and files, and a file's warnings.
"""
from __future__ import annotations

from .batches import BatchResult
from .complaints import load_complaints
from .followup import load_followup
from .rejects import already_refused, reject_source

__all__ = ["BatchResult", "already_refused", "load_complaints", "load_followup", "reject_source"]
