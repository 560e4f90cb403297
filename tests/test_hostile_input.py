"""Hostile input, through a real night (`dag.test()` of `lapor_nightly`) next to healthy agencies.

Each case is one agency folder made the way a hostile or careless agency would make it.
For each, the test asserts what the coordinator sees: the reason recorded (a rejected file,
a rejected row or a warning, with its reason code), the agency flagged in
`quality.check_results` and named in the digest when its delivery could not be used, the
healthy agencies' marts complete, and nothing of a file that was not read anywhere in the
warehouse, the outbox or the report.

`CASES` is also the README's table "What happens to bad input" (a test reads both).
"""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import psycopg
import pytest

D = date(2021, 5, 27)
DS = D.isoformat()
HEADER = "ID Laporan,Status,Tanggal Laporan,Tanggal Disposisi,Tanggal Tindak Lanjut,Tanggal Selesai,Judul,Klasifikasi"
SECRET = "SECRET-MARKER-7f3a9c"  # the content of a file outside the drop folder: must appear nowhere
HTML = "<img src=x onerror=alert(2)>"


def good_rows(code: str, n: int = 3) -> str:
    base = int(code.replace(".", "")) * 1000
    return "".join(f"{base + i},Proses,2{i % 3}/05/2021 08:00,24/05/2021,,,Jalan rusak {i},Pengaduan\n"
                   for i in range(n))


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def xlsx(rows: list[list[str]], shared: list[str] | None = None) -> bytes:
    """A minimal workbook written by hand (the way a hostile tool could write one): inline
    strings, or shared strings given as `shared` and referenced by `s:<index>` cells."""
    def col(i: int) -> str:
        name = ""
        i += 1
        while i:
            i, r = divmod(i - 1, 26)
            name = chr(65 + r) + name
        return name

    def cell(ref: str, value: str) -> str:
        if value.startswith("s:"):
            return f'<c r="{ref}" t="s"><v>{value[2:]}</v></c>'
        text = value.replace("&", "&amp;").replace("<", "&lt;")
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    sheet = io.StringIO()
    sheet.write('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                'spreadsheetml/2006/main"><sheetData>')
    for r, row in enumerate(rows, start=1):
        sheet.write(f'<row r="{r}">' + "".join(cell(f"{col(c)}{r}", v) for c, v in enumerate(row)) + "</row>")
    sheet.write("</sheetData></worksheet>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                   '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                   'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                   + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                      'officedocument.spreadsheetml.sharedStrings+xml"/>' if shared is not None else "")
                   + "</Types>")
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships"><sheets><sheet name="Laporan" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                   + ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                      'relationships/sharedStrings" Target="sharedStrings.xml"/>' if shared is not None else "")
                   + "</Relationships>")
        z.writestr("xl/worksheets/sheet1.xml", sheet.getvalue())
        if shared is not None:
            strings = "".join(f"<si><t>{s}</t></si>" for s in shared)
            z.writestr("xl/sharedStrings.xml",
                       '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                       f'spreadsheetml/2006/main" count="{len(shared)}" uniqueCount="{len(shared)}">{strings}</sst>')
    return out.getvalue()


def header_cells() -> list[str]:
    return HEADER.split(",")


@dataclass(frozen=True)
class Case:
    code: str            # the agency whose folder holds it
    case: str            # the README's words for it
    reason_code: str     # in quality.rejected_files / rejected_rows / input_warnings
    recorded_in: str     # rejected_files | rejected_rows | input_warnings
    check: str | None    # the check that flags the agency, if the delivery could not be used
    make: Callable[[Path, Path], None]  # (agency folder, a folder outside the drop folder)


def _nul_csv(folder: Path, outside: Path) -> None:
    write(folder / f"complaints/{DS}.csv",
          HEADER + "\n" + good_rows("35.02") + "35029001,Proses,20/05/2021,,,,Isi\x00dengan NUL,Pengaduan\n")


def _wide_csv(folder: Path, outside: Path) -> None:
    extra = ",".join(f"Kolom {i}" for i in range(10_000))
    write(folder / f"complaints/{DS}.csv", HEADER + "," + extra + "\n"
          + "35039001,Proses,20/05/2021,,,,Judul,Pengaduan" + "," * 10_000 + "\n")


def _symlink_outside(folder: Path, outside: Path) -> None:
    secret = write(outside / "secret.csv", f"{SECRET},{SECRET}\n{SECRET}\n")
    (folder / "complaints").mkdir(parents=True)
    os.symlink(secret, folder / f"complaints/{DS}.csv")


def _symlink_directory(folder: Path, outside: Path) -> None:
    (folder / "complaints").mkdir(parents=True)
    os.symlink(outside, folder / f"complaints/{DS}.csv")


def _symlink_dotdot(folder: Path, outside: Path) -> None:
    """A relative link climbing out with `..` (the drop folder is two levels below `outside`)."""
    write(outside / "secret2.csv", f"ID Laporan\n{SECRET}\n")
    (folder / "followup").mkdir(parents=True)
    os.symlink(Path("..") / ".." / ".." / ".." / "outside" / "secret2.csv", folder / "followup/2021-04_2021-05-27.csv")
    assert (folder / "followup/2021-04_2021-05-27.csv").resolve() == (outside / "secret2.csv").resolve()


def _fifo(folder: Path, outside: Path) -> None:
    (folder / "complaints").mkdir(parents=True)
    os.mkfifo(folder / f"complaints/{DS}.csv")  # opened naively, a read would block the night


def _xlsx_bomb(folder: Path, outside: Path) -> None:
    row = ["35079001", "Proses", "2021-05-20", "", "", "", "A" * 20_000_000, "Pengaduan"]
    data = xlsx([header_cells(), row])
    assert len(data) < 300_000  # a few hundred KB that unpack to a 20 MB cell
    write(folder / f"complaints/{DS}.xlsx", data)


def _xlsx_wide(folder: Path, outside: Path) -> None:
    head = header_cells() + [f"Kolom {i}" for i in range(5_000)]
    write(folder / f"complaints/{DS}.xlsx", xlsx([head, ["35089001", "Proses", "2021-05-20", "", "", "", "J", "Pengaduan"]]))


def _xlsx_shared(folder: Path, outside: Path) -> None:
    """Shared strings that unpack past LAPOR_MAX_UNCOMPRESSED_MB (set to 4 for this night)."""
    shared = header_cells() + ["35129001", "Proses", "2021-05-20", "J", "Pengaduan"] + ["x" * 1000] * 6000
    rows = [[f"s:{i}" for i in range(8)], ["s:8", "s:9", "s:10", "", "", "", "s:11", "s:12"]]
    write(folder / f"complaints/{DS}.xlsx", xlsx(rows, shared))


def _json_nul(folder: Path, outside: Path) -> None:
    items = [{"ID Laporan": "35099001", "Status": "Proses", "Tanggal Laporan": "2021-05-20", "Judul": "a\u0000b"},
             {"ID Laporan": "35099002", "Status": "Proses", "Tanggal Laporan": "2021-05-20", "Judul": "baik"}]
    write(folder / f"complaints/{DS}.json", json.dumps(items))


def _json_huge(folder: Path, outside: Path) -> None:
    items = [{"ID Laporan": "35109001", "Status": "Proses", "Tanggal Laporan": "2021-05-20", "Isi": "z" * 300_000}]
    write(folder / f"complaints/{DS}.json", json.dumps(items))


def _header_only(folder: Path, outside: Path) -> None:
    write(folder / f"complaints/{DS}.csv", HEADER + "\n")


def _html_name(folder: Path, outside: Path) -> None:
    write(folder / f"complaints/{HTML}.csv", HEADER + "\n" + good_rows("35.13"))


def _newline_name(folder: Path, outside: Path) -> None:
    write(folder / f"complaints/{DS}.csv\n", HEADER + "\n" + good_rows("35.14"))


def _mixed_encoding(folder: Path, outside: Path) -> None:
    body = (HEADER + "\n35169001,Proses,20/05/2021,,,,Pelapor André,Pengaduan\n").encode("utf-8")
    write(folder / f"complaints/{DS}.csv", body + "35169002,Proses,20/05/2021,,,,Caf\xe9 rusak,Pengaduan\n".encode("cp1252"))


def _control_header(folder: Path, outside: Path) -> None:
    write(folder / f"complaints/{DS}.csv", HEADER + ",Catatan\x07\n" + "35179001,Proses,20/05/2021,,,,J,Pengaduan,x\n")


def _landing_broken(folder: Path, outside: Path) -> None:
    """The landing folder of this agency's day is a file (a full or broken disk would do the
    same): landing raises an error nobody foresaw."""
    write(folder / f"complaints/{DS}.csv", HEADER + "\n" + good_rows("35.18"))


def _loader_raises(folder: Path, outside: Path) -> None:
    """A healthy file; the loader itself raises for this agency (made to, in the fixture)."""
    write(folder / f"complaints/{DS}.csv", HEADER + "\n" + good_rows("35.22"))


def _end_marker_line(folder: Path, outside: Path) -> None:
    """A line that reads as the CSV reader's own end-of-file marker once was: every row after it
    was dropped without a word."""
    write(folder / f"complaints/{DS}.csv", HEADER + "\n" + good_rows("35.23", 2)
          + "\x00lapor:end-of-file\x00\n" + "35239101,Proses,21/05/2021 08:00,24/05/2021,,,Sesudah,Pengaduan\n")


def _edge_date(folder: Path, outside: Path) -> None:
    """Year 1 with a zone east of WIB: moved to WIB it falls before the calendar's first day."""
    write(folder / f"complaints/{DS}.csv", HEADER + "\n" + good_rows("35.24", 2)
          + "35249001,Proses,0001-01-01T00:00:00+08:00,,,,Tanggal tepi,Pengaduan\n")


def _followup_year_zero(folder: Path, outside: Path) -> None:
    write(folder / f"complaints/{DS}.csv", HEADER + "\n" + good_rows("35.25"))
    write(folder / "followup/0000-04_2021-05-27.csv", "ID Laporan,Tanggal Tindak Lanjut\n35250000,26/05/2021\n")


def _followup_month_after_submission(folder: Path, outside: Path) -> None:
    write(folder / f"complaints/{DS}.csv", HEADER + "\n" + good_rows("35.26"))
    write(folder / "followup/9999-12_2021-05-27.csv", "ID Laporan,Tanggal Tindak Lanjut\n35260000,26/05/2021\n")
    write(folder / "followup/2021-04_1900-01-01.csv", "ID Laporan,Tanggal Tindak Lanjut\n35260000,26/05/2021\n")


def _long_name(folder: Path, outside: Path) -> None:
    """The export day and a 240-letter extension: a name the drop folder holds, but the landing
    zone's `<sha256>-<name>` would pass the file system's 255 bytes."""
    write(folder / f"complaints/{DS}.{'x' * 240}", HEADER + "\n" + good_rows("35.27"))


CASES = [
    Case("35.02", "NUL byte in a CSV cell", "control_character", "rejected_rows", None, _nul_csv),
    Case("35.03", "CSV with 10,000 columns", "too_many_columns", "rejected_files", "export_unreadable", _wide_csv),
    Case("35.04", "complaints export is a symlink to a file outside the drop folder", "symlink",
         "rejected_files", "export_unreadable", _symlink_outside),
    Case("35.06", "complaints export is a symlink to a directory", "symlink", "rejected_files",
         "export_unreadable", _symlink_directory),
    Case("35.07", "XLSX zip bomb (a few hundred KB unpacking to a 20 MB cell)", "cell_too_large",
         "rejected_files", "export_unreadable", _xlsx_bomb),
    Case("35.08", "XLSX with 5,000 columns", "too_many_columns", "rejected_files", "export_unreadable", _xlsx_wide),
    Case("35.23", "a line that reads like the CSV reader's end-of-file marker (with NULs)", "control_character",
         "rejected_rows", None, _end_marker_line),
    Case("35.24", "a date of year 1 with a zone east of WIB", "unreadable_date", "rejected_rows", None, _edge_date),
    Case("35.25", "follow-up report named for year 0000", "misnamed_file", "input_warnings", None,
         _followup_year_zero),
    Case("35.26", "follow-up report on a month that begins after its submission day", "misnamed_file",
         "input_warnings", None, _followup_month_after_submission),
    Case("35.27", "a file name of 251 characters (a 240-letter extension)", "unreadable_file", "rejected_files",
         "export_unreadable", _long_name),
    Case("35.09", "NUL in a JSON value", "control_character", "rejected_rows", None, _json_nul),
    Case("35.10", "huge JSON string (300,000 characters)", "cell_too_large", "rejected_files",
         "export_unreadable", _json_huge),
    Case("35.11", "header-only file", "", "", None, _header_only),
    Case("35.12", "XLSX whose shared strings unpack past the limit", "uncompressed_too_large", "rejected_files",
         "export_unreadable", _xlsx_shared),
    Case("35.13", "HTML in a file name", "misnamed_file", "input_warnings", "export_missing", _html_name),
    Case("35.14", "newline at the end of a file name", "misnamed_file", "input_warnings", "export_missing",
         _newline_name),
    Case("35.15", "a FIFO where the export should be", "not_a_regular_file", "rejected_files",
         "export_unreadable", _fifo),
    Case("35.16", "UTF-8 file with one cp1252 byte", "mixed_encoding", "input_warnings", None, _mixed_encoding),
    Case("35.17", "control character in a header name", "control_character", "rejected_files",
         "export_unreadable", _control_header),
    Case("35.19", "follow-up report is a relative symlink with `..` out of the drop folder", "symlink",
         "rejected_files", "followup_unreadable", _symlink_dotdot),
    Case("35.18", "landing or loading raises an unexpected error", "load_failed", "rejected_files",
         "export_unreadable", _landing_broken),
    Case("35.22", "the loader raises an exception nobody foresaw", "load_failed", "rejected_files",
         "export_unreadable", _loader_raises),
]
# Not agencies' folders: what sits at the top of the drop folder.
TOP_LEVEL = {"99.99": "unregistered_folder", "35.05 ": "unregistered_folder"}
HEALTHY = ["35.01", "35.05", "35.20"]
RAISING = "35.21"  # its ingestion raises before any file (the task fails): ingest_failed
RAISING_CASE = "the agency's ingestion raises before any file is recorded (its task fails)"


def _registry(path: Path) -> Path:
    from lapor.settings import DEFAULT_REGISTRY

    lines = DEFAULT_REGISTRY.read_text().splitlines()
    wanted = {c.code for c in CASES} | set(HEALTHY) | {RAISING}
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[0] in wanted]
    path.write_text("\n".join(kept) + "\n")
    return path


@pytest.fixture(scope="module")
def hostile_night(settings, warehouse, smtp_server, tmp_path_factory):
    """One real night over the hostile drop folder; yields what the coordinator can look at."""
    from conftest import _scratch_database
    from lapor import pipeline
    from lapor.runner import run_date

    smtp_url, mailbox = smtp_server
    root = tmp_path_factory.mktemp("hostile")
    root.chmod(0o755)
    mp = pytest.MonkeyPatch()
    with _scratch_database(settings, warehouse, root) as (local, url, _):
        drop = root / "drop" / "exports"
        outside = root / "outside"
        outside.mkdir()
        for case in CASES:
            case.make(drop / case.code, outside)
        for code in HEALTHY + [RAISING]:
            write(drop / code / f"complaints/{DS}.csv", HEADER + "\n" + good_rows(code))
        for name in TOP_LEVEL:
            write(drop / name / f"complaints/{DS}.csv", HEADER + "\n" + good_rows("35.05"))
        home = root / "home"
        broken = home / "landing" / "35.18" / "complaints" / DS
        write(broken, "not a folder")
        for key, value in {"LAPOR_HOME": str(home), "LAPOR_WAREHOUSE_URL": url, "LAPOR_SMTP_URL": smtp_url,
                           "LAPOR_REGISTRY": str(_registry(root / "registry.csv")),
                           "LAPOR_MAX_UNCOMPRESSED_MB": "4"}.items():
            mp.setenv(key, value)
        real_ingest = pipeline._ingest

        def ingest(settings_, url_, day, agency_code, exports_dir):
            if agency_code == RAISING:
                raise RuntimeError("simulated: the agency's ingestion broke before any file")
            return real_ingest(settings_, url_, day, agency_code, exports_dir)

        mp.setattr(pipeline, "_ingest", ingest)
        import lapor.load

        real_load = lapor.load.load_complaints

        def load_complaints(conn, landed, day):
            if landed.source.agency_code == "35.22":
                raise KeyError("simulated loader bug")
            return real_load(conn, landed, day)

        mp.setattr(lapor.load, "load_complaints", load_complaints)
        from lapor.settings import Settings

        live = Settings.from_env()
        mailbox.clear()
        log_file = root / "airflow.log"
        outcome = run_date(live, D, drop, log_file=log_file)
        yield {"settings": live, "url": url, "outcome": outcome, "messages": list(mailbox.messages),
               "home": home, "log": log_file, "drop": drop}
    mp.undo()


def _digest(night) -> tuple[str, str]:
    coordinator = [m for rcpts, m in night["messages"] if rcpts == [night["settings"].coordinator_email]]
    digests = [m for m in coordinator if m["Subject"].startswith("[LAPOR! Jatim] Pemantauan")]
    assert len(digests) == 1, [(m["Subject"], m["Message-ID"], m["Date"]) for m in coordinator]
    [message] = digests
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def test_the_night_runs_to_the_end_and_only_the_raising_agency_fails(hostile_night):
    outcome = hostile_night["outcome"]
    failed = [t for t in outcome.failed_tasks if not t.startswith("watcher")]
    assert len(failed) == 1 and failed[0].startswith("ingest_agency["), \
        (outcome, hostile_night["log"].read_text()[-5000:])


@pytest.mark.parametrize("case", CASES, ids=[c.code + " " + c.case for c in CASES])
def test_each_case_is_recorded_flagged_and_named(hostile_night, case):
    url = hostile_night["url"]
    with psycopg.connect(url) as conn:
        if case.recorded_in:
            table = f"quality.{case.recorded_in}"
            rows = conn.execute(f"select reason_code, reason from {table} where agency_code = %s", (case.code,)).fetchall()
            assert case.reason_code in {r[0] for r in rows}, rows
        else:
            rows = conn.execute("select status, rows_loaded from raw.complaint_batches where agency_code = %s",
                                (case.code,)).fetchall()
            assert rows == [("loaded", 0)]
        flagged = {r[0] for r in conn.execute(
            "select check_name from quality.check_results where run_date = %s and agency_code = %s and not passed",
            (D, case.code))}
        passed_all = conn.execute("select count(*) from quality.check_results where run_date = %s "
                                  "and agency_code = %s", (D, case.code)).fetchone()[0]
    assert passed_all >= 8
    if case.check:
        assert case.check in flagged, flagged
        text, html = _digest(hostile_night)
        name = _agency_name(url, case.code)
        assert name in text and case.code in text
    # no check of an agency whose delivery was refused passes as if nothing were wrong
    assert "ingest_failed" not in flagged


def _agency_name(url: str, code: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("select agency_name from ref.agencies where agency_code = %s", (code,)).fetchone()[0]


def test_rows_around_a_bad_row_load(hostile_night):
    with psycopg.connect(hostile_night["url"]) as conn:
        loaded = dict(conn.execute("select agency_code, count(*) from raw.complaints group by 1").fetchall())
        titles = [r[0] for r in conn.execute("select title from raw.complaints where agency_code = '35.16' "
                                             "order by tracking_id")]
        original = conn.execute("select original from quality.rejected_rows where agency_code = '35.02'").fetchone()[0]
    assert loaded["35.02"] == 3 and loaded["35.09"] == 1
    assert loaded["35.23"] == 3 and loaded["35.24"] == 2  # the row after the marker line too
    assert titles == ["Pelapor André", "Café rusak"]  # UTF-8 read as UTF-8, the stray byte as cp1252
    assert original["Judul"] == "Isi\ufffddengan NUL"


def test_an_agency_whose_ingestion_raised_is_flagged_and_named(hostile_night):
    url = hostile_night["url"]
    with psycopg.connect(url) as conn:
        rows = dict(conn.execute("select check_name, passed from quality.check_results where run_date = %s "
                                 "and agency_code = %s", (D, RAISING)).fetchall())
        status = conn.execute("select status, error from quality.ingest_runs where run_date = %s and agency_code = %s",
                              (D, RAISING)).fetchone()
    assert rows["ingest_failed"] is False
    assert status[0] == "failed" and "simulated" in status[1]
    text, _ = _digest(hostile_night)
    assert _agency_name(url, RAISING) in text


def test_the_healthy_agencies_marts_are_complete(hostile_night):
    with psycopg.connect(hostile_night["url"]) as conn:
        got = dict(conn.execute("select agency_code, count(*) from marts.fct_complaints group by 1").fetchall())
        flagged = conn.execute("select agency_code, check_name from quality.check_results where run_date = %s "
                               "and not passed and agency_code = any(%s) and check_name <> 'sk_missing'",
                               (D, HEALTHY)).fetchall()
    assert all(got.get(code) == 3 for code in HEALTHY), got
    assert flagged == []


def test_warnings_for_what_was_not_read(hostile_night):
    with psycopg.connect(hostile_night["url"]) as conn:
        warnings = conn.execute("select file, reason_code from quality.input_warnings where run_date = %s", (D,)).fetchall()
    files = {f: c for f, c in warnings}
    for name, code in TOP_LEVEL.items():
        assert files.get(name) == code, warnings
    assert files.get(f"35.13/complaints/{HTML}.csv") == "misnamed_file"
    assert files.get(f"35.14/complaints/{DS}.csv\\n") == "misnamed_file"  # the newline shown as an escape
    for name in ("35.25/followup/0000-04_2021-05-27.csv", "35.26/followup/9999-12_2021-05-27.csv",
                 "35.26/followup/2021-04_1900-01-01.csv"):
        assert files.get(name) == "misnamed_file", warnings
    text, html = _digest(hostile_night)
    assert "99.99" in text and HTML in text
    assert HTML not in html and "&lt;img src=x onerror=alert(2)&gt;" in html


def test_nothing_of_a_file_that_was_not_read_is_anywhere(hostile_night):
    url, home = hostile_night["url"], hostile_night["home"]
    with psycopg.connect(url) as conn:
        tables = conn.execute("select table_schema, table_name from information_schema.tables "
                              "where table_schema in ('raw', 'quality', 'marts', 'staging', 'intermediate') "
                              "and table_type = 'BASE TABLE'").fetchall()
        for schema, table in tables:
            hit = conn.execute(f'select count(*) from "{schema}"."{table}" t where t::text like %s',
                               (f"%{SECRET}%",)).fetchone()[0]
            assert hit == 0, f"{schema}.{table}"
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink() and "pgdata" not in path.parts:
            assert SECRET.encode() not in path.read_bytes(), path


def test_the_mails_and_report_escape_what_came_from_files(hostile_night):
    for _, message in hostile_night["messages"]:
        html = message.get_body(("html",)).get_content()
        assert "<img src=x" not in html and "\x00" not in html
    for page in (hostile_night["home"] / "reports").rglob("*.html"):
        assert "<img src=x" not in page.read_text(), page


def test_every_reason_code_of_the_suite_is_a_documented_code():
    from lapor.readers.model import FILE_REASON_CODES, ROW_REASON_CODES, WARNING_CODES

    for case in CASES:
        if case.recorded_in == "rejected_files":
            assert case.reason_code in FILE_REASON_CODES
        elif case.recorded_in == "rejected_rows":
            assert case.reason_code in ROW_REASON_CODES
        elif case.recorded_in == "input_warnings":
            assert case.reason_code in WARNING_CODES


def test_the_readme_table_matches_the_suite():
    """The README's "What happens to bad input" lists every case of this suite, with its code."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## What happens to bad input", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("|") and not re.match(r"^\|\s*-", line)][1:]
    documented = {(r[0], r[1].strip("`")) for r in rows}
    for case in CASES:
        assert (case.case, case.reason_code or "—") in documented, case.case
    for name, code in TOP_LEVEL.items():
        assert any(code == c for _, c in documented), code
    assert any(r[0] == RAISING_CASE and "ingest_failed" in r[3] for r in rows), RAISING_CASE
