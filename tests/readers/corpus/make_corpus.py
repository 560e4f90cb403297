"""Writes the corpus files that are binary or byte-exact (XLSX, BOM, cp1252, empty, garbage).

The other corpus files are plain text and edited by hand. Re-run after changing this
script: `.venv/bin/python tests/readers/corpus/make_corpus.py`.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
FIXED = datetime(2021, 5, 27, 0, 0, 0)


def _save(workbook: openpyxl.Workbook, name: str) -> None:
    workbook.properties.creator = "make_corpus.py"
    workbook.properties.created = FIXED
    workbook.properties.modified = FIXED
    workbook.save(HERE / name)


def title_rows() -> None:
    """Three title rows, header on row 4, real date cells and text dates, a blank row."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Rekap"
    ws["A1"] = "Rekap Laporan SP4N-LAPOR!"
    ws["A2"] = "Kabupaten Blitar"
    ws["A3"] = "Periode s.d. 27 Mei 2021"
    ws.append(["ID Laporan", "Status", "Tanggal Laporan", "Tanggal Disposisi", "Tanggal Selesai", "Judul", "Keterangan"])
    ws.append(["13001", "Selesai", datetime(2021, 5, 20, 9, 15), date(2021, 5, 21), "25/05/2021 14:00", "Jalan", None])
    ws["D5"].number_format = "DD/MM/YYYY"
    ws.append([13002, "Proses", "21 Mei 2021 08:00", None, None, "Banjir", "catatan"])
    ws.append([])  # row 7: blank, skipped
    ws["A7"] = None
    ws.append(["13003", "Menunggu", datetime(2021, 5, 22, 8, 0), None, None, None, None])
    ws.append(["13004", "Selesai", datetime(2021, 5, 28, 1, 0), None, None, None, None])
    wb.create_sheet("Lainnya")["A1"] = "only the first sheet is read"
    _save(wb, "title_rows.xlsx")


def numeric_ids() -> None:
    """Tracking ids, codes and phone numbers as numeric cells; boolean and 1/0 cells."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Tracking ID", "Status", "Tanggal Laporan", "Kode Instansi", "No HP", "Rahasia", "Anonim", "Berkadar Pengawasan"])
    ws.append([3007395, "Selesai", date(2021, 5, 26), 35.05, 81234567890, True, False, 1])
    ws["C2"].number_format = "DD/MM/YYYY"
    ws.append([3007396.0, "Selesai", "2021-05-26", "35.05", "081234567890", "Ya", 0, None])
    ws.append([None, "Selesai", "2021-05-26", 35.05, None, None, None, None])
    _save(wb, "numeric_ids.xlsx")


def xlsx_file_rejects() -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["Laporan"])
    wb.active.append(["Nama", "Alamat"])
    wb.active.append(["Budi", "Blitar"])
    _save(wb, "no_header.xlsx")

    wb = openpyxl.Workbook()
    wb.active.append(["Rekap"])
    wb.active.append([])
    wb.active.append(["ID Laporan", "Status", "Judul"])
    wb.active.append(["1", "Selesai", "Jalan"])
    _save(wb, "missing_column.xlsx")

    wb = openpyxl.Workbook()
    for n in range(6):
        wb.active.append([f"Judul {n + 1}"])
    wb.active.append(["ID Laporan", "Status", "Tanggal Laporan"])  # row 7: too far down
    wb.active.append(["1", "Selesai", "2021-05-01"])
    _save(wb, "too_many_title_rows.xlsx")

    wb = openpyxl.Workbook()
    _save(wb, "empty_sheet.xlsx")

    (HERE / "garbage.xlsx").write_bytes(bytes(range(256)) * 4)


def text_files() -> None:
    (HERE / "utf8_bom.csv").write_bytes(
        "\ufeffID Laporan,Status,Tanggal Laporan,Nama Pelapor\n21001,Selesai,2021-05-01,Siti Aminah\n".encode("utf-8")
    )
    (HERE / "cp1252_crlf.csv").write_bytes(
        "ID Laporan,Status,Tanggal Laporan,Nama Pelapor,Judul\r\n"
        "20001,Selesai,2021-05-01,René Café,Jalan – rusak\r\n"
        "20002,Proses,02/05/2021,Zoë,\"Dua\r\nbaris\"\r\n"
        "20003,Proses,03/05/2021,André,Tiga\r\n".encode("cp1252")
    )
    (HERE / "empty.csv").write_bytes(b"")


if __name__ == "__main__":
    title_rows()
    numeric_ids()
    xlsx_file_rejects()
    text_files()
