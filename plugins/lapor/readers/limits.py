"""What a file from an agency may hold at most, and the characters a cell may not hold.

Every limit is a setting (read from the environment at each load, so a new value takes
effect on the next run); a file over one is rejected whole with a reason code that names
the limit, before the warehouse sees any of it:

| setting | default | reason code |
|---|---|---|
| `LAPOR_MAX_FILE_MB` | 512 | `file_too_large` (the file is not copied into the landing zone) |
| `LAPOR_MAX_COLUMNS` | 500 | `too_many_columns` (the header, or any row, has more cells) |
| `LAPOR_MAX_CELL_CHARS` | 131072 | `cell_too_large` (one cell has more characters) |
| `LAPOR_MAX_UNCOMPRESSED_MB` | 512 | `uncompressed_too_large` (an XLSX unpacks to more) |

Control characters (C0 except tab, CR and LF, and DEL) are not text: a row holding one is
rejected (`control_character`), and a header holding one rejects the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# NUL and the other C0 control characters but tab, LF and CR; and DEL.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SHOWN_CHARS = 80  # a cell or header quoted in a reason is cut to this many characters


@dataclass(frozen=True)
class Limits:
    max_file_mb: int = 512
    max_columns: int = 500
    max_cell_chars: int = 131072
    max_uncompressed_mb: int = 512

    @classmethod
    def from_env(cls) -> "Limits":
        """The limits in the environment (defaults and minima: lapor.settings.FILE_LIMITS, where
        Settings.from_env checks them at start too)."""
        from lapor.settings import file_limits

        values = file_limits()
        return cls(
            max_file_mb=values["LAPOR_MAX_FILE_MB"],
            max_columns=values["LAPOR_MAX_COLUMNS"],
            max_cell_chars=values["LAPOR_MAX_CELL_CHARS"],
            max_uncompressed_mb=values["LAPOR_MAX_UNCOMPRESSED_MB"],
        )

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb << 20

    @property
    def max_uncompressed_bytes(self) -> int:
        return self.max_uncompressed_mb << 20


def control_name(text: str) -> str:
    """`U+0000`: the first control character in `text`, for a reason sentence."""
    found = CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else ""


def visible(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` safe to quote in a reason: control characters (line breaks too) shown as
    U+FFFD, and at most `limit` characters (an ellipsis says more was cut)."""
    text = CONTROL.sub("\ufffd", text).replace("\r", "\ufffd").replace("\n", "\ufffd")
    return text if len(text) <= limit else text[:limit - 1] + "…"
