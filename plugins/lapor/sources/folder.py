"""The drop folder: `<exports>/<agency_code>/complaints/<D>.<ext>` and
`<exports>/<agency_code>/followup/<YYYY-MM>_<YYYY-MM-DD>.<ext>`.

The run for day D sees only what existed by D: the complaints export of D itself and the
follow-up reports submitted on or before D.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

EXTENSIONS = (".csv", ".xlsx", ".json")
# Any extension is taken: a file in a format no reader knows is still landed, then rejected
# with a reason (`unreadable_file`), never silently ignored.
COMPLAINTS_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.([A-Za-z0-9]+)$")
FOLLOWUP_NAME = re.compile(r"^(\d{4})-(\d{2})_(\d{4}-\d{2}-\d{2})\.([A-Za-z0-9]+)$")


@dataclass(frozen=True)
class SourceFile:
    kind: str              # "complaints" or "followup"
    agency_code: str
    relpath: str           # relative to the drop folder, with "/" separators
    path: Path
    file_day: date         # export day, or the day a follow-up report was submitted
    period: date | None    # follow-up month (first day), None for complaints

    @property
    def extension(self) -> str:
        return self.path.suffix.lower()


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def list_agency_files(exports_dir: Path, agency_code: str, run_date: date) -> tuple[SourceFile | None, list[SourceFile]]:
    """The complaints export for `run_date` (or None) and the follow-up reports submitted by then.

    When an agency left two complaints files for the same day (`D.csv` and `D.xlsx`), the
    most recently modified one is the delivery; the other stays in the folder untouched.
    """
    base = exports_dir / agency_code
    complaints: list[SourceFile] = []
    for path in sorted((base / "complaints").glob(f"{run_date.isoformat()}.*")):
        match = COMPLAINTS_NAME.match(path.name)
        if match and path.is_file():
            complaints.append(SourceFile("complaints", agency_code, f"{agency_code}/complaints/{path.name}",
                                         path, run_date, None))
    chosen = max(complaints, key=lambda f: (f.path.stat().st_mtime_ns, f.path.name)) if complaints else None

    followups: list[SourceFile] = []
    folder = base / "followup"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = FOLLOWUP_NAME.match(path.name)
            if not match or not path.is_file():
                if path.is_file():
                    log.warning("%s: not named <YYYY-MM>_<YYYY-MM-DD>.<ext>; ignored", path)
                continue
            year, month, submitted = int(match[1]), int(match[2]), _parse_day(match[3])
            if submitted is None or not 1 <= month <= 12:
                log.warning("%s: the month or the submission day is not a real date; ignored", path)
                continue
            if submitted > run_date:
                continue
            followups.append(SourceFile("followup", agency_code, f"{agency_code}/followup/{path.name}",
                                        path, submitted, date(year, month, 1)))
    return chosen, followups
