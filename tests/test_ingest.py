"""Landing and loading: what an agency sends is kept byte for byte, loaded whole or not at all,
and a bad file or row gets a precise recorded reason without stopping anyone else."""
from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import psycopg
import pytest

DAY = date(2021, 5, 24)
HEADER = "ID Laporan,Status,Tanggal Laporan,Tanggal Disposisi,Tanggal Tindak Lanjut,Tanggal Selesai\n"




def write(folder: Path, relpath: str, content: str | bytes) -> Path:
    path = folder / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def one(url: str, sql: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_file_is_landed_byte_identical_and_loaded(scratch):
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    body = HEADER + "3000001,Selesai,03/05/2021 08:00,04/05/2021,05/05/2021,10/05/2021\n" \
                    "3000002,Proses,20/05/2021 09:15,21/05/2021,,\n"
    sent = write(exports, "35.05/complaints/2021-05-24.csv", body)
    result = ingest_agency(DAY, "35.05", exports, settings=settings)
    assert result["complaints_export"] == "loaded"
    sha = hashlib.sha256(sent.read_bytes()).hexdigest()
    (landed_path,) = one(url, "select landed_path from raw.landed_files where sha256 = %s", sha)[0]
    assert (settings.landing_dir / landed_path).read_bytes() == sent.read_bytes()
    rows = one(url, "select tracking_id, status from raw.complaints order by 1")
    assert rows == [("3000001", "completed"), ("3000002", "in_progress")]


def test_same_file_twice_changes_nothing(scratch):
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    write(exports, "35.05/complaints/2021-05-24.csv", HEADER + "3000001,Selesai,03/05/2021,04/05/2021,,10/05/2021\n")
    ingest_agency(DAY, "35.05", exports, settings=settings)
    before = one(url, "select c::text from raw.complaints c order by 1")
    again = ingest_agency(DAY, "35.05", exports, settings=settings)
    assert again["complaints_export"] == "unchanged"
    assert one(url, "select c::text from raw.complaints c order by 1") == before


def test_corrected_file_replaces_the_days_batch(scratch):
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    path = write(exports, "35.05/complaints/2021-05-24.csv",
                 HEADER + "3000001,Proses,03/05/2021,04/05/2021,,\n3000002,Proses,03/05/2021,,,\n")
    ingest_agency(DAY, "35.05", exports, settings=settings)
    path.write_text(HEADER + "3000001,Selesai,03/05/2021,04/05/2021,05/05/2021,20/05/2021\n")
    ingest_agency(DAY, "35.05", exports, settings=settings)
    assert one(url, "select tracking_id, status from raw.complaints") == [("3000001", "completed")]
    assert one(url, "select count(*) from raw.landed_files")[0][0] == 2  # both versions kept


def test_unreadable_file_is_rejected_whole_and_other_agencies_load(scratch):
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    write(exports, "35.05/complaints/2021-05-24.xlsx", b"this is not a spreadsheet")
    write(exports, "35.72/complaints/2021-05-24.csv", HEADER + "3000009,Proses,03/05/2021,,,\n")
    bad = ingest_agency(DAY, "35.05", exports, settings=settings)
    good = ingest_agency(DAY, "35.72", exports, settings=settings)
    assert bad["complaints_export"] == "rejected" and good["complaints_export"] == "loaded"
    assert one(url, "select agency_code, file, reason_code from quality.rejected_files") == [
        ("35.05", "35.05/complaints/2021-05-24.xlsx", "unreadable_file")]
    assert one(url, "select agency_code, count(*) from raw.complaints group by 1") == [("35.72", 1)]


def test_bad_rows_are_recorded_and_the_rest_loads(scratch):
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    write(exports, "35.05/complaints/2021-05-24.csv", HEADER
          + "3000001,Proses,03/05/2021,,,\n"                    # line 2: fine
          + ",Proses,03/05/2021,,,\n"                           # line 3: no tracking id
          + "3000003,Menunggu,03/05/2021,,,\n"                  # line 4: unknown status
          + "3000004,Proses,kemarin,,,\n"                       # line 5: unreadable submitted date
          + "3000005,Selesai,10/05/2021,,,01/05/2021\n"         # line 6: closed before submitted
          + "3000006,Proses,30/05/2021,,,\n"                    # line 7: after the export's day
          + "3000007,Proses,03/05/2021,,,\n"                    # line 8: duplicate, older activity
          + "3000007,Proses,03/05/2021,05/05/2021,,\n")         # line 9: duplicate, latest activity
    result = ingest_agency(DAY, "35.05", exports, settings=settings)
    assert result["complaints_export"] == "loaded"
    rejected = one(url, "select line, reason_code from quality.rejected_rows order by line")
    assert rejected == [(3, "missing_tracking_id"), (4, "unknown_status"), (5, "unreadable_date"),
                        (6, "closed_before_submitted"), (7, "date_after_export_day"), (8, "duplicate_tracking_id")]
    loaded = one(url, "select tracking_id, line from raw.complaints order by 1")
    assert loaded == [("3000001", 2), ("3000007", 9)]
    (reason,) = one(url, "select reason from quality.rejected_rows where line = 8")[0]
    assert "line 9" in reason


def test_followup_report_without_rows_counts_as_submitted(scratch):
    from lapor.pipeline import ingest_agency

    settings, url, exports = scratch
    write(exports, "35.05/followup/2021-04_2021-05-06.csv", "ID Laporan,Tanggal Tindak Lanjut\n")
    write(exports, "35.05/followup/2021-05_2021-06-03.csv", "ID Laporan,Tanggal Tindak Lanjut\n")  # after D
    ingest_agency(DAY, "35.05", exports, settings=settings)
    assert one(url, "select period, submitted_on, rows_loaded from raw.followup_reports") == [
        (date(2021, 4, 1), date(2021, 5, 6), 0)]


def test_sources_mix_per_agency_and_a_failing_api_is_retried_then_recorded(scratch, tmp_path, monkeypatch):
    """35.05 delivers through the HTTP export API, 35.72 through the drop folder."""
    import dataclasses

    from lapor.pipeline import ingest_agency
    from lapor.dev.export_server import ExportServer
    from lapor.sources.http import SourceError

    settings, url, exports = scratch
    write(exports, "35.05/complaints/2021-05-24.csv", HEADER + "3000001,Proses,03/05/2021,,,\n")
    write(exports, "35.72/complaints/2021-05-24.csv", HEADER + "3000002,Proses,03/05/2021,,,\n")
    monkeypatch.setenv("LAPOR_HTTP_TOKEN_35_05", "s3cret-token")
    with ExportServer(exports, token="s3cret-token") as server:
        registry = tmp_path / "registry.csv"
        registry.write_text(
            "agency_code,agency_name,agency_type,sk_number,sk_date,admin_email,source,source_url\n"
            f"35.05,Kabupaten Blitar,kabupaten,1/2020,2020-01-01,a@x.example,http,{server.url}\n"
            "35.72,Kota Blitar,kota,2/2020,2020-01-01,b@x.example,folder,\n")
        local = dataclasses.replace(settings, registry_path=registry, http_timeout=0.5, http_retries=2,
                                    http_backoff=0.01)
        server.faults = {"35.05": ["500", "timeout"]}  # two failures, then it answers
        assert ingest_agency(DAY, "35.05", None, settings=local)["complaints_export"] == "loaded"

        server.faults = {"35.05": "500"}  # down for good
        write(exports, "35.05/complaints/2021-05-25.csv", HEADER + "3000003,Proses,03/05/2021,,,\n")
        write(exports, "35.72/complaints/2021-05-25.csv", HEADER + "3000004,Proses,03/05/2021,,,\n")
        with pytest.raises(SourceError):
            ingest_agency(date(2021, 5, 25), "35.05", None, settings=local)
        assert ingest_agency(date(2021, 5, 25), "35.72", exports, settings=local)["complaints_export"] == "loaded"
    (error,) = one(url, "select error from quality.source_failures where agency_code = '35.05'")[0]
    assert "HTTP 500" in error and "s3cret-token" not in error
    assert one(url, "select agency_code, tracking_id from raw.complaints order by 2") == [
        ("35.05", "3000001"), ("35.72", "3000004")]
