"""Every file of the hand-made corpus (`tests/readers/corpus/`) through the whole ingest step.

Each case drops one corpus file into a fresh drop folder under the name the contract gives
it (docs/inputs.md), runs `ingest_agency` against a fresh database, and checks:
the rows loaded, the exact row rejection codes and counts (with their lines where the reader
tests pin them) or the single file rejection with its reason code and checksum, that the
landed copy is byte-identical to what was sent, and the outcome the ingest summary reports.

`CASES` must name every corpus file: a new corpus file fails `test_every_corpus_file_has_a_case`
until it is added here.
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg
import pytest

CORPUS = Path(__file__).parent / "readers" / "corpus"
NOT_CORPUS = {"make_corpus.py"}  # the script that writes the binary corpus files
AGENCY = "35.05"
EXPORT_DAY = date(2021, 5, 27)  # as in tests/readers/test_readers.py
SUBMITTED_ON = date(2021, 6, 4)  # a follow-up report for May 2021, submitted on 4 June
PERIOD = date(2021, 5, 1)


@dataclass(frozen=True)
class Case:
    name: str                                  # the corpus file
    kind: str                                  # complaints | followup | ignored (not a delivery)
    rows: int = 0                              # rows loaded
    rejects: dict[str, int] = field(default_factory=dict)   # {reason_code: count} in quality.rejected_rows
    reject_lines: tuple[tuple[int, str | None, str], ...] | None = None  # (line, tracking_id, code), if pinned
    loaded_lines: tuple[int, ...] | None = None              # lines of the loaded rows, if pinned
    file_reason: str | None = None             # reason_code of a file rejected whole

    @property
    def id(self) -> str:
        return self.name if self.kind != "followup" or self.name.startswith("followup") else f"{self.name}-as-followup"

    @property
    def day(self) -> date:
        return SUBMITTED_ON if self.kind == "followup" else EXPORT_DAY

    @property
    def relpath(self) -> str:
        suffix = Path(self.name).suffix
        if self.kind == "followup":
            return f"{AGENCY}/followup/{PERIOD:%Y-%m}_{SUBMITTED_ON.isoformat()}{suffix}"
        return f"{AGENCY}/complaints/{EXPORT_DAY.isoformat()}{suffix}"


def C(name: str, rows: int = 0, **kw) -> Case:
    return Case(name, "complaints", rows, **kw)


def F(name: str, rows: int = 0, **kw) -> Case:
    return Case(name, "followup", rows, **kw)


CASES: tuple[Case, ...] = (
    # --- complaint exports that load ---------------------------------------------------
    C("aliases.csv", 1, loaded_lines=(2,)),
    C("array.json", 2, rejects={"missing_tracking_id": 1}, reject_lines=((4, None, "missing_tracking_id"),),
      loaded_lines=(1, 2)),
    C("booleans.csv", 5, loaded_lines=(2, 3, 4, 5, 6)),
    C("cp1252_crlf.csv", 3, loaded_lines=(2, 3, 5)),
    C("data_object.json", 2, loaded_lines=(1, 2)),
    C("date_formats.csv", 14),
    C("duplicates.csv", 3, rejects={"duplicate_tracking_id": 3},
      reject_lines=((3, "14001", "duplicate_tracking_id"), (4, "14001", "duplicate_tracking_id"),
                    (7, "14003", "duplicate_tracking_id")),
      loaded_lines=(2, 5, 6)),
    C("empty_array.json", 0),
    C("extra_column.csv", 1, loaded_lines=(2,)),
    C("months.csv", 13),
    C("numeric_id.json", 2, loaded_lines=(1, 2)),
    C("numeric_ids.xlsx", 2, rejects={"missing_tracking_id": 1}, reject_lines=((4, None, "missing_tracking_id"),),
      loaded_lines=(2, 3)),
    C("quoted.csv", 4, loaded_lines=(2, 5, 7, 10)),
    C("row_rejects.csv", 2,
      rejects={"missing_tracking_id": 2, "unknown_status": 3, "unreadable_date": 3, "wrong_agency": 1,
               "date_after_export_day": 3, "closed_before_submitted": 1},
      reject_lines=(
          (2, None, "missing_tracking_id"),
          (3, "10002", "unknown_status"),
          (4, "10003", "unknown_status"),
          (5, "10004", "unreadable_date"),
          (6, "10005", "unreadable_date"),
          (7, "10006", "unreadable_date"),
          (8, "10007", "wrong_agency"),
          (9, "10008", "date_after_export_day"),
          (10, "10009", "date_after_export_day"),
          (11, "10010", "closed_before_submitted"),
          (14, None, "missing_tracking_id"),
          (15, "10014", "unknown_status"),
          (16, "10015", "date_after_export_day"),
      ),
      loaded_lines=(12, 13)),
    C("semicolon.csv", 2, loaded_lines=(2, 3)),
    C("statuses.csv", 17),
    C("title_rows.xlsx", 2, rejects={"unknown_status": 1, "date_after_export_day": 1},
      reject_lines=((8, "13003", "unknown_status"), (9, "13004", "date_after_export_day")),
      loaded_lines=(5, 6)),
    # the same tracking id on lines 6 and 7 with equal activity: the later line loads
    C("utf8.csv", 5, rejects={"duplicate_tracking_id": 1}, reject_lines=((6, "3007399", "duplicate_tracking_id"),),
      loaded_lines=(2, 3, 4, 5, 7)),
    C("utf8_bom.csv", 1, loaded_lines=(2,)),
    # --- complaint exports rejected whole ----------------------------------------------
    C("array_of_strings.json", file_reason="unreadable_file"),
    C("empty.csv", file_reason="no_header"),
    C("empty_sheet.xlsx", file_reason="no_header"),
    C("garbage.xlsx", file_reason="unreadable_file"),
    C("invalid.json", file_reason="unreadable_file"),
    C("missing_column.csv", file_reason="missing_required_column"),
    C("missing_column.json", file_reason="missing_required_column"),
    C("missing_column.xlsx", file_reason="missing_required_column"),
    C("no_header.csv", file_reason="no_header"),
    C("no_header.xlsx", file_reason="no_header"),
    C("not_array.json", file_reason="unreadable_file"),
    C("too_many_title_rows.xlsx", file_reason="no_header"),
    # row 1 reads, then a quote is never closed: nothing of the file may load
    C("unclosed_quote.csv", file_reason="unreadable_file"),
    # --- follow-up reports -------------------------------------------------------------
    F("followup.csv", 2,
      rejects={"missing_tracking_id": 1, "unreadable_date": 2, "date_after_export_day": 1},
      reject_lines=((4, None, "missing_tracking_id"), (5, "3007397", "unreadable_date"),
                    (6, "3007398", "unreadable_date"), (7, "3007399", "date_after_export_day")),
      loaded_lines=(2, 3)),
    F("followup_empty.csv", 0),
    F("empty_array.json", 0),
    F("followup_missing_date.csv", file_reason="missing_required_column"),
    # a complaints export is not a follow-up report
    F("utf8.csv", file_reason="missing_required_column"),
    # a format no reader knows is still landed, then rejected with a reason
    C("unsupported.txt", file_reason="unreadable_file"),
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _all(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _drop(case: Case, exports: Path) -> Path:
    target = exports / case.relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CORPUS / case.name, target)
    return target


def test_every_corpus_file_has_a_case() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in NOT_CORPUS}
    in_table = {case.name for case in CASES}
    assert on_disk - in_table == set(), "corpus files without a case in CASES"
    assert in_table - on_disk == set(), "cases naming files that are not in the corpus"
    assert len(on_disk) >= 30
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_corpus_file_ingested(case: Case, scratch) -> None:
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    sent = _drop(case, exports)
    sent_bytes = sent.read_bytes()
    sha = _sha256(sent)
    assert sent_bytes == (CORPUS / case.name).read_bytes()

    summary = ingest_agency(case.day, AGENCY, exports, settings=settings)
    assert summary["run_date"] == case.day.isoformat() and summary["agency_code"] == AGENCY

    if case.kind == "ignored":
        assert summary == {"run_date": case.day.isoformat(), "agency_code": AGENCY,
                           "complaints_export": "missing", "files": []}
        for table in ("raw.landed_files", "raw.complaints", "raw.complaint_batches", "raw.followup_reports",
                      "raw.followup_rows", "quality.rejected_files", "quality.rejected_rows"):
            assert _all(url, f"select count(*) from {table}") == [(0,)], table
        return

    # --- the summary -----------------------------------------------------------------
    outcome = "rejected" if case.file_reason else "loaded"
    (result,) = summary["files"]
    assert result["file"] == case.relpath and result["kind"] == case.kind
    assert result["outcome"] == outcome
    assert summary["complaints_export"] == (outcome if case.kind == "complaints" else "missing")
    if case.file_reason:
        assert result["reason_code"] == case.file_reason and result["reason"]
        assert (result["rows_loaded"], result["rows_rejected"]) == (0, 0)
    else:
        assert result["rows_loaded"] == case.rows
        assert result["rows_rejected"] == sum(case.rejects.values())
        assert result["reject_codes"] == case.rejects

    # --- landed byte for byte, with its checksum --------------------------------------
    landed = _all(url, "select agency_code, kind, file, sha256, size_bytes, file_day, period, landed_path, "
                       "first_run_date from raw.landed_files")
    assert len(landed) == 1
    agency_code, kind, file, landed_sha, size, file_day, period, landed_path, first_run = landed[0]
    assert (agency_code, kind, file, landed_sha, size, file_day, first_run) == (
        AGENCY, case.kind, case.relpath, sha, len(sent_bytes), case.day, case.day)
    assert period == (PERIOD if case.kind == "followup" else None)
    copy = settings.landing_dir / landed_path
    assert copy.read_bytes() == sent_bytes
    assert _sha256(copy) == sha
    assert sent.read_bytes() == sent_bytes  # the drop folder is left as it was

    # --- rows loaded -----------------------------------------------------------------
    if case.kind == "complaints":
        loaded = _all(url, "select agency_code, export_day, file, line from raw.complaints order by line")
    else:
        loaded = _all(url, "select agency_code, submitted_on, file, line from raw.followup_rows order by line")
        assert _all(url, "select count(*) from raw.complaints") == [(0,)]
    assert len(loaded) == case.rows
    assert all(row[:3] == (AGENCY, case.day, case.relpath) for row in loaded)
    if case.loaded_lines is not None:
        assert tuple(row[3] for row in loaded) == case.loaded_lines

    # --- rejections ------------------------------------------------------------------
    rejected_files = _all(url, "select run_date, agency_code, file, sha256, reason_code, reason, kind, file_day "
                               "from quality.rejected_files")
    rejected_rows = _all(url, "select run_date, agency_code, file, kind, file_day, line, tracking_id, reason_code, "
                              "reason, original from quality.rejected_rows order by line, reason_code")
    if case.file_reason:
        assert rejected_rows == []
        ((run_date, agency_code, file, rejected_sha, reason_code, reason, kind, file_day),) = rejected_files
        assert (run_date, agency_code, file, rejected_sha, reason_code, kind, file_day) == (
            case.day, AGENCY, case.relpath, sha, case.file_reason, case.kind, case.day)
        assert reason.endswith(".")
        if case.kind == "complaints":
            assert _all(url, "select file, sha256, status, rows_loaded, rows_rejected from raw.complaint_batches") == [
                (case.relpath, sha, "rejected", 0, 0)]
        return

    assert rejected_files == []
    codes: dict[str, int] = {}
    for row in rejected_rows:
        codes[row[7]] = codes.get(row[7], 0) + 1
    assert codes == case.rejects
    assert all(row[:5] == (case.day, AGENCY, case.relpath, case.kind, case.day) for row in rejected_rows)
    assert all(row[8] and row[8].endswith(".") and isinstance(row[9], dict) for row in rejected_rows)
    if case.reject_lines is not None:
        assert tuple((row[5], row[6], row[7]) for row in rejected_rows) == case.reject_lines

    if case.kind == "complaints":
        batches = _all(url, "select agency_code, export_day, file, sha256, status, rows_loaded, rows_rejected, "
                            "run_date from raw.complaint_batches")
        assert batches == [(AGENCY, case.day, case.relpath, sha, "loaded", case.rows, sum(case.rejects.values()),
                            case.day)]
    else:
        reports = _all(url, "select agency_code, period, submitted_on, file, sha256, status, rows_loaded, "
                            "rows_rejected, run_date from raw.followup_reports")
        assert reports == [(AGENCY, PERIOD, case.day, case.relpath, sha, "loaded", case.rows,
                            sum(case.rejects.values()), case.day)]


def test_duplicate_tracking_ids_keep_the_latest_activity(scratch) -> None:
    """`duplicates.csv`: 14001 three times (the latest activity is on its first line, 2),
    14003 twice (the later close is on line 6, not the last line); 14002 once."""
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    case = next(c for c in CASES if c.name == "duplicates.csv")
    _drop(case, exports)
    summary = ingest_agency(EXPORT_DAY, AGENCY, exports, settings=settings)
    assert summary["complaints_export"] == "loaded"
    assert summary["files"][0]["reject_codes"] == {"duplicate_tracking_id": 3}

    assert _all(url, "select tracking_id, line, title from raw.complaints order by tracking_id") == [
        ("14001", 2, "Aktivitas terakhir paling baru"),
        ("14002", 5, "Tunggal"),
        ("14003", 6, "Lebih baru"),
    ]
    rejected = _all(url, "select line, tracking_id, reason_code, reason, original->>'Judul' "
                         "from quality.rejected_rows order by line")
    assert [(line, tid, code) for line, tid, code, _, _ in rejected] == [
        (3, "14001", "duplicate_tracking_id"),
        (4, "14001", "duplicate_tracking_id"),
        (7, "14003", "duplicate_tracking_id"),
    ]
    reasons = {line: reason for line, _, _, reason, _ in rejected}
    assert reasons[3] == ("Tracking id 14001 appears more than once in this file; the row at line 2, "
                          "with the latest activity, was loaded instead.")
    assert "line 2" in reasons[4] and "line 6" in reasons[7]
    # the original row as read is kept with the reject
    assert [title for *_, title in rejected] == ["Lebih lama", "Ditutup tetapi lebih lama",
                                                 "Lebih lama di baris berikut"]
