"""The loader's two ways of getting a complaints CSV's text into SQL give the same warehouse.

`load_complaints` COPYs a well-formed UTF-8 CSV as it is (the fast path); any other file is
decoded by the Python readers and its text rows COPYed in. Either way the one set of SQL
statements types, checks and rejects the rows. Every file here is loaded both ways into the
same fresh database, and everything the load writes is compared: the rows of raw.complaints
(every column, `original` and `extra` included), the rejected rows with their lines, reasons
and original rows, the batch, the tracking ids recorded as retracted, and the result. A loaded
row keeps `original` only where typing lost a non-blank cell (an unreadable optional date or
boolean, a classification that does not read).
"""
from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import psycopg
import pytest

CORPUS = Path(__file__).parent / "readers" / "corpus"
AGENCY = "35.05"
DAY = date(2021, 5, 27)

HEADER = ("ID Laporan,Kode Instansi,Tanggal Laporan,Judul Laporan,Status Laporan,Tanggal Disposisi,"
          "Tanggal Tindak Lanjut Pertama,Tanggal Selesai,Tanggal Aktivitas Terakhir,Rahasia,Anonim,"
          "Berkadar Pengawasan,Klasifikasi,Keterangan,")

# Rows meant to hit every rule on the fast path: each reject code, odd dates read by the
# Python parser, stripped cells, numeric ids, line breaks in quoted cells, blank records.
TRICKY = [
    "5001,35.05,2021-05-01 08:00,Jalan rusak,Selesai,2021-05-02,2021-05-03 10:00:00,2021-05-04,2021-05-04,Y,T,1,Pengaduan,a,x",
    "5002.0,35.5,01/05/2021 08:00,\"Judul, dengan koma\",  terdisposisi   SELESAI ,2021-5-2,,2021-04-30 07:00,,ya,tidak,0,ASPIRASI,,",
    " 5003 , 35.05 ,27 Mei 2021 14:05,\"baris\npertama\r\nkedua\",Proses,bukan tanggal,,,, , ,mungkin,Permintaan Informasi,\" \",",
    ",35.05,2021-05-01,tanpa id,Proses,,,,,,,,,,",
    "5005,35.05,2021-05-01,status aneh,Entah,,,,,,,,,,",
    "5006,35.05,,tanpa tanggal,Proses,,,,,,,,,,",
    "5007,35.05,32/13/2021,tanggal rusak,Proses,,,,,,,,,,",
    "5008,35.07,2021-05-01,agensi lain,Proses,,,,,,,,,,",
    "5009,35.05,2021-05-01,masa depan,Proses,2021-05-28 00:00,,,,,,,,,",
    "5010,35.05,2021-05-10,tutup dulu,Selesai,,,2021-05-09 23:59:59,,,,,,,",
    "5011,35.05,2021-05-01,\"kutip \"\"dalam\"\" teks\",Proses,,,,,,,,,,",
    " , , , , , , , , , , , , , ,",
    "5012,35.05,2021-05-01T08:00:00+07:00,zona,Proses,2021-05-02T01:00:00Z,,,,,,,,,",
    "5001,35.05,2021-05-01 08:00,duplikat lama,Proses,2021-05-02,,,2021-05-02,,,,,,",
    "5013,35.05,2021-05-01,\"\",,,,,,,,,,,",
    "5014,35.05,2020-02-29 23:59,kabisat,Diarsipkan,2021-04-30 23:59:60,2021-05-02 10:00:00 ,,,,,,,,",
    "5016,35.05,0999-05-01 07:00,tahun 999,Proses,2021-05-02T10:00,2021-05-2  10:00:00,2021-05-24 1:00:00,,,,,,,",
    "5015,35.05,2021-05-01 24:00,jam 24,Proses,,,,,,,,,,",
    "5017,35.05,2021-05-01,rahasia entah,Proses,,,,,entah,,,,,",
    "5018,35.05,2021-05-01,kosong saja,Proses, ,,,,  ,,,\" \",,",
    # whitespace beyond ASCII at the cells' edges (no-break space, ideographic, em space, NEL)
    "5019\u00a0,35.05,2021-05-01,\u00a0judul\u3000,\u2003Proses,,,,,,,,,\tket\u2003,x\u0085",
]


def _tricky(path: Path, line_end: str = "\n") -> Path:
    path.write_text(HEADER + line_end + line_end.join(TRICKY) + line_end, encoding="utf-8", newline="")
    return path


def _generated(path: Path, rows: int, seed: int) -> Path:
    """Rows as the bench generator writes them (quoted multi-line complaint text), with duplicates."""
    rng = random.Random(seed)
    header = ("ID Laporan,Kode Instansi,Tanggal Laporan,Judul Laporan,Isi Laporan,Kategori,Klasifikasi,"
              "Berkadar Pengawasan,Sumber,Status Laporan,Tanggal Disposisi,Tanggal Tindak Lanjut Pertama,"
              "Tanggal Selesai,Tanggal Aktivitas Terakhir,Rahasia,Anonim,Nama Pelapor,No HP Pelapor,Email Pelapor")
    lines = [header]
    for i in range(rows):
        tid = 7000000 + (i if rng.random() > 0.02 else rng.randrange(max(i, 1)))
        day = 1 + rng.randrange(28)
        content = "Isi laporan" if rng.random() < 0.5 else "\"Isi, dengan koma\n\nHormat saya,\nwarga\""
        closed = f"2021-05-{min(day + 2, 27):02d} 09:{rng.randrange(60):02d}:00" if rng.random() < 0.5 else ""
        lines.append(f"{tid},35.05,2021-05-{day:02d} 08:{rng.randrange(60):02d}:00,Judul {i},{content},Lain,"
                     f"Pengaduan,N,Website,{'Selesai' if closed else 'Proses'},,,{closed},{closed},N,"
                     f"{rng.choice('YN')},Nama {i},0812{i:06d},n{i}@example.com")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8", newline="")
    return path


def _files(tmp: Path) -> list[Path]:
    corpus = sorted(p for p in CORPUS.glob("*.csv") if not p.name.startswith("followup"))
    tmp.mkdir(parents=True, exist_ok=True)
    crlf = _tricky(tmp / "tricky_crlf.csv", "\r\n")
    semicolon = tmp / "tricky_semicolon.csv"
    semicolon.write_text((HEADER + "\n" + "\n".join(TRICKY) + "\n").replace(",", ";"), encoding="utf-8")
    stray = tmp / "stray_quote.csv"
    stray.write_text(HEADER + "\n5020,35.05,2021-05-01,layar 5 inch\",Proses,,,,,,,,,,\n"
                     "5021,35.05,2021-05-01,\"x\",Proses,,,,,,,,,,\n", encoding="utf-8")
    invalid_day = tmp / "invalid_day.csv"  # plain-looking dates PostgreSQL refuses: read by the Python parser
    invalid_day.write_text(HEADER + "\n5030,35.05,2021-05-01,a,Proses,2021-02-29,,,,,,,,,\n"
                           "5031,35.05,2021-05-01,b,Proses,2021-04-31 10:00,,,,,,,,,\n", encoding="utf-8")
    return [*corpus, _tricky(tmp / "tricky.csv"), crlf, semicolon, stray, invalid_day,
            _generated(tmp / "generated.csv", 3000, 1), _generated(tmp / "generated2.csv", 500, 2)]


def _snapshot(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {
            "complaints": conn.execute("select * from raw.complaints order by line").fetchall(),
            "rejected_rows": conn.execute(
                "select run_date, agency_code, file, line, tracking_id, reason_code, reason, original, kind, "
                "file_day from quality.rejected_rows order by line, reason_code").fetchall(),
            "rejected_files": conn.execute(
                "select run_date, agency_code, file, sha256, reason_code, reason, kind, file_day "
                "from quality.rejected_files").fetchall(),
            "batches": conn.execute("select agency_code, export_day, file, sha256, status, rows_loaded, "
                                    "rows_rejected, run_date from raw.complaint_batches").fetchall(),
            # what the incremental dbt models are told was taken away (nothing, on a first load)
            "retracted": conn.execute("select tracking_id from raw.retracted_complaints order by 1").fetchall(),
        }


def _clear(url: str) -> None:
    with psycopg.connect(url) as conn:
        for table in ("raw.complaints", "raw.retracted_complaints", "raw.complaint_batches", "raw.landed_files",
                      "quality.rejected_rows", "quality.rejected_files"):
            conn.execute(f"delete from {table}")


def _load(settings, url: str, path: Path, fast: bool, monkeypatch) -> tuple[dict, dict, list[str]]:
    from lapor import load
    from lapor.landing import land
    from lapor.load import complaints
    from lapor.sources.folder import SourceFile

    taken: list[str] = []
    python_path = getattr(complaints._copy_decoded, "__wrapped__", complaints._copy_decoded)

    def spy(*args, **kwargs):
        taken.append("python")
        return python_path(*args, **kwargs)

    spy.__wrapped__ = python_path

    monkeypatch.setattr(complaints, "FAST_PATH", fast)
    monkeypatch.setattr(complaints, "_copy_decoded", spy)
    target = settings.exports_dir / AGENCY / "complaints" / f"{DAY.isoformat()}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(path.read_bytes())
    source = SourceFile("complaints", AGENCY, f"{AGENCY}/complaints/{DAY.isoformat()}.csv", target, DAY, None)
    _clear(url)
    with psycopg.connect(url, autocommit=True) as conn:
        result = load.load_complaints(conn, land(source, settings.landing_dir), DAY).as_dict()
    return result, _snapshot(url), taken


# the files the fast path must take (the others may go either way, as long as the result is the same)
FAST = {"utf8.csv", "utf8_bom.csv", "aliases.csv", "duplicates.csv", "row_rejects.csv", "statuses.csv",
        "tricky.csv", "invalid_day.csv", "tricky_crlf.csv", "tricky_semicolon.csv", "generated.csv", "generated2.csv"}


def test_fast_path_and_python_readers_load_the_same(scratch, tmp_path, monkeypatch) -> None:
    settings, url, _ = scratch
    fast_taken = []
    for path in _files(tmp_path / "files"):
        python_result, python_rows, python_taken = _load(settings, url, path, False, monkeypatch)
        fast_result, fast_rows, taken = _load(settings, url, path, True, monkeypatch)
        assert python_taken == ["python"]
        if not taken:
            fast_taken.append(path.name)
        assert fast_result == python_result, path.name
        for table, rows in python_rows.items():
            assert fast_rows[table] == rows, f"{path.name}: {table}"
    assert FAST <= set(fast_taken), sorted(FAST - set(fast_taken))
    assert "stray_quote.csv" not in fast_taken


def test_fast_path_keeps_the_previous_batch_when_the_file_turns_out_unreadable(scratch, tmp_path, monkeypatch):
    settings, url, _ = scratch
    broken = tmp_path / "broken.csv"
    broken.write_text(HEADER + "\n5001,35.05,2021-05-01,\"never closed,Proses,,,,,,,,,,\n", encoding="utf-8")
    result, rows, taken = _load(settings, url, broken, True, monkeypatch)
    assert taken == ["python"]
    assert result["outcome"] == "rejected" and result["reason_code"] == "unreadable_file"
    assert rows["complaints"] == [] and len(rows["rejected_files"]) == 1


def test_sql_strips_the_characters_python_strips() -> None:
    import sys

    from lapor.readers.canonical import PY_WHITESPACE

    assert PY_WHITESPACE == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


def test_a_loaded_row_keeps_original_only_where_typing_lost_a_cell(scratch, tmp_path, monkeypatch) -> None:
    settings, url, _ = scratch
    path = _tricky(tmp_path / "tricky.csv")
    for fast in (True, False):
        result, rows, taken = _load(settings, url, path, fast, monkeypatch)
        assert taken == ([] if fast else ["python"])
        with psycopg.connect(url) as conn:
            kept = dict(conn.execute("select tracking_id, original from raw.complaints").fetchall())
            rejected = conn.execute("select count(*) from quality.rejected_rows where original is null "
                                    "or original = '{}'::jsonb").fetchone()[0]
        # an unreadable optional date ('bukan tanggal') and boolean ('mungkin'): the row as read
        assert kept["5003"]["Tanggal Disposisi"] == "bukan tanggal", fast
        assert kept["5003"]["Berkadar Pengawasan"] == "mungkin"
        assert kept["5003"]["ID Laporan"] == " 5003 " and len(kept["5003"]) == len(HEADER.split(","))
        assert kept["5014"]["Tanggal Disposisi"] == "2021-04-30 23:59:60"  # second 60: unreadable
        assert kept["5017"]["Rahasia"] == "entah"  # a boolean alone
        # every cell typed (odd forms read, blank cells empty): no original
        for tracking_id in ("5001", "5011", "5012", "5018"):
            assert kept[tracking_id] is None, (fast, tracking_id)
        assert rejected == 0  # rejected rows always keep the row as read
        assert result["rows_rejected"] == len(rows["rejected_rows"]) > 0


def _expected_lines(data: bytes, delimiter: str = ",") -> list[int]:
    """The line each record starts on, as the Python CSV reader counts physical lines."""
    import csv
    import io

    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)
    next(reader)
    starts, previous = [], reader.line_num
    for _ in reader:
        starts.append(previous + 1)
        previous = reader.line_num
    return starts


def _fed_lines(data: bytes, chunk: int, records: int, delimiter: str = ",") -> list[int]:
    from lapor.readers.canonical import QuoteCheck

    check = QuoteCheck(delimiter)
    for start in range(0, len(data), chunk):
        check.feed(data[start:start + chunk])
    assert check.ok
    breaks = dict(check.breaks())
    assert sum(breaks.values()) == check.total_breaks
    lines, line = [], 2
    for record in range(1, records + 1):
        lines.append(line)
        line += 1 + breaks.get(record, 0)
    return lines


def test_quote_check_counts_the_line_breaks_in_cells_at_any_chunk_size(tmp_path) -> None:
    """The fast path takes each record's line from QuoteCheck: quoted fields that cross the
    chunks' boundaries (a CR LF split between two chunks, a doubled quote at one) count the same."""
    files = [_tricky(tmp_path / "lf.csv").read_bytes(), _tricky(tmp_path / "crlf.csv", "\r\n").read_bytes(),
             _generated(tmp_path / "gen.csv", 40, 3).read_bytes()]
    head = HEADER.encode() + b"\r\n"
    files.append(head + b'1,"a\r\r\n\nb",x\r\n2,"""\r\n""",y\r\n3,"c\rd"\r\n4,"\r\n"\r\n5,z,"\n\r"')
    files.append(head + b'1,"a\r""\nb",x\r\n2,y,"\r"\r\n3,"",""\r\n')
    files.append(head + b"1,a,b\r\n2,c,d\r\n")
    for data in files:
        expected = _expected_lines(data)
        for chunk in (1, 2, 3, 5, 7, 64, 1 << 20):
            assert _fed_lines(data, chunk, len(expected)) == expected, (data[:60], chunk)


def test_many_odd_texts_are_read_through_a_table_with_the_same_result(scratch, tmp_path, monkeypatch) -> None:
    """More distinct texts for the Python readings than a statement holds (dates in odd forms,
    tracking ids with a dot, statuses...): they are read in batches into a table, same warehouse."""
    from lapor.load import complaint_values

    settings, url, _ = scratch
    files = tmp_path / "files"
    files.mkdir()
    for path in (_tricky(files / "tricky.csv"), CORPUS / "row_rejects.csv", CORPUS / "date_formats.csv"):
        expected = _load(settings, url, path, True, monkeypatch)[:2]
        monkeypatch.setattr(complaint_values, "MAX_MAPPED", 2)
        monkeypatch.setattr(complaint_values, "_BATCH", 3)
        for fast in (True, False):
            assert _load(settings, url, path, fast, monkeypatch)[:2] == expected, (path.name, fast)
        monkeypatch.undo()
