"""The readers (`lapor.readers`) against the hand-made corpus in `corpus/`.

Binary and byte-exact corpus files are written by `corpus/make_corpus.py`. The readers decode
a complaints export into text rows; the loader types and checks them in SQL (the one place
the row rules live), so the complaint rows and rejects here are read back from the warehouse
after a load (`complaints()`), each loaded row with its cells as the readers decoded them
(`original`).
"""
from __future__ import annotations

import inspect
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from lapor.readers import FileRejected, Reject, TextRow, read_complaints, read_followups
from lapor.readers import sources
from lapor.readers.columns import COMPLAINTS, FOLLOWUPS, header_key
from lapor.readers.values import (
    UnreadableValue,
    clean_tracking_id,
    normalize_classification,
    normalize_status,
    parse_bool,
    parse_datetime,
)

CORPUS = Path(__file__).parent / "corpus"
AGENCY = "35.05"
EXPORT_DAY = date(2021, 5, 27)
SUBMITTED_ON = date(2021, 6, 4)
WIB = ZoneInfo("Asia/Jakarta")

COMPLAINT_KEYS = {
    "line", "tracking_id", "status", "status_text",
    "submitted_at", "dispositioned_at", "first_followup_at", "closed_at", "last_activity_at",
    "title", "content", "category", "channel", "reporter_name", "reporter_phone", "reporter_email",
    "classification", "is_confidential", "is_anonymous", "is_supervisory", "extra", "original",
}
FOLLOWUP_KEYS = {"line", "tracking_id", "followup_at", "action", "result_status", "officer", "extra", "original"}


def wib(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=WIB)


_LOADED = ("line", "tracking_id", "status", "status_text", "submitted_at", "dispositioned_at", "first_followup_at",
           "closed_at", "last_activity_at", "title", "content", "category", "channel", "reporter_name",
           "reporter_phone", "reporter_email", "classification", "is_confidential", "is_anonymous", "is_supervisory",
           "extra", "original")
_WAREHOUSE: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _warehouse(scratch_module):
    _WAREHOUSE["scratch"] = scratch_module
    yield
    _WAREHOUSE.clear()


def decoded(path: Path) -> dict[int, dict]:
    """{line: the record as the readers decoded it (header name -> text)}."""
    items = read_complaints(path)
    header = next(items, None)
    return {row.line: {**dict(zip(header.names, row.cells)), **(row.overflow or {})}
            for row in items if isinstance(row, TextRow)}


def complaints(name: str, *, agency_code: str = AGENCY, export_day: date = EXPORT_DAY,
               path: Path | None = None) -> list:
    """The file loaded into a fresh batch: its rows as raw.complaints holds them (each with
    `original`, the row as decoded) and its rejects, in line order."""
    from lapor.landing import land
    from lapor.load import load_complaints
    from lapor.sources.folder import SourceFile

    path = path or CORPUS / name
    as_read = decoded(path)  # a file rejected whole raises FileRejected here
    settings, url, _ = _WAREHOUSE["scratch"]
    relpath = f"{agency_code}/complaints/{export_day.isoformat()}{path.suffix}"
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("raw.complaints", "raw.complaint_batches", "raw.landed_files", "quality.rejected_rows",
                      "quality.rejected_files", "quality.input_warnings"):
            conn.execute(f"delete from {table}")
        source = SourceFile("complaints", agency_code, relpath, path, export_day, None)
        result = load_complaints(conn, land(source, settings.landing_dir), export_day)
        assert result.outcome == "loaded", result
        rows = conn.execute(f"select {', '.join(_LOADED)} from raw.complaints").fetchall()
        rejects = conn.execute("select line, tracking_id, reason_code, reason, original from quality.rejected_rows "
                               "order by line").fetchall()
    items: list = [Reject(*r) for r in rejects]
    for values in rows:
        row = dict(zip(_LOADED, values))
        for column in ("submitted_at", "dispositioned_at", "first_followup_at", "closed_at", "last_activity_at"):
            if row[column] is not None:
                row[column] = row[column].astimezone(WIB)
        row["extra"] = row["extra"] or {}
        if row["original"] is not None:  # kept where typing lost a cell: the row as decoded
            assert row["original"] == as_read[row["line"]]
        row["original"] = as_read[row["line"]]
        items.append(row)
    return sorted(items, key=lambda item: item.line if isinstance(item, Reject) else item["line"])


def followups(name: str, *, submitted_on: date = SUBMITTED_ON) -> list:
    return list(read_followups(CORPUS / name, agency_code=AGENCY, submitted_on=submitted_on))


def rows_of(items: list) -> list[dict]:
    return [item for item in items if isinstance(item, dict)]


def rejects_of(items: list) -> list[tuple[int, str | None, str]]:
    return [(r.line, r.tracking_id, r.reason_code) for r in items if isinstance(r, Reject)]


def complaint(**values: object) -> dict:
    """A complaint row with every optional field empty unless given."""
    row: dict = dict.fromkeys(COMPLAINT_KEYS)
    row["extra"] = {}
    row.update(values)
    return row


# --- the interface ------------------------------------------------------------------

def test_readers_are_generators() -> None:
    assert inspect.isgeneratorfunction(read_complaints)
    assert inspect.isgeneratorfunction(read_followups)
    error = FileRejected("no_header", "Nothing recognisable.")
    assert (error.reason_code, error.reason) == ("no_header", "Nothing recognisable.")


# --- CSV ----------------------------------------------------------------------------

def test_csv_utf8_every_field_and_one_duplicate_loaded() -> None:
    # the same id twice: the readers decode both records; the loader keeps the later activity
    assert [line for line, row in decoded(CORPUS / "utf8.csv").items() if row["ID Laporan"] == "3007399"] == [6, 7]
    items = complaints("utf8.csv")
    assert rejects_of(items) == [(6, "3007399", "duplicate_tracking_id")]
    rows = rows_of(items)
    assert all(set(row) == COMPLAINT_KEYS for row in rows)
    assert rows[0] == complaint(
        line=2, tracking_id="3007395", status="completed", status_text="Selesai",
        submitted_at=wib(2021, 5, 20, 9, 15),
        title="Jalan rusak di Kanigoro – mohon diperbaiki", category="Infrastruktur",
        classification="pengaduan", channel="Website",
        original={
            "ID Laporan": "3007395", "Status": "Selesai", "Tanggal Laporan": "2021-05-20 09:15",
            "Judul": "Jalan rusak di Kanigoro – mohon diperbaiki", "Kategori": "Infrastruktur",
            "Klasifikasi": "Pengaduan", "Kanal": "Website",
        },
    )
    # stripped text, empty -> None, classifications normalized
    assert rows[1]["title"] == "Lampu PJU mati"
    assert rows[1]["original"]["Judul"] == "  Lampu PJU mati  "
    assert rows[1]["channel"] is None
    assert [row["classification"] for row in rows] == [
        "pengaduan", "aspirasi", "permintaan_informasi", "permintaan_informasi", None,
    ]
    assert [row["status"] for row in rows] == [
        "completed", "unverified", "in_progress", "postponed", "completed",
    ]
    assert [(row["line"], row["tracking_id"]) for row in rows[-1:]] == [(7, "3007399")]
    assert items[4].reason == ("Tracking id 3007399 appears more than once in this file; the row at line 7, "
                               "with the latest activity, was loaded instead.")
    assert rows[0]["submitted_at"].tzinfo is not None


def test_csv_utf8_bom_is_stripped_from_the_first_header() -> None:
    items = complaints("utf8_bom.csv")
    assert items == [complaint(
        line=2, tracking_id="21001", status="completed", status_text="Selesai",
        submitted_at=wib(2021, 5, 1), reporter_name="Siti Aminah",
        original={"ID Laporan": "21001", "Status": "Selesai", "Tanggal Laporan": "2021-05-01",
                  "Nama Pelapor": "Siti Aminah"},
    )]


def test_csv_windows_1252_with_crlf_and_a_quoted_line_break() -> None:
    rows = rows_of(complaints("cp1252_crlf.csv"))
    assert [(r["line"], r["tracking_id"], r["reporter_name"]) for r in rows] == [
        (2, "20001", "René Café"), (3, "20002", "Zoë"), (5, "20003", "André"),
    ]
    assert rows[0]["title"] == "Jalan – rusak"  # 0x96 is an en dash in cp1252
    assert rows[1]["title"] == "Dua\r\nbaris"
    assert rows[1]["submitted_at"] == wib(2021, 5, 2)


def test_csv_semicolon_delimiter_with_commas_in_fields() -> None:
    rows = rows_of(complaints("semicolon.csv"))
    assert [(r["line"], r["tracking_id"], r["status"], r["submitted_at"], r["title"], r["content"]) for r in rows] == [
        (2, "4001", "completed", wib(2021, 5, 27), "Jalan rusak, berlubang", "Isi dengan koma, dan titik."),
        (3, "4002", "in_progress", wib(2021, 5, 26, 8, 30), "Banjir", None),
    ]


def test_csv_quoted_fields_keep_delimiters_and_line_breaks_and_lines_are_physical() -> None:
    items = complaints("quoted.csv")
    assert rejects_of(items) == []
    rows = rows_of(items)
    # blank line 6 and the empty record ",,,," on line 9 are skipped without a reject
    assert [r["line"] for r in rows] == [2, 5, 7, 10]
    assert rows[0]["title"] == "Jalan rusak, berlubang"
    assert rows[0]["content"] == "Baris satu\nbaris dua, dengan koma\nbaris tiga"
    assert rows[1]["title"] == 'Kata "kutip" di judul'
    assert rows[2]["content"] == "Satu;\ndua"
    assert [r["tracking_id"] for r in rows] == ["3001", "3002", "3003", "3004"]


def test_csv_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "no_final_newline.csv"
    path.write_bytes(b"ID Laporan,Status,Tanggal Laporan\r\n1,Selesai,2021-05-01\r\n2,Proses,2021-05-02")
    rows = complaints(path.name, path=path)
    assert [(r["line"], r["tracking_id"], r["status"]) for r in rows] == [(2, "1", "completed"), (3, "2", "in_progress")]


def test_csv_unclosed_quote_rejects_the_file_instead_of_swallowing_rows() -> None:
    rows = read_complaints(CORPUS / "unclosed_quote.csv")
    header = next(rows)
    assert next(rows).cells[header.index["tracking_id"]] == "1"
    with pytest.raises(FileRejected) as caught:
        next(rows)
    assert caught.value.reason_code == "unreadable_file"
    assert caught.value.reason == (
        "A quoted field in the record starting on line 3 is never closed, so the rest of the file cannot be read."
    )


def test_csv_a_header_too_wide_to_split_by_the_other_delimiter_is_too_many_columns(tmp_path: Path) -> None:
    """A header of 100,000 columns is one cell of 1.2 million characters when split by `;`:
    the reader tried that while choosing the delimiter and said `cell_too_large`."""
    path = tmp_path / "wide.csv"
    path.write_text("ID Laporan,Status," + ",".join(f"Kolom {i}" for i in range(100_000)) + "\n1,Baru\n")
    with pytest.raises(FileRejected) as caught:
        list(read_complaints(path))
    assert caught.value.reason_code == "too_many_columns", caught.value.reason


def test_csv_alias_headers_in_odd_case_and_punctuation() -> None:
    items = complaints("aliases.csv")
    assert len(items) == 1
    row = items[0]
    original = row.pop("original")
    assert row == {
        "line": 2, "tracking_id": "5001", "status": "completed", "status_text": "terdisposisi   SELESAI",
        "submitted_at": wib(2021, 5, 3, 8), "dispositioned_at": wib(2021, 5, 4, 9),
        "first_followup_at": wib(2021, 5, 6, 10), "closed_at": wib(2021, 5, 10, 11),
        "last_activity_at": wib(2021, 5, 11, 12),
        "title": "Judul", "content": "Isi", "category": "Kesehatan", "channel": "Twitter",
        "reporter_name": "Budi Santoso", "reporter_phone": "081234567890", "reporter_email": "budi@example.id",
        "classification": "pengaduan", "is_confidential": True, "is_anonymous": False, "is_supervisory": True,
        # a second header naming reporter_name: the first wins, this one is extra
        "extra": {"Pelapor": "Pelapor Kedua"},
    }
    assert original["TRACKING-ID"] == " 5001 "
    assert original["status_laporan"] == "  terdisposisi   SELESAI "
    assert list(original)[:3] == ["TRACKING-ID", "status_laporan", "Tgl. Laporan"]


def test_csv_unknown_columns_go_to_extra() -> None:
    [row] = complaints("extra_column.csv")
    assert row["status"] == "completed"  # the first status column wins
    assert row["extra"] == {
        "Catatan Internal": "cek ulang",
        "column_5": "x",  # a blank header
        "Status Laporan": "Proses",  # a second status column
        "column_7": "overflow",  # a cell beyond the header
    }
    assert row["original"] == {
        "ID Laporan": "6001", "Status": "Selesai", "Tanggal Laporan": "2021-05-05",
        "Catatan Internal": "cek ulang", "column_5": "x", "Status Laporan": "Proses", "column_7": "overflow",
    }


# --- XLSX ---------------------------------------------------------------------------

def _title_rows_expectations(items: list, disposition_text: str) -> None:
    assert rejects_of(items) == [(8, "13003", "unknown_status"), (9, "13004", "date_after_export_day")]
    rows = rows_of(items)
    assert [r["line"] for r in rows] == [5, 6]  # sheet rows; row 7 is blank and skipped
    first, second = rows
    assert first["tracking_id"] == "13001"
    assert first["submitted_at"] == wib(2021, 5, 20, 9, 15)  # a date-time cell
    assert first["dispositioned_at"] == wib(2021, 5, 21)  # a date cell
    assert first["closed_at"] == wib(2021, 5, 25, 14)  # a text date
    assert first["original"] == {
        "ID Laporan": "13001", "Status": "Selesai", "Tanggal Laporan": "2021-05-20T09:15:00",
        "Tanggal Disposisi": disposition_text, "Tanggal Selesai": "25/05/2021 14:00",
        "Judul": "Jalan", "Keterangan": "",
    }
    assert first["extra"] == {"Keterangan": ""}
    assert second["tracking_id"] == "13002"  # a numeric cell
    assert second["submitted_at"] == wib(2021, 5, 21, 8)  # "21 Mei 2021 08:00"
    assert second["dispositioned_at"] is None and second["closed_at"] is None
    reject = [r for r in items if isinstance(r, Reject)][1]
    assert reject.reason == (
        "Date '2021-05-28T01:00:00' in column 'Tanggal Laporan' is later than the export day 2021-05-27."
    )


def test_xlsx_header_after_title_rows_with_date_cells_and_text_dates() -> None:
    _title_rows_expectations(complaints("title_rows.xlsx"), "2021-05-21")


def test_xlsx_falls_back_to_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_calamine(path: Path):
        raise ImportError("python-calamine is not installed")
        yield  # pragma: no cover

    monkeypatch.setattr(sources, "_calamine_rows", no_calamine)
    # openpyxl gives a date cell as a datetime at midnight
    _title_rows_expectations(complaints("title_rows.xlsx"), "2021-05-21T00:00:00")


def test_xlsx_numeric_cells_for_ids_codes_phones_and_booleans() -> None:
    items = complaints("numeric_ids.xlsx")
    assert rejects_of(items) == [(4, None, "missing_tracking_id")]
    rows = rows_of(items)
    assert [(r["line"], r["tracking_id"], r["submitted_at"], r["reporter_phone"]) for r in rows] == [
        (2, "3007395", wib(2021, 5, 26), "81234567890"),
        (3, "3007396", wib(2021, 5, 26), "081234567890"),
    ]
    assert [(r["is_confidential"], r["is_anonymous"], r["is_supervisory"]) for r in rows] == [
        (True, False, True), (True, False, None),
    ]
    assert rows[0]["original"]["Tracking ID"] == "3007395"
    assert rows[0]["original"]["Kode Instansi"] == "35.05"  # numeric 35.05 is not a wrong agency
    assert rows[0]["original"]["Tanggal Laporan"] == "2021-05-26"


# --- JSON ---------------------------------------------------------------------------

def test_json_array_of_objects() -> None:
    items = complaints("array.json")
    # the empty object at position 3 is skipped; position 4 has an empty id
    assert rejects_of(items) == [(4, None, "missing_tracking_id")]
    first, second = rows_of(items)
    assert first == complaint(
        line=1, tracking_id="11001", status="completed", status_text="Selesai",
        submitted_at=wib(2021, 5, 20, 9, 15), title="Jalan", is_confidential=True, is_anonymous=False,
        extra={"Lampiran": '["a.jpg", "b.jpg"]'},
        original={
            "ID Laporan": "11001", "Status": "Selesai", "Tanggal Laporan": "2021-05-20 09:15", "Judul": "Jalan",
            "Rahasia": "true", "Anonim": "false", "Lampiran": '["a.jpg", "b.jpg"]', "Nama Pelapor": None,
        },
    )
    assert (second["line"], second["tracking_id"], second["status"]) == (2, "11002", "in_progress")
    assert second["original"]["Judul"] is None and second["reporter_name"] is None


def test_json_object_with_data_member_and_canonical_names() -> None:
    rows = complaints("data_object.json")
    assert [(r["line"], r["tracking_id"], r["status"], r["submitted_at"], r["closed_at"],
             r["classification"], r["is_anonymous"]) for r in rows] == [
        (1, "12001", "unverified", wib(2021, 5, 26, 10), None, "aspirasi", None),
        (2, "12002", "completed", wib(2021, 5, 25), wib(2021, 5, 26), None, True),
    ]


def test_json_numeric_tracking_ids_read_as_digits() -> None:
    rows = complaints("numeric_id.json")
    assert [(r["tracking_id"], r["reporter_phone"], r["submitted_at"]) for r in rows] == [
        ("3007395", "81234567890", wib(2021, 5, 27)),
        ("3007396", None, wib(2021, 5, 27)),
    ]
    assert rows[1]["original"]["Tracking ID"] == "3007396.0"
    assert rows[1]["original"]["Kode Instansi"] == "35.05"


def test_json_empty_array_is_an_empty_export() -> None:
    assert complaints("empty_array.json") == []
    assert followups("empty_array.json") == []


# --- values -------------------------------------------------------------------------

def test_each_date_format() -> None:
    rows = complaints("date_formats.csv")
    got = {r["tracking_id"]: r["submitted_at"] for r in rows}
    assert got == {
        "7001": wib(2021, 5, 27, 14, 5),  # ISO with zone
        "7002": wib(2021, 5, 27, 6, 30),  # ISO in UTC, converted to WIB
        "7003": wib(2021, 5, 27, 14, 5),  # ISO without zone = WIB
        "7004": wib(2021, 5, 27),  # date only = midnight WIB
        "7005": wib(2021, 5, 27),
        "7006": wib(2021, 5, 27, 14, 5),
        "7007": wib(2021, 5, 27, 14, 5, 9),
        "7008": wib(2021, 5, 27),
        "7009": wib(2021, 5, 27, 14, 5),
        "7010": wib(2020, 8, 5, 7, 5, 9),
        "7011": wib(2021, 5, 27, 14, 5),
        "7012": wib(2020, 8, 5),
        "7013": wib(2020, 8, 5),
        "7014": wib(2021, 2, 1),  # day first, always
    }
    assert all(str(r["submitted_at"].tzinfo) == "Asia/Jakarta" for r in rows)


def test_indonesian_month_names_full_and_abbreviated() -> None:
    rows = complaints("months.csv")
    assert [(r["submitted_at"], r["dispositioned_at"]) for r in rows] == [
        (wib(2021, 1, 1), wib(2021, 1, 1)),
        (wib(2021, 2, 2), wib(2021, 2, 2)),
        (wib(2021, 3, 3), wib(2021, 3, 3)),
        (wib(2021, 4, 4), wib(2021, 4, 4)),
        (wib(2021, 5, 5), wib(2021, 5, 5)),
        (wib(2020, 6, 6), wib(2020, 6, 6)),
        (wib(2020, 7, 7), wib(2020, 7, 7)),
        (wib(2020, 8, 8), wib(2020, 8, 8)),
        (wib(2020, 9, 9), wib(2020, 9, 9)),
        (wib(2020, 10, 10), wib(2020, 10, 10)),
        (wib(2020, 11, 11), wib(2020, 11, 11)),
        (wib(2020, 12, 12, 23, 59, 58), wib(2020, 12, 12, 23, 59)),
        (wib(2020, 12, 13), wib(2020, 10, 13)),  # English names work too
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-05-27T14:05:00+07:00", wib(2021, 5, 27, 14, 5)),
        ("2021-05-27T00:30:00+09:00", wib(2021, 5, 26, 22, 30)),
        ("2021-05-27 14:05", wib(2021, 5, 27, 14, 5)),
        ("2021-05-27", wib(2021, 5, 27)),
        ("27 Mei 2021 14:05", wib(2021, 5, 27, 14, 5)),
        ("5 Agu 2020", wib(2020, 8, 5)),
        ("  27/05/2021 14:05:09 ", wib(2021, 5, 27, 14, 5, 9)),
        ("", None),
        (None, None),
        (date(2021, 5, 27), wib(2021, 5, 27)),
        (datetime(2021, 5, 27, 14, 5), wib(2021, 5, 27, 14, 5)),
        (datetime(2021, 5, 27, 7, 5, tzinfo=timezone.utc), wib(2021, 5, 27, 14, 5)),
    ],
)
def test_parse_datetime(text: object, expected: datetime | None) -> None:
    value = parse_datetime(text)  # type: ignore[arg-type]
    assert value == expected
    if value is not None:
        assert value.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize("text", ["kemarin", "31/02/2021", "2021-13-01", "27 Foo 2021", "05/27/2021", "14:05"])
def test_unreadable_dates(text: str) -> None:
    with pytest.raises(UnreadableValue):
        parse_datetime(text)


def test_booleans() -> None:
    rows = complaints("booleans.csv")
    assert [(r["is_confidential"], r["is_anonymous"], r["is_supervisory"]) for r in rows] == [
        (True, False, True),  # Ya, Tidak, YA
        (True, False, False),  # y, t, n
        (True, False, True),  # 1, 0, TRUE
        (False, True, False),  # false, True, tidak
        (None, None, None),  # empty, "mungkin", a space
    ]
    assert rows[-1]["original"]["Anonim"] == "mungkin"


def test_value_helpers() -> None:
    assert [parse_bool(v) for v in ("Ya", "TIDAK", "y", "T", "N", "1", "0", "True", "false", "", None, "?")] == [
        True, False, True, False, False, True, False, True, False, None, None, None,
    ]
    assert clean_tracking_id(" 3007395.0 ") == "3007395"
    assert clean_tracking_id("LAPOR-3007395") == "LAPOR-3007395"
    assert clean_tracking_id("   ") is None
    assert normalize_status(" terdisposisi\tsedang   DIPROSES ") == "in_progress"
    assert normalize_status("Menunggu") is None
    assert normalize_classification(" Permintaan Informasi ") == "permintaan_informasi"
    assert normalize_classification("permintaan_informasi") == "permintaan_informasi"
    assert normalize_classification(" Lainnya ") == "lainnya"
    assert normalize_classification("  ") is None


def test_header_matching_tables() -> None:
    assert header_key(" Tgl. Laporan ") == header_key("tgl_laporan") == "tgllaporan"
    assert COMPLAINTS.canonical("STATUS") == "status"
    assert FOLLOWUPS.canonical("STATUS") == "result_status"
    assert COMPLAINTS.canonical("Tanggal Tindak Lanjut") == "first_followup_at"
    assert FOLLOWUPS.canonical("tanggal_tindak_lanjut") == "followup_at"
    assert COMPLAINTS.canonical("tracking_id") == "tracking_id"
    assert COMPLAINTS.canonical("Nomor Laporan") == "tracking_id"
    assert COMPLAINTS.canonical("Keterangan") is None


def test_every_status_text() -> None:
    rows = complaints("statuses.csv")
    assert [r["status"] for r in rows] == [
        "unverified",
        "awaiting_followup", "awaiting_followup",
        "in_progress", "in_progress", "in_progress", "in_progress",
        "completed", "completed",
        "postponed", "postponed", "postponed",
        "archived", "archived", "archived",
        "unverified",  # "  BELUM   terverifikasi "
        "archived",  # "laporan<TAB>ARSIP"
    ]
    assert rows[15]["status_text"] == "BELUM   terverifikasi"


# --- row rejects --------------------------------------------------------------------

def test_each_row_reason_code_in_order() -> None:
    items = complaints("row_rejects.csv")
    assert rejects_of(items) == [
        (2, None, "missing_tracking_id"),
        (3, "10002", "unknown_status"),
        (4, "10003", "unknown_status"),  # an empty status
        (5, "10004", "unreadable_date"),  # no submission date
        (6, "10005", "unreadable_date"),
        (7, "10006", "unreadable_date"),  # 31 February
        (8, "10007", "wrong_agency"),
        (9, "10008", "date_after_export_day"),  # submitted after the export day
        (10, "10009", "date_after_export_day"),  # closed after the export day
        (11, "10010", "closed_before_submitted"),
        (14, None, "missing_tracking_id"),  # every other check fails too: the first one wins
        (15, "10014", "unknown_status"),
        (16, "10015", "date_after_export_day"),  # before closed_before_submitted
    ]
    rows = rows_of(items)
    # an unreadable optional date leaves the field empty; the row loads
    assert [(r["line"], r["tracking_id"], r["dispositioned_at"], r["closed_at"]) for r in rows] == [
        (12, "10011", None, wib(2021, 5, 12)),
        (13, "10012", None, wib(2021, 5, 12)),
    ]
    assert rows[0]["original"]["Tanggal Disposisi"] == "bukan tanggal"

    reasons = {r.line: r.reason for r in items if isinstance(r, Reject)}
    assert reasons[2] == "The tracking id column 'ID Laporan' is empty."
    assert reasons[3] == "Status 'Menunggu' is not a known LAPOR! status."
    assert reasons[4] == "Status column 'Status' is empty; every complaint needs a LAPOR! status."
    assert reasons[5] == "Submission date column 'Tanggal Laporan' is empty; it is required."
    assert reasons[6] == "Submission date 'kemarin sore' in column 'Tanggal Laporan' is not a readable date."
    assert reasons[8] == (
        "Agency code '35.72' in column 'Kode Instansi' is not 35.05, the agency whose folder holds the file."
    )
    assert reasons[10] == (
        "Date '28/05/2021 08:00' in column 'Tanggal Selesai' is later than the export day 2021-05-27."
    )
    assert reasons[11] == (
        "Closing date '2021-05-09 09:00' in column 'Tanggal Selesai' is earlier than the submission date "
        "'2021-05-10 10:00' in column 'Tanggal Laporan'."
    )
    first = items[0]
    assert first.original == {
        "ID Laporan": "", "Status": "Selesai", "Tanggal Laporan": "2021-05-01", "Kode Instansi": "35.05",
        "Tanggal Disposisi": "", "Tanggal Selesai": "",
    }


def test_agency_and_export_day_come_from_the_arguments() -> None:
    items = complaints("row_rejects.csv", agency_code="35.72", export_day=date(2021, 5, 28))
    assert [r["line"] for r in rows_of(items)] == [8, 13]  # 35.72 is now right; line 13 has no code
    assert [(line, code) for line, _, code in rejects_of(items)][6:] == [
        (9, "wrong_agency"),  # 35.05 is now wrong (and 2021-05-28 is no longer after the export day)
        (10, "wrong_agency"),
        (11, "wrong_agency"),
        (12, "wrong_agency"),
        (14, "missing_tracking_id"),
        (15, "unknown_status"),
        (16, "wrong_agency"),
    ]


# --- file rejects -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "reason_code"),
    [
        ("empty.csv", "no_header"),
        ("no_header.csv", "no_header"),
        ("missing_column.csv", "missing_required_column"),
        ("garbage.xlsx", "unreadable_file"),
        ("empty_sheet.xlsx", "no_header"),
        ("no_header.xlsx", "no_header"),
        ("too_many_title_rows.xlsx", "no_header"),
        ("missing_column.xlsx", "missing_required_column"),
        ("invalid.json", "unreadable_file"),
        ("not_array.json", "unreadable_file"),
        ("array_of_strings.json", "unreadable_file"),
        ("missing_column.json", "missing_required_column"),
        ("unsupported.txt", "unreadable_file"),
        ("does_not_exist.csv", "unreadable_file"),
        ("does_not_exist.xlsx", "unreadable_file"),
        ("does_not_exist.json", "unreadable_file"),
    ],
)
def test_file_reason_codes_before_any_row(name: str, reason_code: str) -> None:
    rows = read_complaints(CORPUS / name)
    with pytest.raises(FileRejected) as caught:
        next(rows)
    assert caught.value.reason_code == reason_code
    assert caught.value.reason.endswith(".")


def test_file_reasons_name_the_columns() -> None:
    with pytest.raises(FileRejected) as caught:
        complaints("missing_column.csv")
    assert caught.value.reason == (
        "Required complaints column submitted_at (e.g. 'Tanggal Laporan') missing; "
        "headers found: 'ID Laporan', 'Status', 'Judul'."
    )
    with pytest.raises(FileRejected) as caught:
        complaints("no_header.csv")
    assert caught.value.reason == (
        "The header line names none of the required complaints columns (tracking_id (e.g. 'ID Laporan'), "
        "status (e.g. 'Status'), submitted_at (e.g. 'Tanggal Laporan')); "
        "headers found: 'nama', 'alamat', 'keterangan'."
    )
    with pytest.raises(FileRejected) as caught:
        complaints("garbage.xlsx")
    assert caught.value.reason.startswith("The file is not a readable XLSX workbook (")


# --- follow-up reports --------------------------------------------------------------

def test_followup_report() -> None:
    items = followups("followup.csv")
    assert rejects_of(items) == [
        (4, None, "missing_tracking_id"),
        (5, "3007397", "unreadable_date"),
        (6, "3007398", "unreadable_date"),
        (7, "3007399", "date_after_export_day"),
    ]
    rows = rows_of(items)
    assert all(set(row) == FOLLOWUP_KEYS for row in rows)
    assert rows[0] == {
        "line": 2, "tracking_id": "3007395", "followup_at": wib(2021, 5, 21, 10),
        "action": "Sudah ditinjau ke lokasi", "result_status": "Selesai", "officer": "Ani",
        "extra": {"Keterangan": "-"},
        "original": {
            "ID Laporan": "3007395", "Tanggal Tindak Lanjut": "21/05/2021 10:00",
            "Uraian Tindak Lanjut": "Sudah ditinjau ke lokasi", "Status": "Selesai",
            "Nama Petugas": "Ani", "Keterangan": "-",
        },
    }
    assert (rows[1]["followup_at"], rows[1]["action"], rows[1]["result_status"], rows[1]["officer"]) == (
        wib(2021, 6, 3), "Koordinasi; dinas PU", "Proses", None,
    )
    reject = items[-1]
    assert reject.reason == (
        "Follow-up date '2021-06-05 08:00' in column 'Tanggal Tindak Lanjut' is later than the day "
        "the report was submitted, 2021-06-04."
    )


def test_empty_followup_report_is_zero_rows() -> None:
    assert followups("followup_empty.csv") == []


def test_followup_and_complaint_tables_differ() -> None:
    with pytest.raises(FileRejected) as caught:
        followups("followup_missing_date.csv")
    assert caught.value.reason_code == "missing_required_column"
    # a complaints export is not a follow-up report: "Tanggal Tindak Lanjut" is absent there
    with pytest.raises(FileRejected) as caught:
        followups("utf8.csv")
    assert caught.value.reason_code == "missing_required_column"


# --- streaming ----------------------------------------------------------------------

def test_csv_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    body = "x" * 500
    with path.open("w", encoding="utf-8") as handle:
        handle.write("ID Laporan,Status,Tanggal Laporan,Isi Laporan\n")
        for n in range(8000):
            handle.write(f'{n + 1},Selesai,2021-05-01 10:{n % 60:02d},"{body}"\n')
    assert path.stat().st_size > 4_000_000
    tracemalloc.start()
    try:
        count = 0
        for item in read_complaints(path):
            count += isinstance(item, TextRow)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8000
    assert peak < 1_500_000
