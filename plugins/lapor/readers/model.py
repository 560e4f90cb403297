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
    "control_character",
)
FILE_REASON_CODES = (
    "unreadable_file", "no_header", "missing_required_column",
    # limits (lapor.readers.limits)
    "file_too_large", "too_many_columns", "cell_too_large", "uncompressed_too_large", "control_character",
    # what the drop folder may not hold (lapor.sources.folder): never opened
    "symlink", "not_a_regular_file", "outside_drop_folder",
    # anything else that went wrong while the file was landed or loaded (the task log has the error)
    "load_failed",
)


def missing_tracking_id(column: str) -> str:
    """The reason of `missing_tracking_id`, for a complaint (the loader's SQL) and a follow-up
    row (the reader) alike; `column` as quoted (at most SHOWN_CHARS characters)."""
    return f"The tracking id column '{column}' is empty."


# Recorded in quality.input_warnings: the file (or folder) was read or skipped, and someone should look.
WARNING_CODES = ("mixed_encoding", "unregistered_folder", "misnamed_file", "unexpected_entry")


@dataclass
class Reject:
    """One row that cannot load; the rest of the file still does."""

    line: int  # CSV: physical line where the record starts (header = 1); XLSX: sheet row; JSON: array position (1-based)
    tracking_id: str | None
    reason_code: str
    reason: str  # one English sentence naming the column and the value
    original: dict[str, str | None]  # the row as read: original header -> original text


@dataclass
class Note:
    """Something about a file that did not stop it from loading but should be seen (a warning)."""

    reason_code: str
    reason: str


class FileRejected(Exception):
    """The whole file cannot be read: corrupt, no recognisable header, or a required column missing."""

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason_code}: {self.reason}"
