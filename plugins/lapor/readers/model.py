"""What the readers hand back besides canonical rows: row rejects and whole-file rejects."""
from __future__ import annotations

from dataclasses import dataclass

ROW_REASON_CODES = (
    "missing_tracking_id",
    "unknown_status",
    "unreadable_date",
    "closed_before_submitted",
    "date_after_export_day",
    "wrong_agency",
)
FILE_REASON_CODES = ("unreadable_file", "no_header", "missing_required_column")


@dataclass
class Reject:
    """One row that cannot load; the rest of the file still does."""

    line: int  # CSV: physical line where the record starts (header = 1); XLSX: sheet row; JSON: array position (1-based)
    tracking_id: str | None
    reason_code: str
    reason: str  # one English sentence naming the column and the value
    original: dict[str, str | None]  # the row as read: original header -> original text


class FileRejected(Exception):
    """The whole file cannot be read: corrupt, no recognisable header, or a required column missing."""

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason_code}: {self.reason}"
