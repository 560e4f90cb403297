"""The drop folder: `<exports>/<agency_code>/complaints/<D>.<ext>` and
`<exports>/<agency_code>/followup/<YYYY-MM>_<YYYY-MM-DD>.<ext>`.

The run for day D sees only what existed by D: the complaints export of D itself and the
follow-up reports submitted on or before D.

Only regular files at those paths are read. The folders are listed without following a
link (`lstat`): a symlink, a directory, a FIFO or a device where a file is expected is
handed on as a *refused* `SourceFile` (its `refused` says why), which the loader records
as rejected without ever opening it; a symlinked agency or kind folder is not entered.
Everything else that does not belong (a misnamed file, a folder that is not a registered
agency code) is a *warning* (`Warning_`), recorded in `quality.input_warnings`.
"""
from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

EXTENSIONS = (".csv", ".xlsx", ".json")
# Any extension is taken: a file in a format no reader knows is still landed, then rejected
# with a reason (`unreadable_file`), never silently ignored.
# Matched whole (`fullmatch`): `2021-05-28.csv\n` is not a name of this pattern.
COMPLAINTS_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.([A-Za-z0-9]+)")
FOLLOWUP_NAME = re.compile(r"(\d{4})-(\d{2})_(\d{4}-\d{2}-\d{2})\.([A-Za-z0-9]+)")
KINDS = ("complaints", "followup")


@dataclass(frozen=True)
class SourceFile:
    kind: str              # "complaints" or "followup"
    agency_code: str
    relpath: str           # relative to the drop folder, with "/" separators
    path: Path
    file_day: date         # export day, or the day a follow-up report was submitted
    period: date | None    # follow-up month (first day), None for complaints
    refused: tuple[str, str] | None = None  # (reason code, reason): not a regular file; never opened

    @property
    def extension(self) -> str:
        return self.path.suffix.lower()


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def followup_dates(name: str) -> tuple[date, date] | str:
    """(the month reported on, the day submitted) that a follow-up report's file name
    `<YYYY-MM>_<YYYY-MM-DD>.<ext>` gives, or why it gives none (a text to follow the name)."""
    match = FOLLOWUP_NAME.fullmatch(name)
    submitted = _parse_day(match[3]) if match else None
    period = _parse_day(f"{match[1]}-{match[2]}-01") if match else None
    if submitted is None or period is None:
        return ("is not named <YYYY-MM>_<YYYY-MM-DD>.<ext> (the month reported on and the day it was "
                "submitted, both real dates)")
    if period > submitted:  # a report on a month that had not begun when it was submitted
        return (f"reports on {period:%Y-%m}, a month that begins after the day it names as submitted "
                f"({submitted.isoformat()})")
    return period, submitted


@dataclass(frozen=True)
class Warning_:
    """Something in the drop folder that was not read and should be looked at."""

    reason_code: str       # misnamed_file | unregistered_folder | unexpected_entry
    path: str              # relative to the drop folder, control characters escaped
    reason: str
    agency_code: str | None = None


@dataclass
class AgencyScan:
    complaints: SourceFile | None
    followups: list[SourceFile]
    warnings: list[Warning_] = field(default_factory=list)


def shown_name(name: str) -> str:
    """A file name as it may be stored and shown: control characters (a newline in a name)
    written as escapes, so a name is one line of plain text."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in name)


def refusal(mode: int, relpath: str) -> tuple[str, str] | None:
    """Why an entry that is not a regular file is not read (from its lstat mode), or None."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return ("symlink", f"{relpath} is a symbolic link; only regular files in the drop folder are read, "
                           "and the link was not followed.")
    what = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "not a regular file")
    return ("not_a_regular_file", f"{relpath} is {what}; only regular files in the drop folder are read.")


def _inside(path: Path, exports_dir: Path) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(exports_dir)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _folder(path: Path, relpath: str, agency_code: str, warnings: list[Warning_]) -> bool:
    """Whether `path` is a real folder to list (a symlinked folder is not entered: warning)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        warnings.append(Warning_("unexpected_entry", relpath, f"{relpath} cannot be listed: {exc.strerror}.",
                                 agency_code))
        return False
    if stat.S_ISDIR(mode):
        return True
    refused = refusal(mode, relpath)
    warnings.append(Warning_("unexpected_entry", relpath,
                             (refused[1] if refused else f"{relpath} is not a folder.")
                             + " Nothing in it was read.", agency_code))
    return False


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def scan_agency(exports_dir: Path, agency_code: str, run_date: date) -> AgencyScan:
    """The complaints export for `run_date` (or None), the follow-up reports submitted by
    then, and what in the agency's folder was not read and should be looked at.

    When an agency left two complaints files for the same day (`D.csv` and `D.xlsx`), the
    most recently modified one is the delivery; the other stays in the folder untouched.
    A delivery that is not a regular file comes back refused (see the module's docstring).
    """
    base = exports_dir / agency_code
    warnings: list[Warning_] = []
    complaints: list[tuple[int, str, SourceFile]] = []
    followups: list[SourceFile] = []
    if not _folder(base, agency_code, agency_code, warnings):
        return AgencyScan(None, [], warnings)
    for entry in _entries(base):
        if entry.name not in KINDS:
            relpath = f"{agency_code}/{shown_name(entry.name)}"
            warnings.append(Warning_("unexpected_entry", relpath, f"{relpath} is not one of the folders "
                                     f"{' or '.join(KINDS)}; it was not read.", agency_code))

    folder = base / "complaints"
    if _folder(folder, f"{agency_code}/complaints", agency_code, warnings):
        for entry in _entries(folder):
            relpath = f"{agency_code}/complaints/{shown_name(entry.name)}"
            match = COMPLAINTS_NAME.fullmatch(entry.name)
            if not match or _parse_day(match[1]) is None:
                warnings.append(Warning_("misnamed_file", relpath, f"{relpath} is not named <YYYY-MM-DD>.<ext> "
                                         "(the export day); it was not read.", agency_code))
                continue
            if match[1] != run_date.isoformat():
                continue
            info = entry.stat(follow_symlinks=False)
            path = folder / entry.name
            refused = refusal(info.st_mode, relpath)
            if refused is None and not _inside(path, exports_dir):
                refused = ("outside_drop_folder", f"{relpath} resolves to a place outside the drop folder; "
                                                  "it was not read.")
            complaints.append((info.st_mtime_ns, entry.name,
                               SourceFile("complaints", agency_code, relpath, path, run_date, None, refused)))
    chosen = max(complaints, key=lambda c: (c[0], c[1]))[2] if complaints else None

    folder = base / "followup"
    if _folder(folder, f"{agency_code}/followup", agency_code, warnings):
        for entry in _entries(folder):
            relpath = f"{agency_code}/followup/{shown_name(entry.name)}"
            dates = followup_dates(entry.name)
            if isinstance(dates, str):
                warnings.append(Warning_("misnamed_file", relpath, f"{relpath} {dates}; it was not read.", agency_code))
                continue
            period, submitted = dates
            if submitted > run_date:
                continue
            path = folder / entry.name
            refused = refusal(entry.stat(follow_symlinks=False).st_mode, relpath)
            if refused is None and not _inside(path, exports_dir):
                refused = ("outside_drop_folder", f"{relpath} resolves to a place outside the drop folder; "
                                                  "it was not read.")
            followups.append(SourceFile("followup", agency_code, relpath, path, submitted, period, refused))
    for warning in warnings:
        log.warning("%s", warning.reason)
    return AgencyScan(chosen, followups, warnings)


def list_agency_files(exports_dir: Path, agency_code: str, run_date: date) -> tuple[SourceFile | None, list[SourceFile]]:
    """`scan_agency` without the warnings."""
    scan = scan_agency(exports_dir, agency_code, run_date)
    return scan.complaints, scan.followups


def scan_drop_folder(exports_dir: Path, agency_codes: list[str]) -> list[Warning_]:
    """What sits at the top of the drop folder and is no registered agency's folder (`99.99`,
    `35.05 ` with a space): a warning each, so a misnamed upload is found the same morning."""
    registered = set(agency_codes)
    warnings: list[Warning_] = []
    try:
        entries = _entries(exports_dir)
    except OSError as exc:
        return [Warning_("unexpected_entry", ".", f"The drop folder {exports_dir} cannot be listed: "
                         f"{exc.strerror}.")]
    for entry in entries:
        if entry.name in registered:
            continue
        name = shown_name(entry.name)
        warnings.append(Warning_("unregistered_folder", name,
                                 f"'{name}' in the drop folder is not the folder of a registered agency "
                                 "(its name must be an agency code such as 35.05); nothing in it was read."))
    return warnings
